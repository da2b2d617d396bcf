//! The ground truth of the EHR-imported records: the FhirSources, and what a search of
//! the imported store returns ([`FakeExchange::expected_imported`]), from the generator,
//! never from what was served.

use std::collections::BTreeMap;

use crate::exchange::{FakeError, FakeExchange};
use crate::generate::imported::{ImportedType, source_id};
use crate::imported::{ImportedQuery, SUPPORTED_TYPES};
use crate::render::imported::imported_json;

impl FakeExchange {
    /// Every FhirSource: its pk -> the JHE patient id it imports for. One per patient,
    /// hidden patients' included (a search finds their records for no one).
    pub fn fhir_sources(&self) -> BTreeMap<i64, i64> {
        let w = &self.state.world;
        (0..w.patients.len() as u32)
            .map(|i| (source_id(i), w.patients[i as usize].id))
            .collect()
    }

    /// The JSON text of each imported record of `resource_type` that a search of all
    /// imported records (`_source:below=https://jupyterhealth.org/fhir/fhir-source/`)
    /// returns, newest import first (the server's order without `_sort`): the records of
    /// patients the user may see, of `patient_id` and of the FhirSource `source_id` when
    /// given (a hidden or unknown one gives none). Exactly the text served.
    ///
    /// An error for a type the Exchange does not support; an empty list for one the fake
    /// has no imported records of (only Observation, Condition, MedicationRequest and
    /// Encounter have some).
    pub fn expected_imported(
        &self,
        resource_type: &str,
        patient_id: Option<i64>,
        source_id: Option<i64>,
    ) -> Result<Vec<String>, FakeError> {
        if !SUPPORTED_TYPES.contains(&resource_type) {
            return Err(FakeError::UnknownResourceType(resource_type.to_string()));
        }
        let Some(t) = ImportedType::from_name(resource_type) else {
            return Ok(Vec::new());
        };
        let w = &self.state.world;
        let store = self.state.imported();
        let q = ImportedQuery {
            patient_id,
            source_id,
            ..ImportedQuery::default()
        };
        let rows = store.rows(t);
        Ok(store
            .query(w, t, &q)
            .into_iter()
            .map(|i| imported_json(w, t, &rows[i as usize]))
            .collect())
    }
}
