//! Changes over time on a running fake: observations added, updated and deleted, as an
//! Exchange's data changes between fetches (or during one). In: the world, the store and
//! what the caller asks for; out: the new ids, or why nothing changed. Every change is one
//! write to the store, so a request sees all of it or none of it.

use crate::generate::catalog::Code;
use crate::generate::change::{additions, revised};
use crate::generate::world::{MAIN_STUDY_ID, World};
use crate::store::{NoSuchObservation, Store};

/// Why a change was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("no patient {0}")]
    UnknownPatient(i64),
    #[error("unknown code {0:?} (give an OMH code such as omh:heart-rate:2.0, or system|code)")]
    UnknownCode(String),
    #[error("{0} is served only with unknown_codes")]
    NotServed(&'static str),
    #[error("no observation {0} (unknown, or deleted)")]
    NoSuchObservation(i64),
    #[error("{0} new observations would store more than 200000000")]
    TooMany(u64),
}

impl From<NoSuchObservation> for ChangeError {
    fn from(e: NoSuchObservation) -> Self {
        ChangeError::NoSuchObservation(e.0)
    }
}

/// The most observations a store holds (the generator's own limit).
pub(crate) const MAX_STORED: u64 = 200_000_000;

/// What to add: `count` observations, of one patient or spread over the main study's, of
/// one code or spread over the main study's, written `offset_us` from "now".
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Addition<'a> {
    pub count: u32,
    pub patient_id: Option<i64>,
    pub code: Option<&'a str>,
    pub offset_us: i64,
}

/// An OMH code (`omh:heart-rate:2.0`) or `system|code`.
pub(crate) fn parse_code(text: &str) -> Option<Code> {
    match text.split_once('|') {
        Some((system, code)) => Code::from_system_code(system, code),
        None => Code::from_code(text),
    }
}

/// The (patient index, code) of each new row: round robin over the patients and over the
/// codes. By default only patients who consented to the main study, and for each the next
/// code in turn it did not decline (`quality_problems`), as a server accepts uploads.
fn targets(world: &World, a: &Addition) -> Result<Vec<(u32, Code)>, ChangeError> {
    let patients: Vec<u32> = match a.patient_id {
        Some(id) => vec![world.patient_index(id).ok_or(ChangeError::UnknownPatient(id))? as u32],
        None => (0..world.patients.len() as u32)
            .filter(|&i| {
                let p = &world.patients[i as usize];
                p.visible && p.in_study(MAIN_STUDY_ID) && !p.pending_study_ids.contains(&MAIN_STUDY_ID)
            })
            .collect(),
    };
    let codes: Vec<Code> = match a.code {
        Some(text) => {
            let code = parse_code(text).ok_or_else(|| ChangeError::UnknownCode(text.to_string()))?;
            if code == Code::AmbientSound && !world.unknown_codes {
                return Err(ChangeError::NotServed(code.spec().code));
            }
            vec![code]
        }
        None => world.study(MAIN_STUDY_ID).map(|s| s.codes.clone()).unwrap_or_default(),
    };
    if patients.is_empty() || codes.is_empty() {
        return Ok(Vec::new());
    }
    let defaulted = a.code.is_none();
    Ok((0..a.count as usize)
        .map(|k| {
            let patient = patients[k % patients.len()];
            let refused = if defaulted { world.patients[patient as usize].refused_mask } else { 0 };
            let code = (0..codes.len())
                .map(|j| codes[(k + j) % codes.len()])
                .find(|c| refused & c.bit() == 0)
                .unwrap_or(codes[k % codes.len()]);
            (patient, code)
        })
        .collect())
}

/// Add new observations (see [`Addition`]); returns their ids, ascending.
pub(crate) fn add(world: &World, store: &Store, a: &Addition) -> Result<Vec<i64>, ChangeError> {
    let stored = store.read().len() as u64;
    if stored + a.count as u64 > MAX_STORED {
        return Err(ChangeError::TooMany(a.count as u64));
    }
    let targets = targets(world, a)?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let ids = store.append_with(a.offset_us, |obs, written_us| {
        Ok::<_, ChangeError>(additions(world, obs, &targets, written_us))
    })?;
    Ok(ids.collect())
}

/// Give each observation a new value (a corrected upload: the payload whole again) and
/// date it "now", after every stored row.
pub(crate) fn update(store: &Store, ids: &[i64]) -> Result<(), ChangeError> {
    Ok(store.update(ids, revised)?)
}

/// Delete observations: no search, count, read or list finds them again.
pub(crate) fn delete(store: &Store, ids: &[i64]) -> Result<(), ChangeError> {
    Ok(store.delete(ids)?)
}
