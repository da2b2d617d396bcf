//! The data-quality problems injected with `FakeConfig::quality_problems`, as the record
//! the renderers and the ground truth read ([`Problems`]): which stored observations were
//! made implausible, spikes, future, clock resets or copies, where readings were left out
//! (outages), and which patient's device writes another UTC offset from an instant on
//! (travel). Plain data; the injection itself is in `inject`.

use super::catalog::Code;
use super::time::Offset;

/// Readings of one patient and code left out: every one whose effective start lies in
/// `[from, to)` (unix seconds) was never generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outage {
    pub patient: u32,
    pub code: Code,
    pub from: i64,
    pub to: i64,
}

/// From `from` (unix seconds, effective start) on, the patient's device writes `offset`
/// instead of the patient's home offset: same instants, another local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Travel {
    pub patient: u32,
    pub from: i64,
    pub offset: Offset,
}

/// A stored observation (by store index) given an injected value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Injected {
    pub index: u32,
    /// The value as stored ([`super::obs::Obs::value`]), to tell an update apart.
    pub value: f32,
}

/// Everything `quality_problems` injected; empty without it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Problems {
    pub outages: Vec<Outage>,
    pub travel: Option<Travel>,
    /// Physiologically impossible values.
    pub implausible: Vec<Injected>,
    /// Plausible but statistically extreme values in a smooth series.
    pub spikes: Vec<Injected>,
    /// Effective time moved into 2036.
    pub future: Vec<u32>,
    /// Effective time 1970-01-01T00:00:00Z.
    pub clock_reset: Vec<u32>,
    /// (original, copy) store indices: the same reading uploaded again by a second app.
    pub copies: Vec<(u32, u32)>,
}

/// The source name a copy's header carries: a second app uploading the same reading.
pub(crate) const SECOND_APP: &str = "Glucose Buddy";

impl Problems {
    /// Whether the observation at this store index is a copy uploaded by the second app.
    pub fn is_copy(&self, index: i64) -> bool {
        self.copies.iter().any(|&(_, c)| c as i64 == index)
    }
}

/// The visible patients (indexes) each problem is given to.
pub(crate) const OUTAGE_PATIENT: u32 = 0;
pub(crate) const PENDING_PATIENT: u32 = 1;
pub(crate) const REFUSING_PATIENT: u32 = 2;
/// Implausible glucose and heart rate, future timestamps, copies.
pub(crate) const PATIENT_3: u32 = 3;
/// Implausible oxygen saturation and temperature, the clock reset.
pub(crate) const PATIENT_4: u32 = 4;
/// Spikes and travel.
pub(crate) const PATIENT_5: u32 = 5;
/// The codes [`REFUSING_PATIENT`] declined.
pub(crate) const REFUSED: [Code; 2] = [Code::BloodGlucose, Code::HeartRate];
/// [`PATIENT_4`]'s birth date: after the clock reset's 1970.
pub(crate) const PATIENT_4_BIRTH_DATE: &str = "1984-06-15";
