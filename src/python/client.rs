//! `jhe._jhe.NativeClient`: holds a session (settings, HTTP pool, what was learnt about
//! the server); each call runs on the shared runtime with the GIL released.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::config::{ClientConfig, ClientOptions};
use crate::fetch::{Api, Session, fetch_observations};
use crate::query::{ObservationQuery, QueryArgs};
use crate::table::Layout;
use crate::rest::{list_all, rest_url};

use super::errors::to_py_err;
use super::runtime::wait_for;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeClient {
    session: Arc<Session>,
}

/// One fetch's result: the tables (one per code in the wide layout, one in the long), the
/// records that could not be decoded, and counts.
#[pyclass(module = "jhe._jhe", frozen, get_all)]
pub struct NativeFetchResult {
    pub tables: Vec<(Option<String>, Py<PyTable>)>,
    pub errors: Py<PyTable>,
    pub layout: &'static str,
    pub total: u64,
    pub observations: u64,
    pub requests: u64,
    pub duplicates: u64,
    pub duplicate_uuids: u64,
    pub api: &'static str,
    pub generation: &'static str,
}

fn config_error(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, crate::JheError::Config(message))
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (
        url=None, token=None, *, client_key=None, client_id=None, client_secret=None,
        refresh_token=None, timeout=None, retries=None, concurrency=None, page_size=None,
        allow_insecure=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        token: Option<String>,
        client_key: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        refresh_token: Option<String>,
        timeout: Option<f64>,
        retries: Option<u32>,
        concurrency: Option<usize>,
        page_size: Option<u32>,
        allow_insecure: bool,
    ) -> PyResult<Self> {
        let timeout = match timeout {
            Some(seconds) if !(seconds.is_finite() && seconds > 0.0) => {
                return Err(config_error(py, format!("timeout must be a positive number of seconds, got {seconds}")));
            }
            Some(seconds) => Some(Duration::from_secs_f64(seconds)),
            None => None,
        };
        let options = ClientOptions {
            url,
            token,
            client_key,
            client_id,
            client_secret,
            refresh_token,
            timeout,
            page_size,
            retries,
            concurrency,
            allow_insecure,
        };
        let config = ClientConfig::resolve(options, |name| std::env::var(name).ok()).map_err(|e| to_py_err(py, e))?;
        let session = Session::new(config).map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            session: Arc::new(session),
        })
    }

    /// The Exchange's URL as configured (never a credential).
    #[getter]
    fn url(&self) -> String {
        self.session.config.display_url()
    }

    #[getter]
    fn page_size(&self) -> u32 {
        self.session.config.page_size
    }

    #[getter]
    fn concurrency(&self) -> usize {
        self.session.config.concurrency
    }

    /// How the client authenticates: "token", "client_credentials" or "refresh_token".
    #[getter]
    fn auth_method(&self) -> &'static str {
        match self.session.config.credentials {
            crate::config::Credentials::Token(_) => "token",
            crate::config::Credentials::ClientCredentials { .. } => "client_credentials",
            crate::config::Credentials::RefreshToken { .. } => "refresh_token",
        }
    }

    #[pyo3(signature = (
        *, study_id=None, patient_id=None, organization_id=None, codes=Vec::new(),
        patient_identifier=None, since=None, until=None, updated_since=None, api="auto", layout="long"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &self,
        py: Python<'_>,
        study_id: Option<i64>,
        patient_id: Option<i64>,
        organization_id: Option<i64>,
        codes: Vec<String>,
        patient_identifier: Option<(String, String)>,
        since: Option<String>,
        until: Option<String>,
        updated_since: Option<String>,
        api: &str,
        layout: &str,
    ) -> PyResult<NativeFetchResult> {
        let layout = match layout {
            "wide" => Layout::Wide,
            "long" => Layout::Long,
            other => return Err(config_error(py, format!("layout must be \"wide\" or \"long\", got {other:?}"))),
        };
        let query = ObservationQuery::from_args(QueryArgs {
            study_id,
            patient_id,
            organization_id,
            codes,
            patient_identifier,
            since,
            until,
            updated_since,
        })
        .map_err(|e| to_py_err(py, e))?;
        let api = Api::parse(api).map_err(|e| to_py_err(py, e))?;
        let session = self.session.clone();
        let outcome = wait_for(py, async move { fetch_observations(&session, &query, api, layout).await })?
            .map_err(|e| to_py_err(py, e))?;
        let tables = outcome.tables;
        let table = |batch: arrow_array::RecordBatch| -> PyResult<Py<PyTable>> {
            let schema = batch.schema();
            Py::new(py, PyTable::try_new(vec![batch], schema)?)
        };
        Ok(NativeFetchResult {
            tables: tables
                .tables
                .into_iter()
                .map(|(code, batch)| Ok((code, table(batch)?)))
                .collect::<PyResult<_>>()?,
            errors: table(tables.errors)?,
            layout: match layout {
                Layout::Wide => "wide",
                Layout::Long => "long",
            },
            total: outcome.total,
            observations: tables.observations,
            requests: outcome.requests,
            duplicates: tables.duplicates,
            duplicate_uuids: tables.duplicate_uuids,
            api: outcome.api.name(),
            generation: match outcome.generation {
                crate::fhir::Generation::Current => "current",
                crate::fhir::Generation::Legacy => "legacy",
            },
        })
    }

    /// Every item of a REST list endpoint (`patients`, `studies`, ...), as JSON text.
    #[pyo3(signature = (path, params=Vec::new()))]
    fn list_json(&self, py: Python<'_>, path: String, params: Vec<(String, String)>) -> PyResult<String> {
        let session = self.session.clone();
        let items = wait_for(py, async move {
            list_all(&session.http, &session.config, &path, &params).await
        })?
        .map_err(|e| to_py_err(py, e))?;
        Ok(serde_json::Value::Array(items).to_string())
    }

    /// One REST document (`users/profile`, `patients/{id}`, ...), as JSON text.
    fn get_json(&self, py: Python<'_>, path: String) -> PyResult<String> {
        let session = self.session.clone();
        let body = wait_for(py, async move {
            let url = rest_url(&session.config.base_url, &path, &[])?;
            session.http.get_json(&url).await
        })?
        .map_err(|e| to_py_err(py, e))?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn __repr__(&self) -> String {
        format!("NativeClient(url={:?})", self.session.config.display_url())
    }
}
