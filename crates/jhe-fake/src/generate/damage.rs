//! The ways a payload can be damaged ([`Damage`], `FakeConfig::damaged_every`) and how
//! each is applied to a payload. In: a code and a payload; out: the damaged payload.
//! Which observations are damaged is decided after generation, in `quality`.

use super::catalog::Code;
use super::json::J;

/// What is wrong with a damaged observation's payload. Each breaks the payload's schema
/// (or its encoding) in one way a real server could serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum Damage {
    /// FHIR `valueAttachment.data` is not base64: the payload's JSON text, unencoded and
    /// cut off halfway. REST `omhData` is that text as a JSON string.
    NotBase64,
    /// FHIR `data` is the base64 of [`NOT_JSON`]; REST `omhData` is that JSON string.
    NotJson,
    /// The body lacks the code's required measure (e.g. `blood_glucose`).
    MissingMeasure,
    /// The measure's `unit` is one its schema does not allow (e.g. `g/L` for glucose).
    BadUnit,
    /// The body has no `effective_time_frame`.
    NoTimeFrame,
    /// Every date and date-time in `effective_time_frame` is [`NOT_A_DATE`].
    BadDateTime,
}

/// The text a [`Damage::NotJson`] payload encodes.
pub(crate) const NOT_JSON: &str = "not json";
/// The date-time of a [`Damage::BadDateTime`] time frame.
pub(crate) const NOT_A_DATE: &str = "yesterday";

impl Damage {
    /// The rotation order.
    pub const ALL: [Damage; 6] = [
        Damage::NotBase64,
        Damage::NotJson,
        Damage::MissingMeasure,
        Damage::BadUnit,
        Damage::NoTimeFrame,
        Damage::BadDateTime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Damage::NotBase64 => "not_base64",
            Damage::NotJson => "not_json",
            Damage::MissingMeasure => "missing_measure",
            Damage::BadUnit => "bad_unit",
            Damage::NoTimeFrame => "no_time_frame",
            Damage::BadDateTime => "bad_date_time",
        }
    }

    /// Whether this damage really breaks an observation of this code: sleep-episode has
    /// no required measure, rr-interval and physical-activity do not require a time
    /// frame, and the unknown code has no schema a measure or unit could break.
    pub fn applies(self, code: Code) -> bool {
        match self {
            Damage::MissingMeasure => required_measure(code).is_some(),
            Damage::BadUnit => bad_unit(code).is_some(),
            Damage::NoTimeFrame => !matches!(
                code,
                Code::RrInterval | Code::PhysicalActivity | Code::AmbientSound
            ),
            Damage::NotBase64 | Damage::NotJson | Damage::BadDateTime => true,
        }
    }
}

/// The body key of the measure the code's schema requires.
pub(crate) fn required_measure(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::BloodGlucose => "blood_glucose",
        Code::BloodPressure => "systolic_blood_pressure",
        Code::HeartRate => "heart_rate",
        Code::BodyTemperature => "body_temperature",
        Code::OxygenSaturation => "oxygen_saturation",
        Code::RespiratoryRate => "respiratory_rate",
        Code::RrInterval => "rr_interval",
        Code::BodyWeight => "body_weight",
        Code::ForcedVitalCapacity => "forced_vital_capacity",
        Code::ForcedExpiratoryVolume1Second => "forced_expiratory_volume_1_second",
        Code::PhysicalActivity => "activity_name",
        Code::StepCount => "step_count",
        Code::SleepDuration => "sleep_duration",
        Code::SleepStageSummary => "sleep_stage_summary",
        Code::FoodEntry => "food_name",
        Code::SleepEpisode | Code::AmbientSound => return None,
    })
}

/// The path of a `{value, unit}` in the body and a unit its schema does not allow.
pub(crate) fn bad_unit(code: Code) -> Option<(&'static [&'static str], &'static str)> {
    Some(match code {
        Code::BloodGlucose => (&["blood_glucose"], "g/L"),
        Code::BloodPressure => (&["systolic_blood_pressure"], "kPa"),
        Code::HeartRate => (&["heart_rate"], "beats/s"),
        Code::BodyTemperature => (&["body_temperature"], "degrees"),
        Code::OxygenSaturation => (&["oxygen_saturation"], "ppm"),
        Code::RespiratoryRate => (&["respiratory_rate"], "breaths/h"),
        Code::RrInterval => (&["rr_interval"], "s"),
        Code::BodyWeight => (&["body_weight"], "stone"),
        Code::ForcedVitalCapacity => (&["forced_vital_capacity"], "L/s"),
        Code::ForcedExpiratoryVolume1Second => (&["forced_expiratory_volume_1_second"], "L/s"),
        Code::PhysicalActivity => (&["kcal_burned"], "kJ"),
        Code::StepCount => (&["step_count"], "strides"),
        Code::SleepEpisode => (&["total_sleep_time"], "nights"),
        Code::SleepDuration => (&["sleep_duration"], "nights"),
        Code::SleepStageSummary => (&["sleep_stage_summary", "total_sleep_time"], "nights"),
        Code::FoodEntry => (&["calories"], "kJ"),
        Code::AmbientSound => return None,
    })
}

fn entry<'a>(j: &'a mut J, key: &str) -> Option<&'a mut J> {
    match j {
        J::Obj(entries) => entries.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn remove(j: &mut J, key: &str) {
    if let J::Obj(entries) = j {
        entries.retain(|(k, _)| *k != key);
    }
}

/// Apply a damage that keeps the payload JSON to the body of `{"body", "header"}`.
pub(crate) fn damage_payload(payload: &mut J, code: Code, damage: Damage) {
    let Some(body) = entry(payload, "body") else {
        return;
    };
    match damage {
        Damage::MissingMeasure => {
            if let Some(key) = required_measure(code) {
                remove(body, key);
            }
        }
        Damage::BadUnit => {
            if let Some((path, unit)) = bad_unit(code) {
                let mut at = Some(body);
                for key in path {
                    at = at.and_then(|j| entry(j, key));
                }
                if let Some(u) = at.and_then(|j| entry(j, "unit")) {
                    *u = J::S(unit);
                }
            }
        }
        Damage::NoTimeFrame => remove(body, "effective_time_frame"),
        Damage::BadDateTime => {
            if let Some(etf) = entry(body, "effective_time_frame") {
                break_dates(etf);
            }
        }
        Damage::NotBase64 | Damage::NotJson => {}
    }
}

/// Replace every `date`, `date_time`, `start_date_time` and `end_date_time` with
/// [`NOT_A_DATE`].
fn break_dates(j: &mut J) {
    if let J::Obj(entries) = j {
        for (k, v) in entries.iter_mut() {
            if *k == "date" || k.ends_with("date_time") {
                *v = J::S(NOT_A_DATE);
            } else {
                break_dates(v);
            }
        }
    }
}
