//! OMH / IEEE 1752 payload bodies: one per code, from the stored numbers of an observation
//! and its patient's units and offset. In: an [`Obs`] and its patient; out: the body as a
//! [`J`] in the server's key order. The header and the payload around it are built on
//! top of this, in `omh`.

use super::catalog::Code;
use super::json::{J, int, obj, round1, round2, unit_value};
use super::obs::{Frame, Obs};
use super::time::{Offset, SECS_PER_DAY, push_date, push_local};
use super::world::{Patient, World, mix2};

/// One key of a body and its value.
type Entry = (&'static str, J);

/// `temporal_relationship_to_meal` for glucose readings; variant `i + 1` selects entry `i`.
pub(crate) const MEAL_RELATIONS: [&str; 7] = [
    "fasting",
    "before breakfast",
    "after breakfast",
    "before lunch",
    "after lunch",
    "before dinner",
    "after dinner",
];

/// Workouts (end + duration): (name, MET).
pub(crate) const WORKOUTS: [(&str, f32); 4] = [
    ("Running", 9.8),
    ("Cycling", 7.5),
    ("Walking", 3.5),
    ("Swimming", 8.0),
];

/// Self-reported activities (date + part of day).
pub(crate) const SELF_REPORTED_ACTIVITIES: [&str; 3] = ["Yoga", "Gardening", "Stretching"];

/// Food entries: (name, kcal per gram, carbohydrate per gram).
pub(crate) const FOODS: [(&str, f32, f32); 10] = [
    ("Oatmeal with berries", 0.9, 0.15),
    ("Scrambled eggs", 1.5, 0.01),
    ("Greek yogurt", 0.6, 0.04),
    ("Chicken salad", 1.2, 0.05),
    ("Turkey sandwich", 2.3, 0.25),
    ("Lentil soup", 0.9, 0.14),
    ("Salmon with rice", 1.6, 0.18),
    ("Vegetable stir fry", 0.8, 0.10),
    ("Pasta primavera", 1.5, 0.25),
    ("Apple", 0.5, 0.14),
];
pub(crate) const MEALS: [&str; 4] = ["breakfast", "lunch", "dinner", "snack"];

/// Environments of the unknown code's readings: (label, indoor, typical dB, tag).
pub(crate) const SOUND_ENVIRONMENTS: [(&str, bool, f32, &str); 4] = [
    ("home", true, 42.0, "quiet"),
    ("office", true, 55.0, "conversation"),
    ("street", false, 68.0, "traffic"),
    ("transit", false, 76.0, "engine"),
];

const PARTS_OF_DAY: [&str; 4] = ["night", "morning", "afternoon", "evening"];

pub(crate) fn local(t: i64, offset: Offset) -> J {
    let mut s = String::with_capacity(25);
    push_local(&mut s, t, offset);
    J::Str(s)
}

fn minutes(span: u32) -> J {
    unit_value("min", J::Int(span as i64 / 60))
}

fn time_frame(o: &Obs, offset: Offset) -> J {
    let interval = match o.frame {
        Frame::Instant => return J::Obj(vec![("date_time", local(o.start, offset))]),
        Frame::StartEnd => obj(vec![
            ("start_date_time", local(o.start, offset)),
            ("end_date_time", local(o.end(), offset)),
        ]),
        Frame::StartDuration => obj(vec![
            ("start_date_time", local(o.start, offset)),
            ("duration", minutes(o.span)),
        ]),
        Frame::EndDuration => obj(vec![
            ("end_date_time", local(o.end(), offset)),
            ("duration", minutes(o.span)),
        ]),
        Frame::PartOfDay => {
            let mut date = String::with_capacity(10);
            push_date(&mut date, o.start.div_euclid(SECS_PER_DAY));
            let part = PARTS_OF_DAY[(o.start.rem_euclid(SECS_PER_DAY) / 21_600) as usize];
            obj(vec![("date", J::Str(date)), ("part_of_day", J::S(part))])
        }
    };
    J::Obj(vec![("time_interval", interval)])
}

fn sec(x: f32) -> J {
    unit_value("sec", int(x))
}

fn percent(x: f32) -> J {
    unit_value("%", round1(x))
}

/// The payload body for one observation.
pub(crate) fn body(world: &World, id: i64, o: &Obs, p: &Patient) -> J {
    let etf = ("effective_time_frame", time_frame(o, world.offset_at(o.patient, o.start)));
    match o.code {
        Code::BloodGlucose => blood_glucose(o, p, etf),
        Code::BloodPressure => blood_pressure(o, etf),
        Code::HeartRate => heart_rate(o, etf),
        Code::BodyTemperature => body_temperature(o, p, etf),
        Code::OxygenSaturation => obj(vec![
            ("oxygen_saturation", percent(o.value)),
            ("system", J::S("peripheral capillary")),
            ("measurement_method", J::S("pulse oximetry")),
            etf,
            ("descriptive_statistic", J::S("average")),
        ]),
        Code::RespiratoryRate => obj(vec![
            (
                "respiratory_rate",
                unit_value("breaths/min", round1(o.value)),
            ),
            etf,
            ("descriptive_statistic", J::S("average")),
        ]),
        Code::RrInterval => obj(vec![
            ("rr_interval", unit_value("ms", int(o.value))),
            etf,
            ("descriptive_statistic", J::S("average")),
            (
                "temporal_relationship_to_physical_activity",
                J::S("at rest"),
            ),
        ]),
        Code::BodyWeight => {
            let unit = if p.units.weight_lb { "lb" } else { "kg" };
            obj(vec![
                ("body_weight", unit_value(unit, round1(o.value))),
                etf,
            ])
        }
        Code::ForcedVitalCapacity => spirometry("forced_vital_capacity", o, etf),
        Code::ForcedExpiratoryVolume1Second => {
            spirometry("forced_expiratory_volume_1_second", o, etf)
        }
        Code::PhysicalActivity => physical_activity(o, etf),
        Code::StepCount => obj(vec![
            (
                "step_count",
                unit_value("steps", J::Float(o.value.round() as f64)),
            ),
            etf,
            ("descriptive_statistic", J::S("sum")),
            ("descriptive_statistic_denominator", J::S("d")),
        ]),
        Code::SleepEpisode => sleep_episode(mix2(world.seed, id as u64), o, etf),
        Code::SleepDuration => obj(vec![("sleep_duration", sec(o.value)), etf]),
        Code::SleepStageSummary => sleep_stage_summary(world, o, etf),
        Code::FoodEntry => food_entry(o, etf),
        Code::AmbientSound => ambient_sound(o, etf),
    }
}

fn blood_glucose(o: &Obs, p: &Patient, etf: Entry) -> J {
    let reading = if p.units.glucose_mmol {
        unit_value("mmol/L", round1(o.value / 18.0))
    } else {
        unit_value("mg/dL", int(o.value))
    };
    let mut e = vec![("blood_glucose", reading), etf];
    if o.variant > 0 {
        e.push((
            "temporal_relationship_to_meal",
            J::S(MEAL_RELATIONS[o.variant as usize - 1]),
        ));
    }
    obj(e)
}

fn blood_pressure(o: &Obs, etf: Entry) -> J {
    let mut e = vec![
        ("systolic_blood_pressure", unit_value("mmHg", int(o.value))),
        (
            "diastolic_blood_pressure",
            unit_value("mmHg", int(o.value2)),
        ),
        etf,
    ];
    if o.variant & 1 == 1 {
        e.push(("body_posture", J::S("sitting")));
    }
    obj(e)
}

/// A spot reading (an instant), or the average over a night's sleep.
fn heart_rate(o: &Obs, etf: Entry) -> J {
    if o.frame != Frame::Instant {
        return obj(vec![
            ("heart_rate", unit_value("beats/min", round1(o.value))),
            etf,
            ("descriptive_statistic", J::S("average")),
            ("temporal_relationship_to_sleep", J::S("during sleep")),
        ]);
    }
    let mut e = vec![("heart_rate", unit_value("beats/min", int(o.value))), etf];
    if o.variant & 1 == 1 {
        e.push((
            "temporal_relationship_to_physical_activity",
            J::S("at rest"),
        ));
    }
    obj(e)
}

fn body_temperature(o: &Obs, p: &Patient, etf: Entry) -> J {
    let unit = if p.units.temperature_f { "F" } else { "C" };
    let mut e = vec![
        ("body_temperature", unit_value(unit, round1(o.value))),
        etf,
        (
            "measurement_location",
            J::S(if o.variant & 1 == 1 {
                "tympanic"
            } else {
                "oral"
            }),
        ),
    ];
    if o.variant & 2 == 2 {
        e.push(("temporal_relationship_to_sleep", J::S("on waking")));
    }
    obj(e)
}

/// FVC or FEV1, in litres, with the blow's quality.
fn spirometry(measure: &'static str, o: &Obs, etf: Entry) -> J {
    obj(vec![
        (measure, unit_value("L", round2(o.value))),
        etf,
        (
            "measurement_quality",
            J::S(if o.variant == 0 {
                "acceptable"
            } else {
                "usable"
            }),
        ),
    ])
}

/// A workout (end + duration), a self-reported activity (date + part of day), or the
/// day's total.
fn physical_activity(o: &Obs, etf: Entry) -> J {
    match o.frame {
        Frame::EndDuration => {
            let (name, met) = WORKOUTS[o.variant as usize % WORKOUTS.len()];
            obj(vec![
                ("activity_name", J::S(name)),
                etf,
                ("distance", unit_value("km", round2(o.value))),
                ("kcal_burned", unit_value("kcal", round1(o.value2))),
                ("met_value", J::Float(met as f64)),
            ])
        }
        Frame::PartOfDay => obj(vec![
            (
                "activity_name",
                J::S(
                    SELF_REPORTED_ACTIVITIES
                        [o.variant as usize % SELF_REPORTED_ACTIVITIES.len()],
                ),
            ),
            etf,
            ("kcal_burned", unit_value("kcal", round1(o.value2))),
            ("reported_activity_intensity", J::S("light")),
        ]),
        _ => {
            let intensity = match o.value {
                d if d < 3_500.0 => "light",
                d if d < 7_500.0 => "moderate",
                _ => "vigorous",
            };
            obj(vec![
                ("activity_name", J::S("Total Daily Physical Activity")),
                etf,
                ("distance", unit_value("m", round1(o.value))),
                ("kcal_burned", unit_value("kcal", round1(o.value2))),
                ("reported_activity_intensity", J::S(intensity)),
            ])
        }
    }
}

/// `hash` is the observation's `mix2(seed, id)`: a third of the episodes count awakenings.
fn sleep_episode(hash: u64, o: &Obs, etf: Entry) -> J {
    let waso = o.span as f32 - o.value - o.value2;
    let mut e = vec![
        ("is_main_sleep", J::Bool(true)),
        ("total_sleep_time", sec(o.value)),
        etf,
        ("latency_to_sleep_onset", sec(o.value2)),
        ("wake_after_sleep_onset", sec(waso)),
        (
            "sleep_maintenance_efficiency_percentage",
            percent(o.value / o.span as f32 * 100.0),
        ),
    ];
    if hash % 3 == 0 {
        e.push((
            "number_of_awakenings",
            J::Int(1 + (mix2(o.start as u64, o.patient as u64) % 5) as i64),
        ));
    }
    obj(e)
}

fn sleep_stage_summary(world: &World, o: &Obs, etf: Entry) -> J {
    // Same night, same split, whichever sleep code asks.
    let night = mix2(o.start as u64, o.patient as u64 ^ world.seed);
    let rem = (o.value * (0.18 + (night % 80) as f32 / 1000.0)).round();
    let deep = (o.value * (0.13 + (night / 80 % 100) as f32 / 1000.0)).round();
    let light = o.value.round() - rem - deep;
    obj(vec![
        ("is_main_sleep", J::Bool(true)),
        (
            "sleep_stage_summary",
            obj(vec![
                ("total_sleep_time", sec(o.value)),
                ("rem_sleep_duration", sec(rem)),
                ("deep_sleep_duration", sec(deep)),
                ("light_sleep_duration", sec(light)),
                (
                    "sleep_efficiency_percentage",
                    percent(o.value / o.span as f32 * 100.0),
                ),
            ]),
        ),
        etf,
    ])
}

fn food_entry(o: &Obs, etf: Entry) -> J {
    let (name, kcal_per_g, carb_per_g) = FOODS[(o.variant & 0x0f) as usize % FOODS.len()];
    let grams = o.value;
    obj(vec![
        ("food_name", J::S(name)),
        ("food_amount", unit_value("g", int(grams))),
        ("meal", J::S(MEALS[(o.variant >> 4) as usize % MEALS.len()])),
        ("calories", unit_value("kcal", round1(grams * kcal_per_g))),
        ("carbohydrate", unit_value("g", round1(grams * carb_per_g))),
        etf,
    ])
}

fn ambient_sound(o: &Obs, etf: Entry) -> J {
    let (label, indoor, _, tag) =
        SOUND_ENVIRONMENTS[o.variant as usize % SOUND_ENVIRONMENTS.len()];
    obj(vec![
        ("sound_level", unit_value("dB", round1(o.value))),
        (
            "environment",
            obj(vec![("label", J::S(label)), ("indoor", J::Bool(indoor))]),
        ),
        ("tags", J::Arr(vec![J::S(tag), J::S("a-weighted")])),
        etf,
    ])
}
