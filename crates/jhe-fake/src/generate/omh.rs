//! OMH / IEEE 1752 payloads, rendered on demand from a stored observation. Everything not
//! stored (uuid, secondary fields) is derived from (seed, id) so a payload is identical
//! on every request.

use super::catalog::Code;
use base64::Engine as _;

use super::json::{J, Style, int, obj, push_str, round1, round2, unit_value};
use super::quality::{Damage, NOT_JSON, damage_payload};
use super::store::{Frame, Obs};
use super::time::{MICROS_PER_SEC, Offset, SECS_PER_DAY, push_date, push_local};
use super::world::{Patient, World, mix, mix2};

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

/// A deterministic RFC 4122 version-4 UUID for an observation.
pub(crate) fn uuid(seed: u64, id: i64) -> String {
    let a = mix2(seed ^ 0x0A11_CE00, id as u64);
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn local(t: i64, offset: Offset) -> J {
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
fn body(world: &World, id: i64, o: &Obs, p: &Patient) -> J {
    let etf = ("effective_time_frame", time_frame(o, p.offset));
    let h = mix2(world.seed, id as u64);
    match o.code {
        Code::BloodGlucose => {
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
        Code::BloodPressure => {
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
        Code::HeartRate if o.frame == Frame::Instant => {
            let mut e = vec![("heart_rate", unit_value("beats/min", int(o.value))), etf];
            if o.variant & 1 == 1 {
                e.push((
                    "temporal_relationship_to_physical_activity",
                    J::S("at rest"),
                ));
            }
            obj(e)
        }
        Code::HeartRate => obj(vec![
            ("heart_rate", unit_value("beats/min", round1(o.value))),
            etf,
            ("descriptive_statistic", J::S("average")),
            ("temporal_relationship_to_sleep", J::S("during sleep")),
        ]),
        Code::BodyTemperature => {
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
        Code::ForcedVitalCapacity => obj(vec![
            ("forced_vital_capacity", unit_value("L", round2(o.value))),
            etf,
            (
                "measurement_quality",
                J::S(if o.variant == 0 {
                    "acceptable"
                } else {
                    "usable"
                }),
            ),
        ]),
        Code::ForcedExpiratoryVolume1Second => obj(vec![
            (
                "forced_expiratory_volume_1_second",
                unit_value("L", round2(o.value)),
            ),
            etf,
            (
                "measurement_quality",
                J::S(if o.variant == 0 {
                    "acceptable"
                } else {
                    "usable"
                }),
            ),
        ]),
        Code::PhysicalActivity => match o.frame {
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
        },
        Code::StepCount => obj(vec![
            (
                "step_count",
                unit_value("steps", J::Float(o.value.round() as f64)),
            ),
            etf,
            ("descriptive_statistic", J::S("sum")),
            ("descriptive_statistic_denominator", J::S("d")),
        ]),
        Code::SleepEpisode => {
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
            if h % 3 == 0 {
                e.push((
                    "number_of_awakenings",
                    J::Int(1 + (mix2(o.start as u64, o.patient as u64) % 5) as i64),
                ));
            }
            obj(e)
        }
        Code::SleepDuration => obj(vec![("sleep_duration", sec(o.value)), etf]),
        Code::SleepStageSummary => {
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
        Code::FoodEntry => {
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
        Code::AmbientSound => {
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
    }
}

/// The data source (by id) that reports a code, consistent with [`source_name`].
pub(crate) fn data_source_id(code: Code) -> i64 {
    use super::world::{DEXCOM_ID, FOOD_APP_ID, IHEALTH_ID, OURA_ID, SOUNDSCAPE_ID, SPIROMETER_ID};
    match code {
        Code::AmbientSound => SOUNDSCAPE_ID,
        Code::BloodGlucose => DEXCOM_ID,
        Code::BloodPressure | Code::BodyTemperature | Code::BodyWeight => IHEALTH_ID,
        Code::ForcedVitalCapacity | Code::ForcedExpiratoryVolume1Second => SPIROMETER_ID,
        Code::FoodEntry => FOOD_APP_ID,
        _ => OURA_ID,
    }
}

fn source_name(code: Code) -> &'static str {
    match code {
        Code::BloodGlucose => "Dexcom G7",
        Code::BloodPressure | Code::BodyTemperature | Code::BodyWeight => "iHealth",
        Code::ForcedVitalCapacity | Code::ForcedExpiratoryVolume1Second => "SpiroHome",
        Code::FoodEntry => "Food Diary",
        Code::AmbientSound => "Soundscape Noise Monitor",
        _ => "Oura Ring Gen3",
    }
}

fn header(world: &World, id: i64, o: &Obs, p: &Patient) -> J {
    let spec = o.code.spec();
    let self_reported = o.code == Code::FoodEntry
        || (o.code == Code::PhysicalActivity && o.frame == Frame::PartOfDay)
        || (o.code == Code::BodyWeight && o.variant == 1);
    // Created at the source a little before it reached the server.
    let lag = 1 + (mix2(world.seed ^ 0xC4EA7E, id as u64) % 30) as i64;
    let created = o.last_updated_us.div_euclid(MICROS_PER_SEC) - lag;
    let mut e = vec![
        ("uuid", J::Str(uuid(world.seed, id - o.uuid_back as i64))),
        (
            "modality",
            J::S(if self_reported {
                "self-reported"
            } else {
                "sensed"
            }),
        ),
        (
            "schema_id",
            obj(vec![
                ("name", J::S(spec.name)),
                ("version", J::S(spec.version)),
                ("namespace", J::S(spec.namespace)),
            ]),
        ),
        ("source_creation_date_time", local(created, p.offset)),
    ];
    let provenance = match o.code {
        Code::BloodPressure => p.cuff_reports_provenance,
        Code::PhysicalActivity => o.frame != Frame::PartOfDay,
        Code::BodyWeight => o.variant != 1,
        _ => true,
    };
    if provenance {
        e.push((
            "acquisition_provenance",
            J::Obj(vec![("source_name", J::S(source_name(o.code)))]),
        ));
    }
    if o.code == Code::BodyTemperature {
        e.push((
            "external_datasheets",
            J::Arr(vec![obj(vec![
                ("datasheet_type", J::S("manufacturer")),
                ("datasheet_reference", J::S("https://ihealthlabs.com")),
            ])]),
        ));
    }
    obj(e)
}

/// `{"body": .., "header": ..}` for the observation with this id.
pub(crate) fn payload(world: &World, id: i64, o: &Obs) -> J {
    let p = &world.patients[o.patient as usize];
    J::Obj(vec![
        ("body", body(world, id, o, p)),
        ("header", header(world, id, o, p)),
    ])
}

/// The payload as served: JSON (damaged or not), or text that is not JSON.
pub(crate) enum Served {
    Json(J),
    /// [`Damage::NotBase64`] (FHIR serves it unencoded) or [`Damage::NotJson`].
    Text(String),
}

/// The payload with the observation's damage, if any.
pub(crate) fn served(world: &World, id: i64, o: &Obs) -> Served {
    let mut p = payload(world, id, o);
    match o.damage {
        None => Served::Json(p),
        Some(Damage::NotJson) => Served::Text(NOT_JSON.to_string()),
        Some(Damage::NotBase64) => {
            // The JSON text cut off halfway (ASCII: non-ASCII is escaped).
            let mut text = p.to_string(Style::Python);
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            Served::Text(text)
        }
        Some(d) => {
            damage_payload(&mut p, o.code, d);
            Served::Json(p)
        }
    }
}

/// The text FHIR `valueAttachment.data` holds, and whether it is base64-encoded there:
/// the OMH JSON (`json.dumps` style) encoded, or a damaged payload's text.
pub(crate) fn fhir_text(world: &World, id: i64, o: &Obs) -> (String, bool) {
    match served(world, id, o) {
        Served::Json(j) => (j.to_string(Style::Python), true),
        Served::Text(t) => (t, o.damage != Some(Damage::NotBase64)),
    }
}

/// The OMH JSON exactly as the FHIR `valueAttachment.data` base64 encodes it (or, for a
/// damaged payload, the text it holds).
pub(crate) fn payload_json(world: &World, id: i64, o: &Obs) -> String {
    fhir_text(world, id, o).0
}

/// `valueAttachment.data` as a JSON string: standard base64 (wrapped every 76
/// characters with `\n` for v0.0.11), or the unencoded text of a [`Damage::NotBase64`].
pub(crate) fn push_fhir_data(out: &mut String, world: &World, id: i64, o: &Obs, wrap: bool) {
    let (text, encode) = fhir_text(world, id, o);
    if !encode {
        push_str(out, &text, Style::Compact);
        return;
    }
    out.push('"');
    if wrap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
            if i > 0 {
                out.push_str("\\n");
            }
            // Base64 is ASCII.
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
        }
    } else {
        base64::engine::general_purpose::STANDARD.encode_string(text.as_bytes(), out);
    }
    out.push('"');
}

/// REST `omhData` / `valueAttachmentData`: the payload object, or a damaged payload's
/// text as a JSON string.
pub(crate) fn push_rest_data(out: &mut String, world: &World, id: i64, o: &Obs) {
    match served(world, id, o) {
        Served::Json(j) => j.write(out, Style::Compact),
        Served::Text(t) => push_str(out, &t, Style::Compact),
    }
}
