//! `jhe._jhe.NativeFakeExchange`: starts the embedded fake Exchange on the shared runtime.

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::fake::{FakeConfig, FakeExchange};

use super::runtime::wait_for;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeFakeExchange {
    /// `None` once stopped.
    server: Mutex<Option<FakeExchange>>,
    url: String,
    token: String,
}

impl NativeFakeExchange {
    fn with_server<T>(&self, f: impl FnOnce(&FakeExchange) -> T) -> PyResult<T> {
        let guard = self.server.lock().expect("the fake's lock is never poisoned");
        guard
            .as_ref()
            .map(f)
            .ok_or_else(|| PyRuntimeError::new_err("this FakeExchange has been stopped"))
    }
}

#[pymethods]
impl NativeFakeExchange {
    #[new]
    #[pyo3(signature = (*, patients=20, days=14, seed=0))]
    fn new(py: Python<'_>, patients: u32, days: u32, seed: u64) -> PyResult<Self> {
        let config = FakeConfig { patients, days, seed };
        let server = wait_for(py, FakeExchange::start(config))?
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            url: server.url().to_string(),
            token: server.token().to_string(),
            server: Mutex::new(Some(server)),
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn token(&self) -> &str {
        &self.token
    }

    /// Ids of what the generator made: studies, organizations, patients, codes per study.
    fn directory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let directory = self.with_server(|server| server.directory().clone())?;
        let dict = PyDict::new(py);
        dict.set_item("user_id", directory.user_id)?;
        dict.set_item("organization_ids", directory.organization_ids)?;
        dict.set_item("member_organization_ids", directory.member_organization_ids)?;
        dict.set_item("hidden_organization_id", directory.hidden_organization_id)?;
        dict.set_item("main_study_id", directory.main_study_id)?;
        dict.set_item("visible_study_ids", directory.visible_study_ids)?;
        dict.set_item("hidden_study_id", directory.hidden_study_id)?;
        dict.set_item("patients_by_study", directory.patients_by_study)?;
        dict.set_item("visible_patient_ids", directory.visible_patient_ids)?;
        dict.set_item("hidden_patient_ids", directory.hidden_patient_ids)?;
        dict.set_item("codes_by_study", directory.codes_by_study)?;
        dict.set_item("patient_identifiers", directory.patient_identifiers)?;
        dict.set_item("anchor", directory.anchor)?;
        Ok(dict)
    }

    /// The generator's ground truth for an Observation search, newest first.
    #[pyo3(signature = (study_id=None, patient_id=None, code=None))]
    fn expected_observations<'py>(
        &self,
        py: Python<'py>,
        study_id: Option<i64>,
        patient_id: Option<i64>,
        code: Option<&str>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let rows = self.with_server(|server| server.expected_observations(study_id, patient_id, code))?;
        rows.into_iter()
            .map(|row| {
                let dict = PyDict::new(py);
                dict.set_item("id", row.id)?;
                dict.set_item("patient_id", row.patient_id)?;
                dict.set_item("code", row.code)?;
                dict.set_item("last_updated", row.last_updated)?;
                dict.set_item("omh_json", row.omh_json)?;
                Ok(dict)
            })
            .collect()
    }

    /// Stop serving; safe to call more than once.
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().expect("the fake's lock is never poisoned").take();
        if let Some(mut server) = server {
            py.detach(|| server.stop());
        }
    }

    fn __repr__(&self) -> String {
        format!("NativeFakeExchange(url={:?})", self.url)
    }
}
