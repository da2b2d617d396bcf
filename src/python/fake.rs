//! `jhe._jhe.NativeFakeExchange`: starts the embedded fake Exchange on the shared runtime.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use jhe_fake::{FakeConfig, FakeExchange, Faults, Generation};

use super::runtime::wait_for;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeFakeExchange {
    /// `None` once stopped.
    server: Mutex<Option<FakeExchange>>,
    url: String,
    token: String,
    client_id: String,
    client_secret: String,
    client_key: String,
    refresh_token: String,
    generation: Generation,
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

/// `legacy=False` / `True` / `"guide"`.
fn generation(legacy: &Bound<'_, PyAny>) -> PyResult<Generation> {
    if let Ok(b) = legacy.cast::<PyBool>() {
        return Ok(if b.is_true() { Generation::Legacy } else { Generation::Current });
    }
    if let Ok(s) = legacy.cast::<PyString>() {
        if s.to_str()? == "guide" {
            return Ok(Generation::LegacyGuide);
        }
    }
    Err(PyValueError::new_err(format!(
        "legacy must be False (the current API), True (v0.0.11) or \"guide\" (v0.0.11 with the user guide's REST API), got {}",
        legacy.repr()?
    )))
}

fn non_negative(name: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| PyValueError::new_err(format!("{name} must be >= 0, got {value}")))
}

fn rate(name: &str, value: f64) -> PyResult<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(PyValueError::new_err(format!("{name} must be between 0 and 1, got {value}")))
    }
}

/// 0 (off) or an N >= 2.
fn every(name: &str, value: i64) -> PyResult<u32> {
    match u32::try_from(value) {
        Ok(n) if n != 1 => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be 0 (off) or an integer from 2 to {}, got {value}",
            u32::MAX
        ))),
    }
}

#[pymethods]
impl NativeFakeExchange {
    #[new]
    #[pyo3(signature = (
        *,
        patients=20,
        days=14,
        seed=0,
        legacy=None,
        latency_ms=0,
        error_rate=0.0,
        error_status=503,
        rate_limit_every=0,
        rate_limit_above=0,
        retry_after_s=1,
        token_ttl_s=None,
        drop_connection_rate=0.0,
        insert_during_fetch=0,
        gzip=false,
        damaged_every=0,
        unknown_codes=false,
        duplicate_uuid_every=0,
        quality_problems=false,
        render_cache=false,
        source_search=true,
        port=0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        patients: u32,
        days: u32,
        seed: u64,
        legacy: Option<&Bound<'_, PyAny>>,
        latency_ms: i64,
        error_rate: f64,
        error_status: i64,
        rate_limit_every: i64,
        rate_limit_above: i64,
        retry_after_s: i64,
        token_ttl_s: Option<f64>,
        drop_connection_rate: f64,
        insert_during_fetch: i64,
        gzip: bool,
        damaged_every: i64,
        unknown_codes: bool,
        duplicate_uuid_every: i64,
        quality_problems: bool,
        render_cache: bool,
        source_search: bool,
        port: u16,
    ) -> PyResult<Self> {
        let generation = match legacy {
            None => Generation::Current,
            Some(value) => generation(value)?,
        };
        if !(400..=599).contains(&error_status) {
            return Err(PyValueError::new_err(format!(
                "error_status must be a 4xx or 5xx status, got {error_status}"
            )));
        }
        if let Some(ttl) = token_ttl_s {
            if !(ttl > 0.0 && ttl.is_finite()) {
                return Err(PyValueError::new_err(format!(
                    "token_ttl_s must be a positive number of seconds or None, got {ttl}"
                )));
            }
        }
        let insert = non_negative("insert_during_fetch", insert_during_fetch)?;
        let faults = Faults {
            latency_ms: non_negative("latency_ms", latency_ms)?,
            error_rate: rate("error_rate", error_rate)?,
            error_status: error_status as u16,
            rate_limit_every: non_negative("rate_limit_every", rate_limit_every)?,
            rate_limit_above: u32::try_from(non_negative("rate_limit_above", rate_limit_above)?)
                .map_err(|_| PyValueError::new_err(format!("rate_limit_above is too large: {rate_limit_above}")))?,
            retry_after_s: non_negative("retry_after_s", retry_after_s)?,
            token_ttl_s,
            drop_connection_rate: rate("drop_connection_rate", drop_connection_rate)?,
            insert_during_fetch: u32::try_from(insert)
                .map_err(|_| PyValueError::new_err(format!("insert_during_fetch is too large: {insert}")))?,
        };
        let config = FakeConfig {
            patients,
            days,
            seed,
            generation,
            faults,
            gzip,
            damaged_every: every("damaged_every", damaged_every)?,
            unknown_codes,
            duplicate_uuid_every: every("duplicate_uuid_every", duplicate_uuid_every)?,
            quality_problems,
            render_cache,
            source_search,
            port,
        };
        let server =
            wait_for(py, FakeExchange::start(config))?.map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            url: server.url().to_string(),
            token: server.token().to_string(),
            client_id: server.client_id().to_string(),
            client_secret: server.client_secret().to_string(),
            client_key: server.client_key().to_string(),
            refresh_token: server.refresh_token().to_string(),
            generation,
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

    #[getter]
    fn client_id(&self) -> &str {
        &self.client_id
    }

    #[getter]
    fn client_secret(&self) -> &str {
        &self.client_secret
    }

    #[getter]
    fn client_key(&self) -> &str {
        &self.client_key
    }

    #[getter]
    fn refresh_token(&self) -> &str {
        &self.refresh_token
    }

    /// `"current"`, `"legacy"` or `"guide"`.
    #[getter]
    fn generation(&self) -> &'static str {
        self.generation.name()
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
                dict.set_item("damage", row.damage)?;
                Ok(dict)
            })
            .collect()
    }

    /// `{source_pk: patient_id}` of every FhirSource (one per patient, hidden ones too).
    fn fhir_sources(&self) -> PyResult<BTreeMap<i64, i64>> {
        self.with_server(|server| server.fhir_sources())
    }

    /// The JSON text of each imported record of `resource_type` a search of all imported
    /// records returns (visible patients only), newest import first.
    #[pyo3(signature = (resource_type, patient_id=None, source_id=None))]
    fn expected_imported(
        &self,
        resource_type: &str,
        patient_id: Option<i64>,
        source_id: Option<i64>,
    ) -> PyResult<Vec<String>> {
        self.with_server(|server| server.expected_imported(resource_type, patient_id, source_id))?
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Add `count` observations written now; their new ids. `last_updated_offset_us` dates
    /// them that far from now (negative: before rows already stored).
    #[pyo3(signature = (count, patient_id=None, code=None, last_updated_offset_us=0))]
    fn add_observations(
        &self,
        py: Python<'_>,
        count: i64,
        patient_id: Option<i64>,
        code: Option<&str>,
        last_updated_offset_us: i64,
    ) -> PyResult<Vec<i64>> {
        let count = u32::try_from(count)
            .map_err(|_| PyValueError::new_err(format!("n must be from 0 to {}, got {count}", u32::MAX)))?;
        let added = py.detach(|| {
            self.with_server(|server| server.add_observations(count, patient_id, code, last_updated_offset_us))
        })?;
        added.map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A new value for each observation, and `last_updated` moved to now.
    fn update_observations(&self, py: Python<'_>, ids: Vec<i64>) -> PyResult<()> {
        py.detach(|| self.with_server(|server| server.update_observations(&ids)))?
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Delete observations from every search, count, read and list.
    fn delete_observations(&self, py: Python<'_>, ids: Vec<i64>) -> PyResult<()> {
        py.detach(|| self.with_server(|server| server.delete_observations(&ids)))?
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The damaged observations (`damaged_every`), by id: `(id, kind)` tuples.
    fn damaged(&self) -> PyResult<Vec<(i64, &'static str)>> {
        self.with_server(|server| server.damaged())
    }

    /// `{patient_id: {code: status}}` for the study's visible patients and every served code.
    fn expected_consent(&self, study_id: i64) -> PyResult<BTreeMap<i64, BTreeMap<String, &'static str>>> {
        self.with_server(|server| {
            server
                .expected_consent(study_id)
                .into_iter()
                .map(|(patient, codes)| (patient, codes.into_iter().map(|(c, s)| (c, s.name())).collect()))
                .collect()
        })
    }

    /// `(id, code)` of the injected implausible values.
    fn expected_implausible(&self) -> PyResult<Vec<(i64, String)>> {
        self.with_server(|server| server.expected_implausible())
    }

    /// `(id, code)` of the injected spikes.
    fn expected_spikes(&self) -> PyResult<Vec<(i64, String)>> {
        self.with_server(|server| server.expected_spikes())
    }

    /// Ids with an effective time ten years in the future.
    fn expected_future(&self) -> PyResult<Vec<i64>> {
        self.with_server(|server| server.expected_future())
    }

    /// Ids with an effective time of 1970-01-01T00:00:00Z.
    fn expected_clock_reset(&self) -> PyResult<Vec<i64>> {
        self.with_server(|server| server.expected_clock_reset())
    }

    /// `(original id, copy id)` of readings uploaded twice.
    fn expected_duplicate_readings(&self) -> PyResult<Vec<(i64, i64)>> {
        self.with_server(|server| server.expected_duplicate_readings())
    }

    /// `(patient_id, observation_id, start, from_minutes, to_minutes)`, start in unix seconds.
    fn expected_offset_changes(&self) -> PyResult<Vec<(i64, i64, i64, i32, i32)>> {
        self.with_server(|server| {
            server
                .expected_offset_changes()
                .into_iter()
                .map(|c| (c.patient_id, c.observation_id, c.start, c.from_minutes, c.to_minutes))
                .collect()
        })
    }

    /// `(patient_id, code, start, end)`, unix seconds, end excluded.
    fn expected_outages(&self) -> PyResult<Vec<(i64, String, i64, i64)>> {
        self.with_server(|server| {
            server
                .expected_outages()
                .into_iter()
                .map(|o| (o.patient_id, o.code, o.start, o.end))
                .collect()
        })
    }

    /// `(patient_id, start, end, from_id, to_id)`, unix seconds.
    fn expected_gaps(&self, code: &str, k: f64) -> PyResult<Vec<(i64, i64, i64, i64, i64)>> {
        let gaps = self.with_server(|server| server.expected_gaps(code, k))?;
        gaps.map(|gaps| gaps.into_iter().map(|g| (g.patient_id, g.start, g.end, g.from_id, g.to_id)).collect())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// `(id, start, value)`, start in unix seconds.
    fn expected_series(&self, patient_id: i64, code: &str) -> PyResult<Vec<(i64, i64, Option<f64>)>> {
        let series = self.with_server(|server| server.expected_series(patient_id, code))?;
        series
            .map(|s| s.into_iter().map(|p| (p.id, p.start, p.value)).collect())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Every request served so far, in completion order: dicts with `method`, `path`,
    /// `query`, `status`, `fault` (None or the fault's name), `arrived` and `answered`. No
    /// credentials.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let records = self.with_server(|server| server.requests())?;
        records
            .into_iter()
            .map(|r| {
                let dict = PyDict::new(py);
                dict.set_item("method", r.method)?;
                dict.set_item("path", r.path)?;
                dict.set_item("query", r.query)?;
                dict.set_item("status", r.status)?;
                dict.set_item("fault", r.fault)?;
                dict.set_item("arrived", r.arrived)?;
                dict.set_item("answered", r.answered)?;
                Ok(dict)
            })
            .collect()
    }

    /// Forget the requests logged so far.
    fn clear_requests(&self) -> PyResult<()> {
        self.with_server(|server| server.clear_requests())
    }

    /// The most API requests in flight at once since the start or the last reset.
    #[getter]
    fn max_in_flight(&self) -> PyResult<u32> {
        self.with_server(|server| server.max_in_flight())
    }

    /// Count the most in flight afresh, from the requests in flight now.
    fn reset_max_in_flight(&self) -> PyResult<()> {
        self.with_server(|server| server.reset_max_in_flight())
    }

    /// Stop serving; safe to call more than once.
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().expect("the fake's lock is never poisoned").take();
        if let Some(mut server) = server {
            py.detach(|| server.stop());
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeFakeExchange(url={:?}, generation={:?})",
            self.url,
            self.generation.name()
        )
    }
}
