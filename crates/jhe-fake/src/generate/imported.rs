//! The EHR-imported records: what the real Exchange keeps in `FhirAuxResource` after an
//! R4 import (`/fhir-import/R4/`, converted to R5). Every patient (hidden ones too) has
//! one FhirSource, pk [`FIRST_FHIR_SOURCE_ID`] + its index, and through it a small fixed
//! set of records: Observations (one of each [`OBSERVATIONS`] template, and two a month
//! more in longer worlds), three Conditions, three MedicationRequests, two Encounters.
//!
//! A record is stored as a few numbers ([`Imported`], 24 bytes); its body is rendered on
//! demand (`render::imported`) from the seed, the patient and its slot, and the facts a
//! search filters on are read here from the same numbers, so what is filtered is what is
//! served.

use super::ehr_codes::{
    BLOOD_PRESSURE, CONDITIONS, ConditionTemplate, ENCOUNTERS, EncounterTemplate, GLUCOSE,
    MEDICATIONS, MedicationTemplate, OBSERVATIONS, ObsTemplate, Timing,
};
use super::time::{MICROS_PER_SEC, Offset, SECS_PER_DAY, push_date, push_local};
use super::world::{World, mix, mix2};

pub(crate) const FIRST_FHIR_SOURCE_ID: i64 = 90001;
/// `JHE_FHIR_SOURCE_BASE` of `core/models/fhir_aux_resource.py`.
pub(crate) const FHIR_SOURCE_BASE: &str = "https://jupyterhealth.org/fhir/fhir-source";
pub(crate) const EXTENSION_BASE: &str = "https://jupyterhealth.org/fhir/StructureDefinition";

pub(crate) const CONDITIONS_PER_PATIENT: usize = 3;
pub(crate) const MEDICATIONS_PER_PATIENT: usize = 3;
pub(crate) const ENCOUNTERS_PER_PATIENT: usize = 2;
/// Longer worlds add two Observations a month, for at most this many months.
const EXTRA_MONTHS: u32 = 24;

/// The resource types the fake has imported records of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ImportedType {
    Observation,
    Condition,
    MedicationRequest,
    Encounter,
}

impl ImportedType {
    pub const ALL: [ImportedType; 4] = [
        ImportedType::Observation,
        ImportedType::Condition,
        ImportedType::MedicationRequest,
        ImportedType::Encounter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ImportedType::Observation => "Observation",
            ImportedType::Condition => "Condition",
            ImportedType::MedicationRequest => "MedicationRequest",
            ImportedType::Encounter => "Encounter",
        }
    }

    pub fn from_name(name: &str) -> Option<ImportedType> {
        ImportedType::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One imported record. Everything not here is drawn from (seed, patient, slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Imported {
    /// Index into `World::patients` (its FhirSource is the same index).
    pub patient: u32,
    /// The record's number among its patient's records, all types together: with the
    /// patient, it makes the UUID.
    pub slot: u16,
    /// Index into the type's templates.
    pub template: u8,
    /// The record's number among its patient's records of its type.
    pub nth: u8,
    /// Unix seconds: an Observation's effective start (or `issued`), a Condition's
    /// `recordedDate`, a MedicationRequest's `authoredOn`, an Encounter's start.
    pub time: i64,
    /// The import time (the row's `last_updated`, kept outside the body).
    pub last_updated_us: i64,
}

impl Imported {
    /// A number drawn for this record, one per `salt`.
    pub fn draw(&self, seed: u64, salt: u64) -> u64 {
        mix2(
            mix2(
                seed ^ 0x1A40_7ED0_0000_0000,
                record_key(self.patient, self.slot),
            ),
            salt,
        )
    }

    /// A number in `low..=high` drawn for this record.
    pub fn pick(&self, seed: u64, salt: u64, low: i64, high: i64) -> i64 {
        low + (self.draw(seed, salt) % (high - low + 1) as u64) as i64
    }
}

fn record_key(patient: u32, slot: u16) -> u64 {
    ((patient as u64) << 16) | slot as u64
}

pub(crate) fn source_id(patient: u32) -> i64 {
    FIRST_FHIR_SOURCE_ID + patient as i64
}

/// The patient index of a FhirSource pk, if there is such a source.
pub(crate) fn source_patient(world: &World, source_id: i64) -> Option<u32> {
    let i = u32::try_from(source_id.checked_sub(FIRST_FHIR_SOURCE_ID)?).ok()?;
    ((i as usize) < world.patients.len()).then_some(i)
}

/// `meta.source` of a patient's imported records.
pub(crate) fn source_uri(patient: u32) -> String {
    format!("{FHIR_SOURCE_BASE}/{}", source_id(patient))
}

/// How many Observations each patient has.
pub(crate) fn observations_per_patient(days: u32) -> usize {
    OBSERVATIONS.len() + 2 * (days / 30).min(EXTRA_MONTHS) as usize
}

/// The patient's id in the EHR (Epic-style), as `subject.reference` carries it: the
/// import keeps the reference as sent, it is not the JHE patient id.
pub(crate) fn upstream_patient_id(seed: u64, patient: u32) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::from("e");
    let mut x = mix2(seed ^ 0xE9_1C00_0000, patient as u64);
    for i in 0..22 {
        if i == 11 {
            x = mix(x);
        }
        out.push(ALNUM[(x % 62) as usize] as char);
        x /= 62;
    }
    out
}

/// Every patient's records, by type (in [`ImportedType::ALL`] order), each list in
/// patient order and, within a patient, slot order: `last_updated` increases along
/// each list, so newest first is the reverse.
pub(crate) fn generate(world: &World) -> [Vec<Imported>; 4] {
    let per_obs = observations_per_patient(world.days);
    let n = world.patients.len();
    let mut out = [
        Vec::with_capacity(n * per_obs),
        Vec::with_capacity(n * CONDITIONS_PER_PATIENT),
        Vec::with_capacity(n * MEDICATIONS_PER_PATIENT),
        Vec::with_capacity(n * ENCOUNTERS_PER_PATIENT),
    ];
    let days = world.days.max(1) as i64;
    // Records (and a lab's `issued`, 45 minutes on) predate their import, an hour before
    // the anchor; times are whole minutes.
    let start = world.anchor - days * SECS_PER_DAY;
    let minutes = (days * SECS_PER_DAY - 2 * 3600) / 60;
    let import_base = (world.anchor - 3600) * MICROS_PER_SEC;
    for patient in 0..n as u32 {
        let mut slot = 0u16;
        let first =
            |t: ImportedType| mix2(world.seed ^ 0x7E_3A00, ((patient as u64) << 3) | t as u64);
        let conditions = first(ImportedType::Condition) as usize;
        let medications = first(ImportedType::MedicationRequest) as usize;
        let mut push = |t: ImportedType, template: usize, nth: usize| {
            let mut r = Imported {
                patient,
                slot,
                template: template as u8,
                nth: nth as u8,
                time: 0,
                // A millisecond per patient, a microsecond per record: all distinct.
                last_updated_us: import_base + patient as i64 * 1000 + slot as i64,
            };
            r.time = start + r.pick(world.seed, 0x71AE, 0, minutes - 1) * 60;
            out[t.index()].push(r);
            slot += 1;
        };
        for nth in 0..per_obs {
            let template = match nth.checked_sub(OBSERVATIONS.len()) {
                None => nth,
                Some(extra) if extra % 2 == 0 => GLUCOSE as usize,
                Some(_) => BLOOD_PRESSURE as usize,
            };
            push(ImportedType::Observation, template, nth);
        }
        for nth in 0..CONDITIONS_PER_PATIENT {
            push(
                ImportedType::Condition,
                (conditions + nth) % CONDITIONS.len(),
                nth,
            );
        }
        for nth in 0..MEDICATIONS_PER_PATIENT {
            push(
                ImportedType::MedicationRequest,
                (medications + nth) % MEDICATIONS.len(),
                nth,
            );
        }
        for nth in 0..ENCOUNTERS_PER_PATIENT {
            push(ImportedType::Encounter, nth, nth);
        }
    }
    out
}

// The record's UUID: (patient, slot) folded into 62 random-looking bits, so a read by
// id needs no index. Version 4 and the RFC 4122 variant, as `uuid.uuid4()` makes them.
const LOW_62: u64 = (1 << 62) - 1;

fn uuid_high(seed: u64, key: u64) -> u64 {
    (mix2(seed ^ 0x0F1D_0000_0000, key) & !0xF000) | 0x4000
}

pub(crate) fn uuid_of(seed: u64, patient: u32, slot: u16) -> u128 {
    let key = record_key(patient, slot);
    let high = uuid_high(seed, key);
    let low = ((key ^ mix(high)) & LOW_62) | (1 << 63);
    ((high as u128) << 64) | low as u128
}

/// `(patient, slot)` of a UUID [`uuid_of`] made, or `None`.
pub(crate) fn decode_uuid(seed: u64, uuid: u128) -> Option<(u32, u16)> {
    let high = (uuid >> 64) as u64;
    let key = ((uuid as u64) ^ mix(high)) & LOW_62;
    let (patient, slot) = (u32::try_from(key >> 16).ok()?, key as u16);
    (uuid_of(seed, patient, slot) == uuid).then_some((patient, slot))
}

pub(crate) fn uuid_text(uuid: u128) -> String {
    let h = format!("{uuid:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Python's `uuid.UUID(text)`: `urn:` and `uuid:` dropped, then braces, then every
/// hyphen; 32 hex digits in any case.
pub(crate) fn parse_uuid(text: &str) -> Option<u128> {
    let t = text.replace("urn:", "").replace("uuid:", "");
    let t = t.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&t, 16).ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ`, how the EHR writes instants.
pub(crate) fn instant_text(secs: i64) -> String {
    let mut s = String::with_capacity(20);
    push_local(&mut s, secs, Offset::Zulu);
    s
}

pub(crate) fn date_text(day: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, day);
    s
}

// The facts of each type's records that searches filter on, and that the bodies show.

pub(crate) fn observation(r: &Imported) -> &'static ObsTemplate {
    &OBSERVATIONS[r.template as usize]
}

/// `effectiveDateTime` or `effectivePeriod.start`: none for an `issued`-only record.
pub(crate) fn effective_start(r: &Imported) -> Option<i64> {
    (observation(r).timing != Timing::IssuedOnly).then_some(r.time)
}

pub(crate) fn condition(r: &Imported) -> &'static ConditionTemplate {
    &CONDITIONS[r.template as usize]
}

/// A patient's third condition is resolved (an encounter diagnosis), the others active
/// problem-list items.
pub(crate) fn condition_resolved(r: &Imported) -> bool {
    r.nth == 2
}

/// `onsetDateTime` (a date): one to fifteen years before it was recorded.
pub(crate) fn condition_onset_day(seed: u64, r: &Imported) -> i64 {
    r.time.div_euclid(SECS_PER_DAY) - r.pick(seed, 0x0A5E, 365, 15 * 365)
}

/// `abatementDateTime` of a resolved condition: three weeks before it was recorded.
pub(crate) fn condition_abatement(r: &Imported) -> Option<i64> {
    condition_resolved(r).then_some(r.time - 21 * SECS_PER_DAY)
}

pub(crate) fn medication(r: &Imported) -> &'static MedicationTemplate {
    &MEDICATIONS[r.template as usize]
}

pub(crate) fn medication_status(r: &Imported) -> &'static str {
    if r.nth == 2 { "completed" } else { "active" }
}

pub(crate) fn encounter(r: &Imported) -> &'static EncounterTemplate {
    &ENCOUNTERS[r.template as usize]
}

/// The Encounter's identifier value in the EHR (a ten-digit CSN).
pub(crate) fn encounter_csn(seed: u64, r: &Imported) -> String {
    r.pick(seed, 0xC5A, 1_000_000_000, 9_999_999_999)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::world;

    #[test]
    fn uuids_round_trip_and_look_like_uuid4() {
        for (patient, slot) in [(0, 0), (1, 5), (99_999, 70), (u32::MAX >> 1, u16::MAX)] {
            let u = uuid_of(7, patient, slot);
            assert_eq!(decode_uuid(7, u), Some((patient, slot)));
            assert_eq!(decode_uuid(8, u), None);
            let text = uuid_text(u);
            assert_eq!(text.len(), 36);
            assert_eq!(&text[14..15], "4");
            assert!("89ab".contains(&text[19..20]), "{text}");
            assert_eq!(parse_uuid(&text), Some(u));
            assert_eq!(parse_uuid(&text.to_uppercase()), Some(u));
            assert_eq!(
                parse_uuid(&format!("urn:uuid:{}", text.replace('-', ""))),
                Some(u)
            );
        }
        assert_eq!(parse_uuid("60001"), None);
        assert_eq!(decode_uuid(7, 0), None);
    }

    #[test]
    fn every_patient_has_every_template_and_distinct_times() {
        let w = world::build(3, 100, 0, false, false);
        let rows = generate(&w);
        let per = observations_per_patient(100);
        assert_eq!(per, OBSERVATIONS.len() + 6);
        assert_eq!(rows[0].len(), per * w.patients.len());
        for p in 0..w.patients.len() as u32 {
            let mine: Vec<_> = rows[0].iter().filter(|r| r.patient == p).collect();
            for t in 0..OBSERVATIONS.len() {
                assert!(mine.iter().any(|r| r.template as usize == t));
            }
        }
        for list in &rows {
            assert!(
                list.windows(2)
                    .all(|w| w[0].last_updated_us < w[1].last_updated_us)
            );
            assert!(
                list.iter()
                    .all(|r| r.time < w.anchor - 2 * 3600 && r.time % 60 == 0)
            );
        }
        assert_eq!(upstream_patient_id(0, 1).len(), 23);
        assert_ne!(upstream_patient_id(0, 1), upstream_patient_id(0, 2));
    }
}
