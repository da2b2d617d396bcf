//! `jhe._jhe.NativeClient`: holds the configuration and the HTTP pool; each fetch runs on
//! the shared runtime and comes back as Arrow tables.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::config::{ClientConfig, ClientOptions};
use crate::fetch::fetch_observations;
use crate::http::HttpClient;
use crate::query::ObservationQuery;
use crate::rest::list_all;

use super::errors::to_py_err;
use super::runtime::wait_for;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeClient {
    config: Arc<ClientConfig>,
    http: Arc<HttpClient>,
}

/// One fetch's result: the observations, the records that could not be decoded, and counts.
#[pyclass(module = "jhe._jhe", frozen, get_all)]
pub struct NativeFetchResult {
    pub observations: Py<PyTable>,
    pub errors: Py<PyTable>,
    pub total: u64,
    pub pages: u32,
    pub duplicates: u64,
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (url=None, token=None, *, timeout=None, page_size=None, allow_insecure=false))]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        token: Option<String>,
        timeout: Option<f64>,
        page_size: Option<u32>,
        allow_insecure: bool,
    ) -> PyResult<Self> {
        let timeout = match timeout {
            Some(seconds) if !(seconds.is_finite() && seconds > 0.0) => {
                return Err(to_py_err(
                    py,
                    crate::JheError::Config(format!("timeout must be a positive number of seconds, got {seconds}")),
                ));
            }
            Some(seconds) => Some(Duration::from_secs_f64(seconds)),
            None => None,
        };
        let options = ClientOptions {
            url,
            token,
            timeout,
            page_size,
            allow_insecure,
        };
        let config = ClientConfig::resolve(options, |name| std::env::var(name).ok())
            .map_err(|e| to_py_err(py, e))?;
        let http = HttpClient::new(&config).map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            config: Arc::new(config),
            http: Arc::new(http),
        })
    }

    /// The Exchange's URL as configured (never the token).
    #[getter]
    fn url(&self) -> String {
        self.config.display_url()
    }

    #[getter]
    fn page_size(&self) -> u32 {
        self.config.page_size
    }

    #[pyo3(signature = (*, study_id=None, patient_id=None, codes=Vec::new()))]
    fn fetch(
        &self,
        py: Python<'_>,
        study_id: Option<i64>,
        patient_id: Option<i64>,
        codes: Vec<String>,
    ) -> PyResult<NativeFetchResult> {
        let query = ObservationQuery::new(study_id, patient_id, &codes).map_err(|e| to_py_err(py, e))?;
        let (config, http) = (self.config.clone(), self.http.clone());
        let outcome = wait_for(py, async move { fetch_observations(&http, &config, &query).await })?
            .map_err(|e| to_py_err(py, e))?;
        let tables = outcome.tables;
        let table = |batch: arrow_array::RecordBatch| -> PyResult<Py<PyTable>> {
            let schema = batch.schema();
            Py::new(py, PyTable::try_new(vec![batch], schema)?)
        };
        Ok(NativeFetchResult {
            observations: table(tables.observations)?,
            errors: table(tables.errors)?,
            total: outcome.total,
            pages: outcome.pages,
            duplicates: tables.duplicates,
        })
    }

    /// Every item of a REST list endpoint (`patients`, `studies`, ...), as JSON text.
    #[pyo3(signature = (path, params=Vec::new()))]
    fn list_json(&self, py: Python<'_>, path: String, params: Vec<(String, String)>) -> PyResult<String> {
        let (config, http) = (self.config.clone(), self.http.clone());
        let items = wait_for(py, async move { list_all(&http, &config, &path, &params).await })?
            .map_err(|e| to_py_err(py, e))?;
        Ok(serde_json::Value::Array(items).to_string())
    }

    fn __repr__(&self) -> String {
        format!("NativeClient(url={:?})", self.config.display_url())
    }
}
