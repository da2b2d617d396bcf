//! The OMH / IEEE codes the fake Exchange serves: one scope (codeable concept) per code,
//! in a fixed order so scope ids are stable (50001 + index): the 16 standard codes, then
//! [`Code::AmbientSound`], a code no client catalogue knows (served only with
//! `unknown_codes`).

/// The coding system of the Open mHealth codes (`omh:...`), as the server writes it.
pub(crate) const OMH_SYSTEM: &str = "https://w3id.org/openmhealth";
/// The coding system of the IEEE 1752 codes (`ieee:...`), as the server writes it.
pub(crate) const IEEE_SYSTEM: &str = "https://w3id.org/ieee1752";

/// The 16 standard codes, then one no client catalogue knows. `repr(u8)` keeps stored
/// observations small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Code {
    BloodGlucose,
    BloodPressure,
    HeartRate,
    BodyTemperature,
    OxygenSaturation,
    RespiratoryRate,
    RrInterval,
    BodyWeight,
    ForcedVitalCapacity,
    ForcedExpiratoryVolume1Second,
    PhysicalActivity,
    StepCount,
    SleepEpisode,
    SleepDuration,
    SleepStageSummary,
    FoodEntry,
    /// `omh:ambient-sound:1.0`: not a standard code and not a published OMH schema, so a
    /// client's catalogue does not know it. Only generated with `FakeConfig::unknown_codes`.
    AmbientSound,
}

pub(crate) struct CodeSpec {
    pub code: &'static str,
    pub system: &'static str,
    /// `codingText` in REST, `display` in FHIR.
    pub display: &'static str,
    /// `schema_id` in the OMH header.
    pub namespace: &'static str,
    pub name: &'static str,
    pub version: &'static str,
}

const fn spec(
    code: &'static str,
    display: &'static str,
    namespace: &'static str,
    name: &'static str,
    version: &'static str,
) -> CodeSpec {
    let system = if namespace.len() == 4 {
        IEEE_SYSTEM
    } else {
        OMH_SYSTEM
    };
    CodeSpec {
        code,
        system,
        display,
        namespace,
        name,
        version,
    }
}

const SPECS: [CodeSpec; 17] = [
    spec(
        "omh:blood-glucose:4.0",
        "Blood glucose",
        "omh",
        "blood-glucose",
        "4.0",
    ),
    spec(
        "omh:blood-pressure:4.0",
        "Blood pressure",
        "omh",
        "blood-pressure",
        "4.0",
    ),
    spec(
        "omh:heart-rate:2.0",
        "Heart Rate",
        "omh",
        "heart-rate",
        "2.0",
    ),
    spec(
        "omh:body-temperature:4.0",
        "Body temperature",
        "omh",
        "body-temperature",
        "4.0",
    ),
    spec(
        "omh:oxygen-saturation:2.0",
        "Oxygen saturation",
        "omh",
        "oxygen-saturation",
        "2.0",
    ),
    spec(
        "omh:respiratory-rate:2.0",
        "Respiratory rate",
        "omh",
        "respiratory-rate",
        "2.0",
    ),
    spec(
        "omh:rr-interval:1.0",
        "RR interval",
        "omh",
        "rr-interval",
        "1.0",
    ),
    spec(
        "omh:body-weight:3.0",
        "Body weight",
        "omh",
        "body-weight",
        "3.0",
    ),
    spec(
        "omh:forced-vital-capacity:1.0",
        "Forced vital capacity",
        "omh",
        "forced-vital-capacity",
        "1.0",
    ),
    spec(
        "omh:forced-expiratory-volume-1-second:1.0",
        "Forced expiratory volume in 1 second",
        "omh",
        "forced-expiratory-volume-1-second",
        "1.0",
    ),
    spec(
        "omh:physical-activity:1.2",
        "Physical activity",
        "omh",
        "physical-activity",
        "1.2",
    ),
    spec(
        "omh:step-count:3.0",
        "Step count",
        "omh",
        "step-count",
        "3.0",
    ),
    spec(
        "omh:sleep-episode:1.1",
        "Sleep episode",
        "omh",
        "sleep-episode",
        "1.1",
    ),
    spec(
        "omh:sleep-duration:2.0",
        "Sleep duration",
        "omh",
        "sleep-duration",
        "2.0",
    ),
    spec(
        "ieee:sleep-stage-summary:1.0",
        "Sleep stage summary",
        "ieee",
        "sleep-stage-summary",
        "1.0",
    ),
    spec(
        "ieee:food-entry:0.1",
        "Food entry",
        "ieee",
        "food-entry",
        "0.1",
    ),
    spec(
        "omh:ambient-sound:1.0",
        "Ambient sound",
        "omh",
        "ambient-sound",
        "1.0",
    ),
];

/// First codeable-concept (scope) id, as on real servers.
pub(crate) const FIRST_SCOPE_ID: i64 = 50001;

impl Code {
    /// The 16 standard codes, in scope order.
    pub const STANDARD: [Code; 16] = [
        Code::BloodGlucose,
        Code::BloodPressure,
        Code::HeartRate,
        Code::BodyTemperature,
        Code::OxygenSaturation,
        Code::RespiratoryRate,
        Code::RrInterval,
        Code::BodyWeight,
        Code::ForcedVitalCapacity,
        Code::ForcedExpiratoryVolume1Second,
        Code::PhysicalActivity,
        Code::StepCount,
        Code::SleepEpisode,
        Code::SleepDuration,
        Code::SleepStageSummary,
        Code::FoodEntry,
    ];

    /// Every code the fake can serve: [`Code::STANDARD`] and [`Code::AmbientSound`].
    pub const ALL: [Code; 17] = {
        let mut all = [Code::AmbientSound; 17];
        let mut i = 0;
        while i < 16 {
            all[i] = Code::STANDARD[i];
            i += 1;
        }
        all
    };

    pub fn spec(self) -> &'static CodeSpec {
        &SPECS[self as usize]
    }

    pub fn scope_id(self) -> i64 {
        FIRST_SCOPE_ID + self as i64
    }

    /// A one-bit mask, so a set of codes fits in a `u32`.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    pub fn from_code(code: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.spec().code == code)
    }

    /// Exact `system|code` match, as the current server does.
    pub fn from_system_code(system: &str, code: &str) -> Option<Code> {
        Code::from_code(code).filter(|c| c.spec().system == system)
    }
}

/// A set of codes as a bit mask.
pub(crate) fn mask_of(codes: &[Code]) -> u32 {
    codes.iter().fold(0, |m, c| m | c.bit())
}

pub(crate) const ALL_CODES_MASK: u32 = (1 << 17) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ieee_codes_use_the_ieee_system() {
        for c in Code::ALL {
            let s = c.spec();
            assert!(s.code.starts_with(s.namespace));
            let want = if s.namespace == "ieee" {
                IEEE_SYSTEM
            } else {
                OMH_SYSTEM
            };
            assert_eq!(s.system, want, "{}", s.code);
            assert_eq!(s.code, format!("{}:{}:{}", s.namespace, s.name, s.version));
            assert_eq!(Code::from_system_code(s.system, s.code), Some(c));
            assert_eq!(c.scope_id(), FIRST_SCOPE_ID + c as i64);
        }
        assert_eq!(Code::ALL.len(), 17);
        assert_eq!(Code::ALL[16], Code::AmbientSound);
        assert!(!Code::STANDARD.contains(&Code::AmbientSound));
        assert_eq!(mask_of(&Code::ALL), ALL_CODES_MASK);
    }
}
