//! `jhe._jhe.NativeClient`: holds a session (settings, HTTP pool, what was learnt about
//! the server); each call runs on the shared runtime with the GIL released.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::config::{ClientConfig, ClientOptions};
use crate::fetch::{Api, FetchOutcome, Progress, Session, fetch_observations, fetch_with_options};
use crate::query::{ObservationQuery, QueryArgs};
use crate::table::Layout;
use crate::source::admin::{list_all, rest_url};

use super::errors::to_py_err;
use super::runtime::{wait_for, wait_for_ticking};

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeClient {
    session: Arc<Session>,
}

/// One fetch's result: the tables (one per code in the wide layout, one in the long), the
/// records that could not be decoded, and counts. Arrow data stays in Rust until asked for.
#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeFetchResult {
    outcome: FetchOutcome,
}

fn to_py_table(py: Python<'_>, batch: &arrow_array::RecordBatch) -> PyResult<Py<PyTable>> {
    Py::new(py, PyTable::try_new(vec![batch.clone()], batch.schema())?)
}

#[pymethods]
impl NativeFetchResult {
    /// `(code, table)` pairs: one per code in the wide layout, one `(None, table)` in the long.
    #[getter]
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<(Option<String>, Py<PyTable>)>> {
        self.outcome
            .tables
            .tables
            .iter()
            .map(|(code, batch)| Ok((code.clone(), to_py_table(py, batch)?)))
            .collect()
    }

    #[getter]
    fn errors(&self, py: Python<'_>) -> PyResult<Py<PyTable>> {
        to_py_table(py, &self.outcome.tables.errors)
    }

    #[getter]
    fn layout(&self) -> &'static str {
        match self.outcome.tables.layout {
            Layout::Wide => "wide",
            Layout::Long => "long",
        }
    }

    #[getter]
    fn total(&self) -> u64 {
        self.outcome.total
    }

    #[getter]
    fn observations(&self) -> u64 {
        self.outcome.tables.observations
    }

    #[getter]
    fn requests(&self) -> u64 {
        self.outcome.requests
    }

    #[getter]
    fn duplicates(&self) -> u64 {
        self.outcome.tables.duplicates
    }

    #[getter]
    fn duplicate_uuids(&self) -> u64 {
        self.outcome.tables.duplicate_uuids
    }

    #[getter]
    fn api(&self) -> &'static str {
        self.outcome.api.name()
    }

    #[getter]
    fn generation(&self) -> &'static str {
        match self.outcome.generation {
            crate::source::Generation::Current => "current",
            crate::source::Generation::Legacy => "legacy",
        }
    }
}

/// Filters and layout as Python passes them, checked before anything is sent.
fn parse_request(
    py: Python<'_>,
    args: QueryArgs,
    api: &str,
    layout: &str,
) -> PyResult<(ObservationQuery, Api, Layout)> {
    let query = ObservationQuery::from_args(args).map_err(|e| to_py_err(py, e))?;
    let api = Api::parse(api).map_err(|e| to_py_err(py, e))?;
    let layout = match layout {
        "wide" => Layout::Wide,
        "long" => Layout::Long,
        other => return Err(config_error(py, format!("layout must be \"wide\" or \"long\", got {other:?}"))),
    };
    Ok((query, api, layout))
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

    /// Fetch observations; `progress(pages_done, pages_total, rows_done, rows_total)` is
    /// called from this thread every tenth of a second while it runs.
    /// `extras=True` adds, per observation, its whole OMH header by key path
    /// (`header.schema_id.name`, ...), FHIR `meta.source` and `identifier.{i}.{key}`;
    /// date-times as UTC timestamps with `{path}:local` wall-time twins.
    #[pyo3(signature = (
        *, study_id=None, patient_id=None, organization_id=None, codes=Vec::new(),
        patient_identifier=None, since=None, until=None, updated_since=None, api="auto", layout="long",
        progress=None, extras=false
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
        progress: Option<Py<PyAny>>,
        extras: bool,
    ) -> PyResult<NativeFetchResult> {
        let args = QueryArgs { study_id, patient_id, organization_id, codes, patient_identifier, since, until, updated_since };
        let (query, api, layout) = parse_request(py, args, api, layout)?;
        let session = self.session.clone();
        let counters = Arc::new(Progress::default());
        let shared = counters.clone();
        let future = async move { fetch_with_options(&session, &query, api, layout, extras, shared).await };
        let outcome = wait_for_ticking(py, future, |py| match &progress {
            Some(callback) => callback.call1(py, counters.snapshot()).map(drop),
            None => Ok(()),
        })?
        .map_err(|e| to_py_err(py, e))?;
        Ok(NativeFetchResult { outcome })
    }

    /// [`Self::fetch`] as an awaitable on the shared runtime (no progress callback).
    #[pyo3(signature = (
        *, study_id=None, patient_id=None, organization_id=None, codes=Vec::new(),
        patient_identifier=None, since=None, until=None, updated_since=None, api="auto", layout="long"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fetch_async<'py>(
        &self,
        py: Python<'py>,
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
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = QueryArgs { study_id, patient_id, organization_id, codes, patient_identifier, since, until, updated_since };
        let (query, api, layout) = parse_request(py, args, api, layout)?;
        let session = self.session.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let outcome = fetch_observations(&session, &query, api, layout)
                .await
                .map_err(|e| Python::attach(|py| to_py_err(py, e)))?;
            Ok(NativeFetchResult { outcome })
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
