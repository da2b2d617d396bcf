//! `jhe._jhe.NativeClient`: holds a session (settings, HTTP pool, what was learnt about
//! the server); each call runs on the shared runtime with the GIL released.

use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::{PyArray, PySchema, PyTable};

use crate::config::{ClientConfig, ClientOptions};
use crate::fetch::{FetchOutcome, Progress, Session, count_matching, effective_range, fetch_observations, newest_update, fetch_resource_table, search_resources};
use crate::query::FetchRequest;
use crate::source::admin::{get_all, list_all, rest_url};
use crate::source::resources::ResourceQuery;

use super::arguments::{Filters, Options, fetch_request, from_keywords, id, origin};
use super::runtime::{wait_for, wait_for_ticking};

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeClient {
    session: Arc<Session>,
}

/// One fetch's result: the tables (one per code in the wide layout, one in the long or flat), the
/// records that could not be decoded, and counts. Arrow data stays in Rust until asked for.
#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeFetchResult {
    /// The outcome's tables, `None` once moved out by [`NativeFetchResult::take_tables`].
    tables: Mutex<Option<Vec<(Option<String>, RecordBatch)>>>,
    outcome: FetchOutcome,
    /// [`FetchRequest::single_table_code`] of the request.
    single_code: Option<String>,
}

/// A table moved to Python column by column: its code, its schema and one array per column.
type TakenTable = (Option<String>, Py<PySchema>, Vec<Py<PyArray>>);

impl NativeFetchResult {
    fn new(mut outcome: FetchOutcome, single_code: Option<String>) -> Self {
        let tables = Mutex::new(Some(std::mem::take(&mut outcome.tables.tables)));
        Self { tables, outcome, single_code }
    }

    /// This result with other tables (the same counts): what de-identification makes of it.
    pub(super) fn with_tables(
        &self,
        transform: impl FnOnce(&[(Option<String>, RecordBatch)], &RecordBatch) -> crate::Result<(Vec<(Option<String>, RecordBatch)>, RecordBatch)>,
    ) -> PyResult<Self> {
        let held = self.held_tables()?;
        let (tables, errors) = transform(held.as_ref().ok_or_else(moved_out)?, &self.outcome.tables.errors)?;
        // The outcome holds no tables (they are `self.tables`): a clone is its counts.
        let mut outcome = self.outcome.clone();
        outcome.tables.errors = errors;
        Ok(Self { tables: Mutex::new(Some(tables)), outcome, single_code: self.single_code.clone() })
    }

    pub(super) fn layout_of(&self) -> crate::query::Layout {
        self.outcome.tables.layout
    }

    fn held_tables(&self) -> PyResult<MutexGuard<'_, Option<Vec<(Option<String>, RecordBatch)>>>> {
        self.tables.lock().map_err(|_| PyRuntimeError::new_err("jhe's result is unusable: a conversion of it panicked"))
    }
}

fn moved_out() -> PyErr {
    PyRuntimeError::new_err("this result's tables were moved into pandas; fetch again to convert it another way")
}

fn take_table(py: Python<'_>, code: Option<String>, batch: RecordBatch) -> PyResult<TakenTable> {
    let schema = batch.schema();
    let arrays = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| Py::new(py, PyArray::new(column.clone(), field.clone())))
        .collect::<PyResult<_>>()?;
    Ok((code, Py::new(py, PySchema::new(schema))?, arrays))
}

fn single_code(request: &FetchRequest) -> Option<String> {
    request.single_table_code().map(str::to_string)
}

fn to_py_table(py: Python<'_>, batch: &arrow_array::RecordBatch) -> PyResult<Py<PyTable>> {
    Py::new(py, PyTable::try_new(vec![batch.clone()], batch.schema())?)
}

#[pymethods]
impl NativeFetchResult {
    /// `(code, table)` pairs: one per code in the wide layout, one `(None, table)` in the long or flat.
    #[getter]
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<(Option<String>, Py<PyTable>)>> {
        let held = self.held_tables()?;
        let tables = held.as_ref().ok_or_else(moved_out)?;
        tables.iter().map(|(code, batch)| Ok((code.clone(), to_py_table(py, batch)?))).collect()
    }

    /// The tables moved out, each as `(code, schema, arrays)` with one array per column, so
    /// that a conversion can free each column as soon as it is converted: nothing in Rust
    /// keeps them. [`Self::tables`] raises from then on.
    fn take_tables(&self, py: Python<'_>) -> PyResult<Vec<TakenTable>> {
        let tables = self.held_tables()?.take().ok_or_else(moved_out)?;
        tables.into_iter().map(|(code, batch)| take_table(py, code, batch)).collect()
    }

    /// `(observation id, last_updated µs)` of each observation held stored at or after `at`.
    fn delivered_since(&self, at: i64) -> PyResult<Vec<(i64, i64)>> {
        let held = self.held_tables()?;
        Ok(crate::table::delivered_since(held.as_ref().ok_or_else(moved_out)?, at)?)
    }

    /// Records in the errors table.
    #[getter]
    fn error_count(&self) -> usize {
        self.outcome.tables.errors.num_rows()
    }

    /// The latest `lastUpdated` (µs) among every row received, kept or not.
    #[getter]
    fn newest_last_updated(&self) -> Option<i64> {
        self.outcome.tables.newest_last_updated
    }

    #[getter]
    fn errors(&self, py: Python<'_>) -> PyResult<Py<PyTable>> {
        to_py_table(py, &self.outcome.tables.errors)
    }

    #[getter]
    fn layout(&self) -> &'static str {
        self.outcome.tables.layout.name()
    }

    /// The code whose table is the whole result (one code asked for, wide layout), else None.
    #[getter]
    fn single_code(&self) -> Option<&str> {
        self.single_code.as_deref()
    }

    /// The server's count of matching observations (on an older server, before the filters
    /// jhe applies itself).
    #[getter]
    fn server_total(&self) -> u64 {
        self.outcome.server_total
    }

    /// Observations in the tables: what the result holds.
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

    /// Rows a reading of changes read again unchanged and skipped (`delivered`).
    #[getter]
    fn redelivered(&self) -> u64 {
        self.outcome.tables.redelivered
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
        generation_name(self.outcome.generation)
    }
}

fn generation_name(generation: crate::source::Generation) -> &'static str {
    match generation {
        crate::source::Generation::Current => "current",
        crate::source::Generation::Legacy => "legacy",
    }
}

impl NativeClient {
    /// `call`'s answer for a query, run on the shared runtime without the GIL, its error
    /// scrubbed of secrets.
    fn answer<T, Answer>(
        &self,
        py: Python<'_>,
        filters: Option<Filters>,
        request: Option<&Bound<'_, PyDict>>,
        call: impl FnOnce(Arc<Session>, FetchRequest) -> Answer,
    ) -> PyResult<T>
    where
        T: Send + 'static,
        Answer: std::future::Future<Output = crate::Result<T>> + Send + 'static,
    {
        let request = fetch_request(filters, request)?;
        let session = self.session.clone();
        let answer = call(self.session.clone(), request);
        Ok(wait_for(py, async move { answer.await.map_err(|e| session.http.redact(e)) })??)
    }
}

#[pymethods]
impl NativeClient {
    /// `url`, `token` and the keyword arguments of `jhe.ClientOptions`.
    #[new]
    #[pyo3(signature = (url=None, token=None, **options))]
    fn new(py: Python<'_>, url: Option<String>, token: Option<String>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let Options(options) = from_keywords(py, options)?;
        let options = ClientOptions { url, token, ..options };
        let config = ClientConfig::resolve(options, |name| std::env::var(name).ok())?;
        Ok(Self {
            session: Arc::new(Session::new(config)?),
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

    #[getter]
    fn max_concurrency(&self) -> usize {
        self.session.config.max_concurrency
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

    /// Fetch observations: `filters` (a `jhe.Filters` dict, as the caller gave them), and as
    /// keywords `study_id`, `patient_id`, `codes` (one or several) or filters.
    /// `progress(pages_done, pages_total, rows_done, rows_total)` is called from this thread
    /// every tenth of a second while it runs.
    #[pyo3(signature = (filters=None, /, *, progress=None, **request))]
    fn fetch(
        &self,
        py: Python<'_>,
        filters: Option<Filters>,
        progress: Option<Py<PyAny>>,
        request: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<NativeFetchResult> {
        let request = fetch_request(filters, request)?;
        let single_code = single_code(&request);
        let (session, counters) = (self.session.clone(), Arc::new(Progress::default()));
        let shared = counters.clone();
        let future = async move { fetch_observations(&session, &request, shared).await.map_err(|e| session.http.redact(e)) };
        let outcome = wait_for_ticking(py, future, |py| match &progress {
            Some(callback) => callback.call1(py, counters.snapshot()).map(drop),
            None => Ok(()),
        })??;
        Ok(NativeFetchResult::new(outcome, single_code))
    }

    /// [`Self::fetch`] as an awaitable on the shared runtime (no progress callback).
    #[pyo3(signature = (filters=None, /, **request))]
    fn fetch_async<'py>(
        &self,
        py: Python<'py>,
        filters: Option<Filters>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = fetch_request(filters, request)?;
        let single_code = single_code(&request);
        let session = self.session.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let outcome = fetch_observations(&session, &request, Arc::default()).await.map_err(|e| session.http.redact(e))?;
            Ok(NativeFetchResult::new(outcome, single_code))
        })
    }

    /// The newest `last_updated` (µs) among the rows the query matches, by the server's
    /// clock, or None when none does (`jhe.fetch::newest_update`).
    #[pyo3(signature = (filters=None, /, **request))]
    fn newest_update(&self, py: Python<'_>, filters: Option<Filters>, request: Option<&Bound<'_, PyDict>>) -> PyResult<Option<i64>> {
        self.answer(py, filters, request, |session, request| async move { newest_update(&session, &request).await })
    }

    /// The server's API generation, "current" or "legacy", asked once per client: a fetch
    /// after it no longer asks `metadata` beside its first page.
    fn generation_of_server(&self, py: Python<'_>) -> PyResult<&'static str> {
        let session = self.session.clone();
        let generation = wait_for(py, async move { session.generation().await.map_err(|e| session.http.redact(e)) })??;
        Ok(generation_name(generation))
    }

    /// `(total, exact)`: how many rows the query matches on the server now, and whether
    /// that is exact (an older server's total is before the time filters it ignores).
    #[pyo3(signature = (filters=None, /, **request))]
    fn count(&self, py: Python<'_>, filters: Option<Filters>, request: Option<&Bound<'_, PyDict>>) -> PyResult<(u64, bool)> {
        self.answer(py, filters, request, |session, request| async move { count_matching(&session, &request).await })
    }

    /// `(first, last)`: the earliest and the latest effective start (µs) among the rows the
    /// query matches, or None when none does (`jhe.fetch::effective_range`: two rows per
    /// code on a current server; every row on an older one).
    #[pyo3(signature = (filters=None, /, **request))]
    fn effective_range(&self, py: Python<'_>, filters: Option<Filters>, request: Option<&Bound<'_, PyDict>>) -> PyResult<Option<(i64, i64)>> {
        self.answer(py, filters, request, |session, request| async move { effective_range(&session, &request).await })
    }

    /// [`Self::newest_update`] as an awaitable on the shared runtime.
    #[pyo3(signature = (filters=None, /, **request))]
    fn newest_update_async<'py>(
        &self,
        py: Python<'py>,
        filters: Option<Filters>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = fetch_request(filters, request)?;
        let session = self.session.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            Ok(newest_update(&session, &request).await.map_err(|e| session.http.redact(e))?)
        })
    }

    /// Every item of a REST list endpoint (`patients`, `studies`, ...), as JSON text.
    #[pyo3(signature = (path, params=Vec::new()))]
    fn list_json(&self, py: Python<'_>, path: String, params: Vec<(String, String)>) -> PyResult<String> {
        let session = self.session.clone();
        let items = wait_for(py, async move {
            list_all(&session.http, &session.config, &path, &params).await.map_err(|e| session.http.redact(e))
        })??;
        Ok(serde_json::Value::Array(items).to_string())
    }

    /// One REST document (`users/profile`, `patients/{id}`, ...), as JSON text.
    fn get_json(&self, py: Python<'_>, path: String) -> PyResult<String> {
        let session = self.session.clone();
        let body = wait_for(py, async move {
            let url = rest_url(&session.config.base_url, &path, &[])?;
            session.http.get_json(&url).await
        })??;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Several REST documents, as JSON text each, in the order of `paths`, with as many
    /// requests in flight as the client's `concurrency`; the first error is raised.
    fn get_json_many(&self, py: Python<'_>, paths: Vec<String>) -> PyResult<Vec<String>> {
        let session = self.session.clone();
        let bodies = wait_for(py, async move {
            let config = &session.config;
            get_all(&session.http, &config.base_url, &paths, config.concurrency).await.map_err(|e| session.http.redact(e))
        })??;
        Ok(bodies.iter().map(|body| String::from_utf8_lossy(body).into_owned()).collect())
    }

    /// Every resource of `resource_type` a search matches (a study's or patient's; in the
    /// stores `source` names), each as its JSON text as the server sent it, every page read
    /// with as many in flight as the client's `concurrency`.
    #[pyo3(signature = (resource_type, *, study_id=None, patient_id=None, source=None, params=Vec::new()))]
    fn search_resources(
        &self,
        py: Python<'_>,
        resource_type: String,
        study_id: Option<&Bound<'_, PyAny>>,
        patient_id: Option<&Bound<'_, PyAny>>,
        source: Option<&Bound<'_, PyAny>>,
        params: Vec<(String, String)>,
    ) -> PyResult<Vec<String>> {
        let (query, origin) = resource_query(resource_type, study_id, patient_id, source, params)?;
        let session = self.session.clone();
        let resources = wait_for(py, async move {
            search_resources(&session, &query, &origin).await.map_err(|e| session.http.redact(e))
        })??;
        Ok(resources.into_iter().map(|resource| String::from(Box::<str>::from(resource))).collect())
    }

    /// [`Self::search_resources`] as one Arrow table: `id`, `patient_id`, `source`,
    /// `last_updated`, then a column per key path (`code.coding[0].code`).
    #[pyo3(signature = (resource_type, *, study_id=None, patient_id=None, source=None, params=Vec::new()))]
    fn fetch_resources(
        &self,
        py: Python<'_>,
        resource_type: String,
        study_id: Option<&Bound<'_, PyAny>>,
        patient_id: Option<&Bound<'_, PyAny>>,
        source: Option<&Bound<'_, PyAny>>,
        params: Vec<(String, String)>,
    ) -> PyResult<Py<PyTable>> {
        let (query, origin) = resource_query(resource_type, study_id, patient_id, source, params)?;
        let session = self.session.clone();
        let batch = wait_for(py, async move {
            fetch_resource_table(&session, &query, &origin).await.map_err(|e| session.http.redact(e))
        })??;
        Py::new(py, PyTable::try_new(vec![batch.clone()], batch.schema())?)
    }

    /// The resource types the server's CapabilityStatement lists (a current server).
    fn fhir_resource_types(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let session = self.session.clone();
        let types = wait_for(py, async move {
            let capabilities = session.capabilities().await.map_err(|e| session.http.redact(e))?;
            Ok::<_, crate::JheError>(capabilities.resource_types().map(str::to_string).collect::<Vec<_>>())
        })??;
        Ok(types)
    }

    fn __repr__(&self) -> String {
        format!("NativeClient(url={:?})", self.session.config.display_url())
    }
}

/// A resource search's arguments, checked.
fn resource_query(
    resource_type: String,
    study_id: Option<&Bound<'_, PyAny>>,
    patient_id: Option<&Bound<'_, PyAny>>,
    source: Option<&Bound<'_, PyAny>>,
    params: Vec<(String, String)>,
) -> PyResult<(ResourceQuery, crate::origin::Origin)> {
    let query = ResourceQuery {
        resource_type,
        study_id: study_id.map(|value| id("study_id", value)).transpose()?.flatten(),
        patient_id: patient_id.map(|value| id("patient_id", value)).transpose()?.flatten(),
        params,
    };
    Ok((query, source.map(origin).transpose()?.unwrap_or_default()))
}
