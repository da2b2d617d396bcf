//! The ground truth of the data-quality problems (`FakeConfig::quality_problems`), and of
//! consent and gaps for any fake: what a quality report over the fake's data must find,
//! computed from the stored observations (never by decoding what was served). Every list
//! reads the store as it is now: deleted observations are left out, and so are damaged ones
//! (`damaged_every`: they decode to no value) and, for an injected value, an observation
//! an update has given another value.
//!
//! What `quality_problems` injects (visible patients by index; ids 40001 + index):
//! - patient 0: outages ([`FakeExchange::expected_outages`]): no glucose for 6 hours on day
//!   2 and for 24 hours from day 5, no heart rate on days 3 and 4 (day 0 begins `days`
//!   days before the anchor, UTC; the hours move with the seed);
//! - patient 1: enrolled in the main study alone, consent pending, no observations;
//! - patient 2: enrolled in the main study alone, consented but for glucose and heart rate
//!   (`consented: false`), and no observations of those two;
//! - patient 3: glucose 5 and 1500 mg/dL and a spot heart rate of 400 beats/min
//!   (implausible); two body temperatures in 2036 (moved ten years and `days` days on;
//!   their upload and header creation time as generated); five glucose readings uploaded again an hour
//!   later under new ids (new uuids, header `source_name` "Glucose Buddy"), same time frame
//!   and value;
//! - patient 4: oxygen saturation 30 % and body temperature 50 °C (122 °F where its device
//!   reports Fahrenheit) (implausible); one spot heart rate at 1970-01-01T00:00:00Z (written
//!   in its local offset); birth date 1984-06-15;
//! - patient 5: three glucose readings of 400 mg/dL (its series otherwise lies in 70-250)
//!   and one spot heart rate of 220 (spikes); from day 4 on, every time it writes carries
//!   its home UTC offset plus 9 hours (minus 9 hours where plus would pass +14:00).
//!
//! Patients 3 and 5 report glucose in mg/dL. The problems are the same in FHIR and REST of
//! every generation.

use std::collections::{BTreeMap, HashSet};

use crate::changes::parse_code;
use crate::exchange::{FakeError, FakeExchange};
use crate::generate::catalog::Code;
use crate::generate::damage::required_measure;
use crate::generate::obs::{Frame, Obs};
use crate::generate::omh;
use crate::generate::problems::Injected;
use crate::generate::time::unix;
use crate::generate::world::{FIRST_OBSERVATION_ID, World};

/// A patient's status for one code of a study, as a completeness report gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsentStatus {
    HasData,
    NoData,
    NotConsented,
    ConsentPending,
    NotRequested,
}

impl ConsentStatus {
    /// `has data`, `no data`, `not consented`, `consent pending`, `not requested by study`.
    pub fn name(self) -> &'static str {
        match self {
            ConsentStatus::HasData => "has data",
            ConsentStatus::NoData => "no data",
            ConsentStatus::NotConsented => "not consented",
            ConsentStatus::ConsentPending => "consent pending",
            ConsentStatus::NotRequested => "not requested by study",
        }
    }
}

/// Two consecutive readings of a patient's series further apart than k × the median
/// interval. Times are unix seconds (effective starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedGap {
    pub patient_id: i64,
    pub start: i64,
    pub end: i64,
    /// The observations at `start` and `end`.
    pub from_id: i64,
    pub to_id: i64,
}

/// Readings left out by `quality_problems`: every one whose effective start lies in
/// `[start, end)` (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedOutage {
    pub patient_id: i64,
    pub code: String,
    pub start: i64,
    pub end: i64,
}

/// A patient whose device starts writing another UTC offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetChange {
    pub patient_id: i64,
    /// The first observation (by effective start, then id) written with the new offset.
    pub observation_id: i64,
    /// Its effective start (unix seconds).
    pub start: i64,
    pub from_minutes: i32,
    pub to_minutes: i32,
}

/// One reading of a patient's series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    pub id: i64,
    /// Effective start, unix seconds.
    pub start: i64,
    /// The main measure's `value` exactly as the payload writes it, in its unit; `None`
    /// for a code whose main measure is not a number (activity, food, sleep episode).
    pub value: Option<f64>,
}

fn id_of(index: u32) -> i64 {
    FIRST_OBSERVATION_ID + index as i64
}

/// Not deleted and not damaged: it decodes to the value stored.
fn sound(o: &Obs) -> bool {
    !o.deleted && o.damage.is_none()
}

/// The codes the fake serves: the standard ones, and the unknown one with `unknown_codes`.
fn served_codes(w: &World) -> Vec<Code> {
    Code::ALL
        .into_iter()
        .filter(|&c| c != Code::AmbientSound || w.unknown_codes)
        .collect()
}

fn median(sorted: &[i64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
    }
}

/// The main measure's number in a payload body, e.g. `body.blood_glucose.value`.
fn main_value(payload: &serde_json::Value, code: Code) -> Option<f64> {
    let measure = &payload["body"][required_measure(code)?];
    measure["value"]
        .as_f64()
        .or_else(|| measure.as_object()?.values().find_map(|v| v["value"].as_f64()))
}

impl FakeExchange {
    /// For each visible patient enrolled in the study (by id), each code the fake serves
    /// (the 16 standard codes, and `omh:ambient-sound:1.0` with `unknown_codes`) and its
    /// status, the first that holds of: `NotRequested` (the study does not request the
    /// code), `ConsentPending` (the patient has not answered the study's consent), 
    /// `NotConsented` (it declined the code), `HasData` (at least one observation of the
    /// code that a search of the study serves, damaged ones included, deleted ones not),
    /// `NoData`. Empty for a study the user may not see or that does not exist.
    pub fn expected_consent(&self, study_id: i64) -> BTreeMap<i64, BTreeMap<String, ConsentStatus>> {
        let w = &self.state.world;
        let Some(s) = w.visible_study(study_id) else {
            return BTreeMap::new();
        };
        let with_data: HashSet<(u32, Code)> = self
            .state
            .store
            .read()
            .iter()
            .filter(|o| !o.deleted && s.code_mask & o.code.bit() != 0)
            .map(|o| (o.patient, o.code))
            .collect();
        let codes = served_codes(w);
        let mut out = BTreeMap::new();
        for (i, p) in w.patients.iter().enumerate() {
            if !p.visible || !p.in_study(s.id) {
                continue;
            }
            let pending = p.pending_study_ids.contains(&s.id);
            let statuses = codes
                .iter()
                .map(|&c| {
                    let status = if s.code_mask & c.bit() == 0 {
                        ConsentStatus::NotRequested
                    } else if pending {
                        ConsentStatus::ConsentPending
                    } else if p.refused_mask & c.bit() != 0 {
                        ConsentStatus::NotConsented
                    } else if with_data.contains(&(i as u32, c)) {
                        ConsentStatus::HasData
                    } else {
                        ConsentStatus::NoData
                    };
                    (c.spec().code.to_string(), status)
                })
                .collect();
            out.insert(p.id, statuses);
        }
        out
    }

    fn injected(&self, list: impl Fn(&World) -> &[Injected]) -> Vec<(i64, String)> {
        let obs = self.state.store.read();
        list(&self.state.world)
            .iter()
            .filter(|x| obs.get(x.index as usize).is_some_and(|o| sound(o) && o.value == x.value))
            .map(|x| (id_of(x.index), obs[x.index as usize].code.spec().code.to_string()))
            .collect()
    }

    /// `(id, code)` of the physiologically impossible values `quality_problems` injected,
    /// by id: glucose 5 and 1500 mg/dL and heart rate 400 beats/min (patient 3), oxygen
    /// saturation 30 % and body temperature 50 °C (patient 4). No generated value is
    /// implausible: these are all.
    pub fn expected_implausible(&self) -> Vec<(i64, String)> {
        self.injected(|w| &w.problems.implausible)
    }

    /// `(id, code)` of the spikes `quality_problems` injected, by id: patient 5's three
    /// glucose readings of 400 mg/dL and one spot heart rate of 220 beats/min. An outlier
    /// rule may flag other readings too (a series' natural tails).
    pub fn expected_spikes(&self) -> Vec<(i64, String)> {
        self.injected(|w| &w.problems.spikes)
    }

    fn times(&self, list: impl Fn(&World) -> &[u32]) -> Vec<i64> {
        let obs = self.state.store.read();
        list(&self.state.world)
            .iter()
            .filter(|&&i| obs.get(i as usize).is_some_and(sound))
            .map(|&i| id_of(i))
            .collect()
    }

    /// Ids of the observations whose effective time is in 2036 (moved ten years and `days`
    /// days on, so at least ten years past the anchor), by id: two of patient 3's body
    /// temperatures. Their header's
    /// `source_creation_date_time` stays as generated (in the data window), so their
    /// effective time is also after their creation. No other observation lies after the
    /// anchor (observations added while the server runs are dated after it, but not years).
    pub fn expected_future(&self) -> Vec<i64> {
        self.times(|w| &w.problems.future)
    }

    /// Ids of the observations whose effective time is 1970-01-01T00:00:00Z (before 2000
    /// and before the patient's birth date, 1984-06-15): one of patient 4's spot heart
    /// rates. The only ones before 2000.
    pub fn expected_clock_reset(&self) -> Vec<i64> {
        self.times(|w| &w.problems.clock_reset)
    }

    /// `(original id, copy id)` of the readings uploaded twice, by copy id: five of patient
    /// 3's glucose readings. Same patient, code, time frame and value; the copy has its own
    /// id and uuid, a `last_updated` (and header creation time) about an hour later, and
    /// the header `source_name` "Glucose Buddy" (the original's is "Dexcom G7").
    pub fn expected_duplicate_readings(&self) -> Vec<(i64, i64)> {
        let obs = self.state.store.read();
        self.state
            .world
            .problems
            .copies
            .iter()
            .filter(|&&(a, b)| {
                let (a, b) = (obs[a as usize], obs[b as usize]);
                sound(&a) && sound(&b) && a.value == b.value
            })
            .map(|&(a, b)| (id_of(a), id_of(b)))
            .collect()
    }

    /// The patients whose device starts writing another UTC offset (patient 5, from day 4):
    /// the first of its sound observations (by effective start, then id) whose time frame
    /// carries an offset (a date and part of day does not) and starts at or after the
    /// change. Every one after it carries the new offset too, every one before the home
    /// offset, in the time frame and the header's `source_creation_date_time` alike.
    pub fn expected_offset_changes(&self) -> Vec<OffsetChange> {
        let w = &self.state.world;
        let Some(t) = w.problems.travel else {
            return Vec::new();
        };
        let obs = self.state.store.read();
        let first = (0..obs.len())
            .filter(|&i| {
                let o = &obs[i];
                sound(o) && o.patient == t.patient && o.frame != Frame::PartOfDay && o.start >= t.from
            })
            .min_by_key(|&i| (obs[i].start, i));
        let p = &w.patients[t.patient as usize];
        first
            .map(|i| OffsetChange {
                patient_id: p.id,
                observation_id: id_of(i as u32),
                start: obs[i].start,
                from_minutes: (p.offset.seconds() / 60) as i32,
                to_minutes: (t.offset.seconds() / 60) as i32,
            })
            .into_iter()
            .collect()
    }

    /// The outage windows `quality_problems` injected, in the order listed in this
    /// module's documentation. Each lies inside one of [`FakeExchange::expected_gaps`]'s
    /// gaps (k = 3) for its code and patient.
    pub fn expected_outages(&self) -> Vec<ExpectedOutage> {
        let w = &self.state.world;
        w.problems
            .outages
            .iter()
            .map(|o| ExpectedOutage {
                patient_id: w.patients[o.patient as usize].id,
                code: o.code.spec().code.to_string(),
                start: o.from,
                end: o.to,
            })
            .collect()
    }

    /// The gaps in each visible patient's series of `code` (an OMH code or
    /// `system|code`), by patient id, then start. A series is the patient's sound
    /// observations of the code (not deleted, not damaged; copies included) whose
    /// effective start lies from 2000-01-01T00:00:00Z to the anchor, both included,
    /// ordered by effective start, then id. Its intervals are the differences between
    /// consecutive starts (0 between a reading and its copy); their median is the middle
    /// one, or the mean of the two middle ones. A gap is an interval strictly greater
    /// than `k` × that median; it runs from the start of the reading before to the start
    /// of the reading after. A series of fewer than two readings has none. Whatever the
    /// study: every visible patient (all are in the main study).
    pub fn expected_gaps(&self, code: &str, k: f64) -> Result<Vec<ExpectedGap>, FakeError> {
        let code = parse_code(code).ok_or_else(|| FakeError::UnknownCode(code.to_string()))?;
        let w = &self.state.world;
        let (from, to) = (unix(2000, 1, 1, 0, 0, 0), w.anchor);
        let obs = self.state.store.read();
        let mut by_patient: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (i, o) in obs.iter().enumerate() {
            if sound(o) && o.code == code && w.patients[o.patient as usize].visible && (from..=to).contains(&o.start) {
                by_patient.entry(o.patient).or_default().push(i as u32);
            }
        }
        let mut gaps = Vec::new();
        for (patient, mut series) in by_patient {
            series.sort_by_key(|&i| (obs[i as usize].start, i));
            let intervals: Vec<i64> = series
                .windows(2)
                .map(|p| obs[p[1] as usize].start - obs[p[0] as usize].start)
                .collect();
            if intervals.is_empty() {
                continue;
            }
            let mut sorted = intervals.clone();
            sorted.sort_unstable();
            let limit = k * median(&sorted);
            for (pair, &interval) in series.windows(2).zip(&intervals) {
                if interval as f64 > limit {
                    gaps.push(ExpectedGap {
                        patient_id: w.patients[patient as usize].id,
                        start: obs[pair[0] as usize].start,
                        end: obs[pair[1] as usize].start,
                        from_id: id_of(pair[0]),
                        to_id: id_of(pair[1]),
                    });
                }
            }
        }
        Ok(gaps)
    }

    /// A visible patient's series of `code`: every sound observation (not deleted, not
    /// damaged), by effective start, then id, with the main measure's value as its payload
    /// writes it. Empty for a patient the user may not see.
    pub fn expected_series(&self, patient_id: i64, code: &str) -> Result<Vec<SeriesPoint>, FakeError> {
        let code = parse_code(code).ok_or_else(|| FakeError::UnknownCode(code.to_string()))?;
        let w = &self.state.world;
        let Some(patient) = w.visible_patient(patient_id) else {
            return Ok(Vec::new());
        };
        let obs = self.state.store.read();
        let mut series: Vec<usize> = (0..obs.len())
            .filter(|&i| sound(&obs[i]) && obs[i].code == code && obs[i].patient as usize == patient)
            .collect();
        series.sort_by_key(|&i| (obs[i].start, i));
        Ok(series
            .into_iter()
            .map(|i| {
                let id = id_of(i as u32);
                let payload: serde_json::Value =
                    serde_json::from_str(&omh::payload_json(w, id, &obs[i])).unwrap_or_default();
                SeriesPoint {
                    id,
                    start: obs[i].start,
                    value: main_value(&payload, code),
                }
            })
            .collect())
    }
}
