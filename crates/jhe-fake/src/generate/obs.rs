//! One stored observation ([`Obs`]): numbers and small enums, 40 bytes, from which every
//! response is rendered.

use super::catalog::Code;
use super::damage::Damage;
use super::time::MICROS_PER_SEC;

/// Which `effective_time_frame` form the payload uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Frame {
    /// `{date_time}`
    Instant,
    /// `{time_interval:{start_date_time, end_date_time}}`
    StartEnd,
    /// `{time_interval:{start_date_time, duration}}`
    StartDuration,
    /// `{time_interval:{end_date_time, duration}}`
    EndDuration,
    /// `{time_interval:{date, part_of_day}}`: the server reads the date as a UTC day.
    PartOfDay,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Obs {
    pub last_updated_us: i64,
    /// Effective start (or the instant), unix seconds.
    pub start: i64,
    /// Effective length in seconds; 0 for an instant.
    pub span: u32,
    /// Index into `World::patients`.
    pub patient: u32,
    /// The main value, already in the unit the payload reports.
    pub value: f32,
    /// A second value where the code has one (diastolic, kcal, sleep latency, ...).
    pub value2: f32,
    pub code: Code,
    pub frame: Frame,
    /// Small per-code choices (meal relation, activity kind, food, ...).
    pub variant: u8,
    /// Whether the FHIR resource carries an `identifier`.
    pub has_identifier: bool,
    /// How the payload is damaged (`FakeConfig::damaged_every`); `None` for most.
    pub damage: Option<Damage>,
    /// 0, or how many rows back the observation whose OMH header uuid this one reuses is
    /// (`FakeConfig::duplicate_uuid_every`).
    pub uuid_back: u16,
    /// Deleted (`FakeExchange::delete_observations`): kept so that ids stay index-based
    /// and are never reused, but no search, count, read or list finds it.
    pub deleted: bool,
}

// Millions of them are kept in memory.
const _: () = assert!(std::mem::size_of::<Obs>() == 40);

impl Obs {
    /// A plain observation: no damage, its own uuid, not deleted.
    pub fn clean(self) -> Obs {
        Obs {
            damage: None,
            uuid_back: 0,
            deleted: false,
            ..self
        }
    }
    pub fn start_us(&self) -> i64 {
        self.start * MICROS_PER_SEC
    }
    pub fn end(&self) -> i64 {
        self.start + self.span as i64
    }
}
