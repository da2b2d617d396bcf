//! The fetch verb, the stage that drives the others. In: a session and a query. Out: a
//! [`FetchOutcome`]: the finished tables and what it took.
//!
//! [`plan`] picks the API and the searches; [`read`] reads each search's pages (the first,
//! then every planned page, as many in flight as [`pace`] allows, each decoded on a
//! blocking thread by a task of [`tasks`] and appended in page order); [`reconcile`] proves
//! the result complete against the server's count. Rows are de-duplicated by observation
//! id throughout. How far pages are followed is bounded by [`crate::source::paging`].
//!
//! A reading of what changed since an instant ([`crate::query::Changes`]) is the same
//! fetch on a current server, and on an older one a reading of the REST list back to that
//! instant ([`changes`]).
//!
//! A client's first fetch asks the first page alongside the `metadata` that tells the
//! server's generation, guessing the current one; an older server 404s both, and its own
//! first page is asked then.

mod changes;
mod pace;
mod plan;
mod read;
mod reconcile;
mod resources;
mod tasks;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::OnceCell;

use crate::config::ClientConfig;
use crate::error::{JheError, Result};
use crate::http::HttpClient;
pub use crate::query::Api;
use crate::query::{FetchRequest, Layout};
use crate::source::capability::Capabilities;
use crate::source::{Generation, fhir};
use crate::table::{ClientFilter, ObservationTableBuilder, ObservationTables};
pub use changes::{count_matching, effective_range, newest_update};
pub use pace::PaceReport;
pub use resources::{fetch_resource_table, search_resources};
use pace::Pace;
use read::{Opening, Reader};

/// A configured client: settings, the HTTP pool and what was learnt about the server.
#[derive(Debug)]
pub struct Session {
    pub config: ClientConfig,
    /// Shared with the tasks that fetch pages.
    pub http: Arc<HttpClient>,
    generation: OnceCell<Generation>,
    capabilities: OnceCell<Capabilities>,
}

impl Session {
    pub fn new(config: ClientConfig) -> Result<Self> {
        crate::allocator::tune();
        let http = Arc::new(HttpClient::new(&config)?);
        Ok(Self {
            config,
            http,
            generation: OnceCell::new(),
            capabilities: OnceCell::new(),
        })
    }

    /// The server's API generation, if it was asked already.
    pub fn known_generation(&self) -> Option<Generation> {
        self.generation.get().copied()
    }

    /// The server's API generation, asked once per session.
    pub async fn generation(&self) -> Result<Generation> {
        let discover = || async {
            let (generation, capabilities) = fhir::discover_generation(&self.http, &self.config.base_url).await?;
            if let Some(capabilities) = capabilities {
                // Kept: a feature that needs them would ask the same document again.
                let _ = self.capabilities.set(capabilities);
            }
            Ok::<_, JheError>(generation)
        };
        self.generation.get_or_try_init(discover).await.copied()
    }

    /// A current server's CapabilityStatement, asked once per session (when a feature
    /// depends on a search parameter the server might ignore).
    pub async fn capabilities(&self) -> Result<&Capabilities> {
        self.capabilities.get_or_try_init(|| Capabilities::fetch(&self.http, &self.config.base_url)).await
    }
}

/// How far a fetch has got, readable from another thread while it runs (for progress bars).
#[derive(Debug, Default)]
pub struct Progress {
    pub pages_done: AtomicU64,
    pub pages_total: AtomicU64,
    pub rows_done: AtomicU64,
    pub rows_total: AtomicU64,
}

impl Progress {
    /// `(pages done, pages planned, observations received, observations announced)`.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.pages_done.load(Ordering::Relaxed),
            self.pages_total.load(Ordering::Relaxed),
            self.rows_done.load(Ordering::Relaxed),
            self.rows_total.load(Ordering::Relaxed),
        )
    }
}

#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// What the user gets: `tables.observations` counts their rows.
    pub tables: ObservationTables,
    /// The server's count of matching observations at the end of the fetch. On an older
    /// server that is before the time and code filters it ignores and jhe applies, so it
    /// can exceed `tables.observations`.
    pub server_total: u64,
    /// Requests made for pages and counts.
    pub requests: u64,
    pub api: Api,
    pub generation: Generation,
    /// How many page requests were in flight: at the start, at most and at the end.
    pub pace: PaceReport,
}

/// The tables a fetch of `request` has when nothing matches, typed from the catalogue (its
/// layout, codes and `columns=`) without asking the server: a Dask frame's `meta`.
pub fn empty_tables(request: &FetchRequest) -> ObservationTables {
    let builder = table_builder(request);
    let mut tables = builder.finish();
    // As a fetch finishes its tables (the sort drops the long table's arrival order).
    tables.sort_newest_first();
    tables.keep_selected();
    tables
}

/// The tables `request` asks for: its layout, codes and columns, and each row's origin
/// when it reads imported records.
pub(crate) fn table_builder(request: &FetchRequest) -> ObservationTableBuilder {
    ObservationTableBuilder::new(request.layout, &request.query.code_names())
        .with_columns(request.columns.clone())
        .with_origins(request.query.origin.reads_imported())
}

/// Fetch every observation `request` asks for, counting pages and rows into `progress`.
pub async fn fetch_observations(session: &Session, request: &FetchRequest, progress: Arc<Progress>) -> Result<FetchOutcome> {
    match fetch_all(session, request, progress.clone()).await {
        Err(error @ JheError::Http { status: 404, .. }) if progress.pages_done.load(Ordering::Relaxed) == 0 => {
            Err(plan::explain_not_found(session, error).await)
        }
        outcome => outcome,
    }
}

async fn fetch_all(session: &Session, request: &FetchRequest, progress: Arc<Progress>) -> Result<FetchOutcome> {
    let (query, api, layout) = (&request.query, request.api, request.layout);
    let config = &session.config;
    let pace = Pace::new(config.concurrency, config.max_concurrency);
    let mut builder = table_builder(request);
    // Not knowing the generation yet, ask the current one's first page alongside `metadata`
    // rather than after it: a round trip saved on a current server, a 404 on an older one.
    // Not for imported records: the server must first be seen to know `_source`.
    let guessed = match session.known_generation() {
        None if api != Api::Rest && !query.origin.reads_imported() => {
            let first = plan::searches(&config.base_url, query, Api::Fhir, Generation::Current).swap_remove(0);
            Some(Opening::ask(session, &pace, &first, builder.page_options(), builder.shape().clone()).await)
        }
        _ => None,
    };
    if request.changes.is_some() && changes::reads_rest_newest_first(request, session.generation().await?) {
        drop(guessed);
        return changes::read_newest_first(session, request, progress).await;
    }
    if let Some(changes) = &request.changes {
        builder = builder.with_delivered(&changes.delivered);
    }
    let (api, generation) = plan::choose_api(session, query, api).await?;
    if api == Api::Rest && layout == Layout::Flat {
        return Err(JheError::Config("the flat layout flattens FHIR resources; use api=\"fhir\"".into()));
    }
    if api == Api::Rest {
        plan::check_rest_access(session, query).await?;
    }
    let searches = plan::searches(&config.base_url, query, api, generation);
    if !generation.matches_codes_exactly() {
        builder = builder.with_loose_code_matching();
    }
    // Older servers ignore time filters and match codes with LIKE: apply them here so no
    // filter is silently dropped, and as rows arrive, so every count is of what is kept.
    let client_filter = (api == Api::Fhir && !generation.honours_time_filters()).then(|| ClientFilter::new(query)).flatten();
    if let Some(filter) = client_filter {
        builder = builder.with_filter(filter);
    }
    let mut reader = Reader::new(session, &mut builder, progress, pace);
    let freeze = api == Api::Fhir && generation.honours_time_filters();
    let server_total = reconcile::read_complete(&mut reader, &searches, freeze, guessed).await?;
    let (requests, pace) = (reader.requests, reader.pace());
    let mut tables = builder.finish();
    tables.sort_newest_first();
    tables.keep_selected();
    Ok(FetchOutcome { tables, server_total, requests, api, generation, pace })
}
