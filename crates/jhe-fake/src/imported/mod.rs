//! The EHR-imported records in memory and their searches (the real server's
//! `FhirAuxResource.fhir_search`, `apply_common_search_filters` and the aux half of
//! `core/fhir/search.py`). In: the world; out: the records a query matches, in served
//! order. The records never change while the server runs.
//!
//! Each type's records are kept in patient order, slot order within a patient, which is
//! also import order (`last_updated` increases along the list): the server's default
//! order, newest import first, is the reverse, and a patient's records are one range.

pub(crate) mod search;

use std::cmp::Ordering;

use crate::generate::imported::{
    self, Imported, ImportedType, decode_uuid, source_patient, uuid_of,
};
use crate::generate::world::World;
use crate::store::{SortKey, TimeBound};

use search::{Filter, sort_date};

/// Every type the CapabilityStatement lists (`supported_resource_types()`): a search or
/// read of another is 404.
pub(crate) const SUPPORTED_TYPES: [&str; 26] = [
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Condition",
    "Coverage",
    "Device",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Goal",
    "Group",
    "Immunization",
    "Location",
    "Medication",
    "MedicationDispense",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
    "ServiceRequest",
];

pub(crate) struct ImportedStore {
    by_type: [Vec<Imported>; 4],
}

/// A search of one type's imported records, already authorized by the caller.
#[derive(Clone, Debug, Default)]
pub(crate) struct ImportedQuery {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// One FhirSource's records (`_source=<base>/<pk>`).
    pub source_id: Option<i64>,
    pub id: Option<u128>,
    pub last_updated: Vec<TimeBound>,
    pub filters: Vec<Filter>,
    /// Empty = the server default, newest import first.
    pub sort: Vec<SortKey>,
    /// Matches nothing (e.g. an `_id` that is not a UUID).
    pub nothing: bool,
}

impl ImportedStore {
    pub fn new(world: &World) -> ImportedStore {
        ImportedStore {
            by_type: imported::generate(world),
        }
    }

    pub fn rows(&self, t: ImportedType) -> &[Imported] {
        &self.by_type[t.index()]
    }

    /// The record of this type with this UUID, whoever's it is.
    pub fn find(&self, world: &World, t: ImportedType, uuid: u128) -> Option<&Imported> {
        let (patient, slot) = decode_uuid(world.seed, uuid)?;
        let rows = self.rows(t);
        rows.binary_search_by(|r| (r.patient, r.slot).cmp(&(patient, slot)))
            .ok()
            .map(|i| &rows[i])
    }

    /// The indices (into [`ImportedStore::rows`]) of the visible records that match, in
    /// served order.
    pub fn query(&self, world: &World, t: ImportedType, q: &ImportedQuery) -> Vec<u32> {
        let rows = self.rows(t);
        if q.nothing {
            return Vec::new();
        }
        // A patient or a source narrows the search to one patient's range.
        let by_patient = q
            .patient_id
            .map(|id| world.patient_index(id).map(|i| i as u32));
        let by_source = q.source_id.map(|id| source_patient(world, id));
        let only = match (by_patient, by_source) {
            (Some(a), Some(b)) if a != b => return Vec::new(),
            (Some(None), _) | (_, Some(None)) => return Vec::new(),
            (Some(p), _) | (_, Some(p)) => p,
            (None, None) => None,
        };
        let range = match only {
            Some(p) => {
                rows.partition_point(|r| r.patient < p)..rows.partition_point(|r| r.patient <= p)
            }
            None => 0..rows.len(),
        };
        let admitted: Vec<bool> = world
            .patients
            .iter()
            .map(|p| {
                p.visible
                    && q.study_id.is_none_or(|s| p.in_study(s))
                    && q.organization_id
                        .is_none_or(|o| p.organization_ids.contains(&o))
            })
            .collect();
        let mut out: Vec<u32> = range
            .rev()
            .filter(|&i| {
                let r = &rows[i];
                admitted[r.patient as usize]
                    && q.id
                        .is_none_or(|u| uuid_of(world.seed, r.patient, r.slot) == u)
                    && q.last_updated.iter().all(|b| b.holds(r.last_updated_us))
                    && q.filters.iter().all(|f| f.holds(world.seed, r))
            })
            .map(|i| i as u32)
            .collect();
        if !q.sort.is_empty() {
            out.sort_by(|&a, &b| {
                order(world.seed, t, &q.sort, &rows[a as usize], &rows[b as usize])
            });
        }
        out
    }
}

/// `_sort`'s keys, then the primary key (the UUID) ascending, as the server adds it. A
/// missing date sorts last in either direction (`nulls_last`).
fn order(seed: u64, t: ImportedType, keys: &[SortKey], a: &Imported, b: &Imported) -> Ordering {
    for key in keys {
        let o = match *key {
            SortKey::Date { descending } => match (sort_date(t, a), sort_date(t, b)) {
                (Some(x), Some(y)) if descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => x.is_none().cmp(&y.is_none()),
            },
            SortKey::LastUpdated { descending: true } => b.last_updated_us.cmp(&a.last_updated_us),
            SortKey::LastUpdated { descending: false } => a.last_updated_us.cmp(&b.last_updated_us),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    uuid_of(seed, a.patient, a.slot).cmp(&uuid_of(seed, b.patient, b.slot))
}
