//! The fetch verb: plan every page from the first page's total, fetch them with a bounded
//! number in flight, decode each as it arrives (on every core, appended in page order), and
//! prove the result complete.
//!
//! Rows can be written while a fetch runs. Where the server honours `_lastUpdated`
//! (current FHIR), every page after the first is bounded by the newest row of the first
//! page, which freezes the result set; what was written since is read afterwards as a
//! catch-up. Elsewhere a changed total means reading the pages again. Either way the server
//! is asked for the total once more (alongside the frozen pages, or after the last page):
//! the rows returned match it, or `InconsistentResult` is raised. Rows are de-duplicated by observation id throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt as _;
use tokio::sync::OnceCell;
use url::Url;

use crate::config::ClientConfig;
use crate::error::{JheError, Result};
use crate::fhir::{self, Generation, PageSummary, Snapshot};
use crate::http::{HttpClient, redact_url};
pub use crate::query::Api;
use crate::query::{Coding, FetchRequest, ObservationQuery};
use crate::rest;
use crate::table::{ClientFilter, Layout, ObservationSink, ObservationTableBuilder, ObservationTables, PreparedPage};

/// Rounds of re-reading before a changing result is reported as inconsistent.
const MAX_RECONCILE_ROUNDS: usize = 3;

/// A configured client: settings, the HTTP pool and what was learnt about the server.
#[derive(Debug)]
pub struct Session {
    pub config: ClientConfig,
    /// Shared with the tasks that fetch pages.
    pub http: Arc<HttpClient>,
    generation: OnceCell<Generation>,
}

impl Session {
    pub fn new(config: ClientConfig) -> Result<Self> {
        crate::tune_allocator();
        let http = Arc::new(HttpClient::new(&config)?);
        Ok(Self {
            config,
            http,
            generation: OnceCell::new(),
        })
    }

    /// The server's API generation, asked once per session.
    pub async fn generation(&self) -> Result<Generation> {
        self.generation
            .get_or_try_init(|| fhir::discover_generation(&self.http, &self.config.base_url))
            .await
            .copied()
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

#[derive(Debug)]
pub struct FetchOutcome {
    pub tables: ObservationTables,
    /// The server's count of matching observations at the end of the fetch.
    pub total: u64,
    /// Requests made for pages and counts.
    pub requests: u64,
    pub api: Api,
    pub generation: Generation,
}

/// One search whose pages are read: an endpoint, its filters, and how to page it.
#[derive(Debug, Clone)]
struct Search {
    /// FHIR (`_count`/`_page`) or REST (`page_size`/`page`).
    fhir: bool,
    /// Without paging parameters.
    url: Url,
}

impl Search {
    fn with_page(&self, page: u64, size: u32) -> Url {
        let mut url = self.url.clone();
        {
            let mut pairs = url.query_pairs_mut();
            let (size_key, page_key) = if self.fhir { ("_count", "_page") } else { ("page_size", "page") };
            pairs.append_pair(size_key, &size.to_string());
            if !self.fhir {
                // The guide pages REST by limit/offset; real servers ignore it, so ask both ways.
                pairs.append_pair("limit", &size.to_string());
            }
            if page > 1 {
                pairs.append_pair(page_key, &page.to_string());
            }
        }
        url
    }

    fn read(&self, bytes: &[u8], url: &Url, origin: &Url, sink: &mut impl ObservationSink) -> Result<PageSummary> {
        read_page(self.fhir, bytes, url, origin, sink)
    }
}

fn read_page(fhir: bool, bytes: &[u8], url: &Url, origin: &Url, sink: &mut impl ObservationSink) -> Result<PageSummary> {
    if fhir {
        fhir::read_observation_bundle(bytes, url, origin, sink)
    } else {
        rest::read_observation_page(bytes, url, origin, sink)
    }
}

/// How many rows match `search` now (one row asked for, the total read).
async fn count_rows(http: &HttpClient, search: &Search, origin: &Url) -> Result<u64> {
    let url = search.with_page(1, 1);
    let body = http.get_json(&url).await?;
    let mut scratch = ObservationTableBuilder::new(Layout::Long, &[]);
    let page = search.read(&body, &url, origin, &mut scratch)?;
    page.total.ok_or_else(|| JheError::Protocol {
        url: redact_url(&url),
        message: "the response has no total".into(),
    })
}

/// A spawned task that is cancelled when dropped, so an abandoned fetch (an error, Ctrl-C)
/// stops its page requests instead of leaving them running.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = T;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a page task was cancelled while awaited: {error}"),
        })
    }
}

/// Fetch one page and decode it as far as can be done apart from the builder, on a
/// blocking thread, so pages are decoded in parallel while the builder appends in order.
async fn fetch_prepared(
    http: Arc<HttpClient>,
    fhir: bool,
    url: Url,
    origin: Url,
    extras: bool,
) -> (Url, Result<(PageSummary, PreparedPage)>) {
    let body = match http.get_json(&url).await {
        Ok(body) => body,
        Err(error) => return (url, Err(error)),
    };
    // One decode per core at a time: more would only queue for the CPU, and each extra
    // decoding thread keeps an allocator heap of its own (memory held for nothing).
    static DECODERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _permit = DECODERS.acquire().await.expect("the semaphore is never closed");
    AbortOnDrop(tokio::task::spawn_blocking(move || {
        let mut page = PreparedPage::new(extras);
        let summary = read_page(fhir, &body, &url, &origin, &mut page);
        (url, summary.map(|summary| (summary, page)))
    }))
    .await
}

/// How later pages are addressed, learnt from the first page's `next` link.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Paging {
    /// A page number we can set (`_page`, `page`): pages are planned and fetched concurrently.
    Numbered,
    /// `offset`/`limit`, as the guide shows: also planned.
    Offset { limit: u64 },
    /// Unknown: follow `next` links one by one.
    FollowNext,
}

fn paging_style(next: &Url) -> Paging {
    let keys: Vec<(String, String)> = next.query_pairs().into_owned().collect();
    let has = |k: &str| keys.iter().any(|(key, _)| key == k);
    if has("_page") || has("page") {
        Paging::Numbered
    } else if has("offset") {
        let limit = keys.iter().find(|(k, _)| k == "limit").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        if limit > 0 { Paging::Offset { limit } } else { Paging::FollowNext }
    } else {
        Paging::FollowNext
    }
}

fn with_offset(next: &Url, offset: u64) -> Url {
    let pairs: Vec<(String, String)> = next
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "offset" { (k, offset.to_string()) } else { (k, v) })
        .collect();
    let mut url = next.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

struct Reader<'a> {
    session: &'a Session,
    builder: &'a mut ObservationTableBuilder,
    requests: u64,
    progress: Arc<Progress>,
}

impl Reader<'_> {
    async fn get(&mut self, url: &Url) -> Result<bytes::Bytes> {
        self.requests += 1;
        self.session.http.get_json(url).await
    }

    fn page_read(&self) {
        self.progress.pages_done.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_done.store(self.builder.rows() as u64, Ordering::Relaxed);
    }

    /// Every page of `search` into the builder. With `freeze`, pages after the first are
    /// bounded by the first page's newest row, which is returned as the snapshot instant;
    /// with `count` too, so is the search's count, asked while those pages were read.
    ///
    /// Asking the count alongside the frozen pages (not after them) saves a round trip and
    /// checks as much: the frozen pages cannot gain rows, so any change after the count
    /// (a row deleted or moved out of the snapshot, one written since) makes the rows
    /// received differ from it and the fetch reconcile, as a count at the end would.
    async fn read_all(&mut self, search: &Search, freeze: bool, count: bool) -> Result<(Option<i64>, Option<u64>)> {
        let config = &self.session.config;
        let origin = &config.base_url;
        let first_url = search.with_page(1, config.page_size);
        let body = self.get(&first_url).await?;
        self.builder.start_page();
        let first = search.read(&body, &first_url, origin, self.builder)?;
        drop(body);
        self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_total.fetch_add(first.total.unwrap_or(first.entries as u64), Ordering::Relaxed);
        self.page_read();
        // Newest first: the first page holds the newest row of the whole search.
        let frozen_at = self.builder.page_newest_last_updated().filter(|_| freeze);
        let total = first.total.unwrap_or(first.entries as u64);
        let Some(next) = first.next else { return Ok((frozen_at, None)) };
        if first.entries == 0 {
            return Ok((frozen_at, None));
        }
        let rest_of_search = match frozen_at {
            Some(at) => Search {
                fhir: search.fhir,
                url: add_snapshot(&search.url, Snapshot::AtOrBefore(at)),
            },
            None => search.clone(),
        };
        let per_page = first.entries as u64;
        let pages = total.div_ceil(per_page);
        let urls: Vec<Url> = match paging_style(&next) {
            Paging::Numbered => (2..=pages).map(|k| rest_of_search.with_page(k, per_page as u32)).collect(),
            Paging::Offset { limit } => (1..total.div_ceil(limit)).map(|k| with_offset(&next, k * limit)).collect(),
            Paging::FollowNext => return self.follow_next(search, next).await.map(|()| (frozen_at, None)),
        };
        let count = frozen_at.filter(|_| count).map(|_| {
            self.requests += 1;
            let (http, search, origin) = (self.session.http.clone(), search.clone(), self.session.config.base_url.clone());
            AbortOnDrop(tokio::spawn(async move { count_rows(&http, &search, &origin).await }))
        });
        self.read_planned(search, urls).await?;
        let count = match count {
            Some(task) => Some(task.await?),
            None => None,
        };
        Ok((frozen_at, count))
    }

    /// Fetch planned pages with a bounded number in flight, each decoded on a thread of its
    /// own as it arrives and appended in page order (at most `concurrency` pages are held).
    async fn read_planned(&mut self, search: &Search, urls: Vec<Url>) -> Result<()> {
        let session = self.session;
        let concurrency = session.config.concurrency;
        self.requests += urls.len() as u64;
        self.progress.pages_total.fetch_add(urls.len() as u64, Ordering::Relaxed);
        let extras = self.builder.wants_extras();
        let mut pages = futures::stream::iter(urls)
            .map(|url| {
                let task = fetch_prepared(session.http.clone(), search.fhir, url, session.config.base_url.clone(), extras);
                AbortOnDrop(tokio::spawn(task))
            })
            .buffered(concurrency);
        while let Some((url, page)) = pages.next().await {
            match page {
                Ok((_, prepared)) => {
                    for observation in prepared.observations {
                        self.builder.append_prepared(observation);
                    }
                    self.page_read();
                }
                // The result shrank while it was read: the final count check reconciles.
                Err(JheError::Http { status: 404, .. }) => {
                    log::warn!("{} vanished while fetching", redact_url(&url));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    async fn follow_next(&mut self, search: &Search, mut next: Url) -> Result<()> {
        let mut visited = std::collections::HashSet::new();
        loop {
            if !visited.insert(next.clone()) {
                return Err(JheError::Protocol {
                    url: redact_url(&next),
                    message: "the server's next links go round in a circle".into(),
                });
            }
            let body = self.get(&next).await?;
            self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
            let page = search.read(&body, &next, &self.session.config.base_url, self.builder)?;
            self.page_read();
            match page.next {
                Some(url) if page.entries > 0 => next = url,
                _ => return Ok(()),
            }
        }
    }

    /// How many rows match `search` now.
    async fn count(&mut self, search: &Search) -> Result<u64> {
        self.requests += 1;
        count_rows(&self.session.http, search, &self.session.config.base_url).await
    }
}

fn add_snapshot(url: &Url, snapshot: Snapshot) -> Url {
    let (prefix, at) = match snapshot {
        Snapshot::AtOrBefore(at) => ("le", at),
        Snapshot::After(at) => ("gt", at),
    };
    let mut url = url.clone();
    let value = crate::query::TimeBound { utc_micros: at }.to_query_value();
    url.query_pairs_mut().append_pair("_lastUpdated", &format!("{prefix}{value}"));
    url
}

/// Pick the API for a query and check that it can answer it.
async fn choose_api(session: &Session, query: &ObservationQuery, api: Api) -> Result<(Api, Generation)> {
    let generation = session.generation().await?;
    let api = match api {
        Api::Rest => {
            if let Some(filter) = query.needs_fhir() {
                return Err(JheError::Config(format!(
                    "the REST API cannot filter by {filter} on the server; use api=\"fhir\" or api=\"auto\""
                )));
            }
            Api::Rest
        }
        Api::Fhir => Api::Fhir,
        // Both APIs fetch equally fast here (benchmarks/), but FHIR answers a study or
        // patient you may not see with 403 where REST returns an empty list. So FHIR,
        // unless an older server's FHIR cannot take the query and REST can.
        Api::Auto => {
            let fhir_cannot = generation == Generation::Legacy
                && (query.organization_id.is_some()
                    || (query.study_id.is_none() && query.patient_id.is_none() && query.patient_identifier.is_none()));
            if fhir_cannot && query.needs_fhir().is_none() { Api::Rest } else { Api::Fhir }
        }
    };
    if api == Api::Fhir && generation == Generation::Legacy {
        if query.organization_id.is_some() {
            return Err(JheError::Config(
                "this Exchange (older API) cannot filter FHIR observations by organization; drop organization_id, or use api=\"rest\" without code or time filters".into(),
            ));
        }
        if query.study_id.is_none() && query.patient_id.is_none() && query.patient_identifier.is_none() {
            return Err(JheError::Config(
                "this Exchange (older API) needs study_id, patient_id or patient_identifier for an FHIR search".into(),
            ));
        }
    }
    Ok((api, generation))
}

/// Fetch every observation matching `query`.
/// REST answers a study or patient you may not see with an empty list, not an error:
/// ask for the study and patient themselves first, which do answer 403/404.
async fn check_rest_access(session: &Session, query: &ObservationQuery) -> Result<()> {
    let base = &session.config.base_url;
    if let Some(study) = query.study_id {
        session.http.get_json(&rest::rest_url(base, &format!("studies/{study}"), &[])?).await?;
    }
    if let Some(patient) = query.patient_id {
        session.http.get_json(&rest::rest_url(base, &format!("patients/{patient}"), &[])?).await?;
    }
    Ok(())
}

/// Fetch every observation `request` asks for, counting pages and rows into `progress`.
pub async fn fetch_observations(session: &Session, request: &FetchRequest, progress: Arc<Progress>) -> Result<FetchOutcome> {
    let (query, api, layout, extras) = (&request.query, request.api, request.layout, request.extras);
    let (api, generation) = choose_api(session, query, api).await?;
    if api == Api::Rest {
        check_rest_access(session, query).await?;
    }
    let config = &session.config;
    let searches: Vec<Search> = match api {
        Api::Rest => vec![Search {
            fhir: false,
            url: rest::observation_list_url(&config.base_url, query),
        }],
        _ => {
            let base = generation.fhir_base(&config.base_url);
            // One search per code: servers match `code` exactly (or by LIKE), not as a list.
            let codes: Vec<Option<&Coding>> =
                if query.codes.is_empty() { vec![None] } else { query.codes.iter().map(Some).collect() };
            codes
                .into_iter()
                .map(|code| Search {
                    fhir: true,
                    url: fhir::observation_search_url(&base, generation, query, code, None),
                })
                .collect()
        }
    };
    let snapshots = api == Api::Fhir && generation.honours_time_filters();

    let mut builder = ObservationTableBuilder::new(layout, &query.code_names());
    if extras {
        builder = builder.with_extras();
    }
    let mut reader = Reader {
        session,
        builder: &mut builder,
        requests: 0,
        progress,
    };
    // Per search: the instant its result set was frozen at, for the catch-up, and its
    // count if it was asked while reading.
    let mut frozen_at = Vec::with_capacity(searches.len());
    let mut early_counts = Vec::with_capacity(searches.len());
    for search in &searches {
        let (frozen, count) = reader.read_all(search, snapshots, true).await?;
        frozen_at.push(frozen);
        early_counts.push(count);
    }
    let mut rounds = 0;
    let total = loop {
        let mut total = 0;
        for (search, early) in searches.iter().zip(early_counts.iter_mut()) {
            // Only the first round can use them: later rounds re-count what they re-read.
            total += match early.take() {
                Some(count) => count,
                None => reader.count(search).await?,
            };
        }
        let received = reader.builder.rows() as u64;
        if received == total {
            break total;
        }
        if received > total || rounds == MAX_RECONCILE_ROUNDS {
            return Err(JheError::InconsistentResult {
                expected: total,
                received,
                detail: if received > total {
                    " (observations were deleted while fetching; fetch again)".into()
                } else {
                    format!(" after {rounds} rounds of re-reading (data keeps changing; fetch again)")
                },
            });
        }
        rounds += 1;
        log::warn!("received {received} of {total} observations: data changed while fetching, reading what changed");
        for (search, frozen) in searches.iter().zip(frozen_at.iter_mut()) {
            let before = reader.builder.rows();
            if let Some(at) = *frozen {
                // What was written after the snapshot, itself frozen at its newest row.
                let since_snapshot = Search {
                    fhir: true,
                    url: add_snapshot(&search.url, Snapshot::After(at)),
                };
                if let (Some(newer), _) = reader.read_all(&since_snapshot, true, false).await? {
                    *frozen = Some(newer.max(at));
                }
            }
            if reader.builder.rows() == before {
                // Nothing new after the snapshot, so rows moved inside it: read it all again.
                reader.read_all(search, false, false).await?;
            }
        }
    };
    let requests = reader.requests;

    let mut tables = builder.finish();
    if api == Api::Fhir && !generation.honours_time_filters() {
        // Older servers ignore these filters and match codes with LIKE: apply them here so
        // no filter is silently dropped.
        tables.retain(&ClientFilter {
            since: query.since.map(|b| b.utc_micros),
            until: query.until.map(|b| b.utc_micros),
            updated_since: query.updated_since.map(|b| b.utc_micros),
            codes: query.code_names().iter().map(|c| c.to_string()).collect(),
        });
    }
    tables.sort_newest_first();
    Ok(FetchOutcome {
        tables,
        total,
        requests,
        api,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_styles_from_next_links() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(paging_style(&url("http://x/FHIR/R5/Observation?_count=2&_page=2")), Paging::Numbered);
        assert_eq!(paging_style(&url("http://x/api/v1/observations?page=3&page_size=3")), Paging::Numbered);
        assert_eq!(
            paging_style(&url("http://x/api/v1/observations?limit=100&offset=100")),
            Paging::Offset { limit: 100 }
        );
        assert_eq!(paging_style(&url("http://x/api/v1/observations?cursor=abc")), Paging::FollowNext);
        let moved = with_offset(&url("http://x/api/v1/observations?limit=100&offset=100&study_id=1"), 300);
        assert_eq!(moved.query(), Some("limit=100&offset=300&study_id=1"));
    }

    #[test]
    fn page_urls() {
        let search = Search { fhir: true, url: Url::parse("http://x/FHIR/R5/Observation?patient=1").unwrap() };
        assert_eq!(search.with_page(1, 1000).query(), Some("patient=1&_count=1000"));
        assert_eq!(search.with_page(3, 1000).query(), Some("patient=1&_count=1000&_page=3"));
        let rest = Search { fhir: false, url: Url::parse("http://x/api/v1/observations?study_id=1").unwrap() };
        assert_eq!(rest.with_page(2, 500).query(), Some("study_id=1&page_size=500&limit=500&page=2"));
        let frozen = add_snapshot(&search.url, Snapshot::AtOrBefore(1_000_000));
        assert_eq!(frozen.query(), Some("patient=1&_lastUpdated=le1970-01-01T00%3A00%3A01.000000Z"));
    }

    use crate::config::{ClientConfig, ClientOptions};
    use crate::fake::{FakeConfig, FakeExchange, Faults, Generation as FakeGeneration};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    async fn fetched_ids(fx: &FakeExchange, options: ClientOptions, query: &ObservationQuery, api: Api) -> Result<Vec<i64>> {
        let options = ClientOptions { url: Some(fx.url().to_string()), ..options };
        let session = Session::new(ClientConfig::resolve(options, |_| None)?)?;
        let request = FetchRequest::new(query.clone(), api, Some(Layout::Wide), false)?;
        let outcome = fetch_observations(&session, &request, Arc::default()).await?;
        // Newest first across every code's table, as the server orders them.
        let mut rows: Vec<(i64, i64)> = Vec::new();
        for (_, batch) in &outcome.tables.tables {
            let ids = batch.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>();
            let updated = batch.column_by_name("last_updated").unwrap().as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            rows.extend((0..batch.num_rows()).map(|i| (updated.value(i), ids.value(i))));
        }
        rows.sort_unstable_by(|a, b| b.cmp(a));
        Ok(rows.into_iter().map(|(_, id)| id).collect())
    }

    fn expected_ids(fx: &FakeExchange, study: i64, code: Option<&str>) -> Vec<i64> {
        fx.expected_observations(Some(study), None, code).iter().map(|o| o.id).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_generation_and_api_returns_exactly_the_expected_rows() {
        for generation in [FakeGeneration::Current, FakeGeneration::Legacy, FakeGeneration::LegacyGuide] {
            let config = FakeConfig { patients: 4, days: 2, seed: 9, generation, ..Default::default() };
            let fx = FakeExchange::start(config).await.unwrap();
            let study = fx.directory().main_study_id;
            let token = ClientOptions { token: Some(fx.token().into()), page_size: Some(150), ..Default::default() };
            for api in [Api::Fhir, Api::Rest] {
                let query = ObservationQuery::new(Some(study), None, &[]).unwrap();
                let ids = fetched_ids(&fx, token.clone(), &query, api).await.unwrap();
                assert_eq!(ids, expected_ids(&fx, study, None), "{generation:?} {api:?}");
            }
            let codes = ["omh:heart-rate:2.0".into(), "omh:blood-pressure:4.0".into()];
            let query = ObservationQuery::new(Some(study), None, &codes).unwrap();
            let mut ids = fetched_ids(&fx, token.clone(), &query, Api::Auto).await.unwrap();
            let mut expected = expected_ids(&fx, study, Some("omh:heart-rate:2.0"));
            expected.extend(expected_ids(&fx, study, Some("omh:blood-pressure:4.0")));
            ids.sort_unstable();
            expected.sort_unstable();
            assert_eq!(ids, expected, "{generation:?} several codes");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_and_inserts_are_recovered_from() {
        let faults = Faults {
            error_rate: 0.2,
            rate_limit_every: 7,
            retry_after_s: 0,
            drop_connection_rate: 0.1,
            insert_during_fetch: 120,
            token_ttl_s: Some(1.0),
            ..Default::default()
        };
        let fx = FakeExchange::start(FakeConfig { patients: 4, days: 2, seed: 2, faults, ..Default::default() }).await.unwrap();
        let study = fx.directory().main_study_id;
        let options = ClientOptions { client_key: Some(fx.client_key().into()), page_size: Some(100), retries: Some(10), ..Default::default() };
        let query = ObservationQuery::new(Some(study), None, &[]).unwrap();
        let ids = fetched_ids(&fx, options, &query, Api::Fhir).await.unwrap();
        assert_eq!(ids, expected_ids(&fx, study, None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn permission_errors_are_not_retried() {
        let fx = FakeExchange::start(FakeConfig { patients: 2, days: 1, ..Default::default() }).await.unwrap();
        let hidden = fx.directory().hidden_study_id;
        let options = ClientOptions { token: Some(fx.token().into()), ..Default::default() };
        let query = ObservationQuery::new(Some(hidden), None, &["omh:heart-rate:2.0".into()]).unwrap();
        let error = fetched_ids(&fx, options, &query, Api::Fhir).await.unwrap_err();
        assert!(matches!(error, JheError::Http { status: 403, .. }), "{error}");
        assert!(error.to_string().contains(&format!("Group/{hidden}")));
    }
}
