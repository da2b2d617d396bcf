//! The tasks a fetch spawns: one per page in flight (its request, paced by [`Pace`], then
//! its decoding on a blocking thread) and one for a count asked alongside the pages. Each is cancelled when
//! dropped.

use std::sync::Arc;
use std::sync::LazyLock;

use tokio::sync::Semaphore;
use url::Url;

use super::pace::{Credit, Pace, Ticket};
use super::plan::Search;
use crate::decode::{PageOptions, PreparedPage};
use crate::table::{PageTables, Shape};
use crate::error::Result;
use crate::http::HttpClient;
use crate::source::{AdapterKind, PageSummary};

/// A spawned task that is cancelled when dropped, so an abandoned fetch (an error, Ctrl-C)
/// stops its page requests instead of leaving them running.
pub(super) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> AbortOnDrop<T> {
    pub fn spawn(task: impl Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = T;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a page task was cancelled while awaited: {error}"),
        })
    }
}

/// One decode per core at a time: more would only queue for the CPU, and each extra
/// decoding thread keeps an allocator heap of its own (memory held for nothing).
static DECODERS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// What a page task needs besides its URL, cloned into each.
#[derive(Clone)]
pub(super) struct PageFetch {
    pub http: Arc<HttpClient>,
    pub pace: Arc<Pace>,
    pub kind: AdapterKind,
    pub origin: Url,
    pub options: PageOptions,
    /// The layout and columns each page's rows are built in where it is decoded.
    pub shape: Shape,
}

/// A page fetched and decoded by a task of its own: its URL, the page, and the credit its
/// answer earned towards more requests in flight, to be cashed once it is read.
pub(super) type PageAnswer = (Url, Result<(PageSummary, PageTables)>, Option<Credit>);
pub(super) type PageTask = AbortOnDrop<PageAnswer>;

impl PageFetch {
    /// Fetch `url` on a task of its own once the pace lets one more request go.
    pub async fn spawn(&self, url: Url) -> PageTask {
        let ticket = self.pace.ticket().await;
        self.start(ticket, url)
    }

    /// Fetch `url` on a task of its own, in flight on `ticket`.
    pub fn start(&self, ticket: Ticket, url: Url) -> PageTask {
        let fetch = self.clone();
        AbortOnDrop::spawn(async move { fetch.page(ticket, url).await })
    }

    /// Fetch one page, holding `ticket` while in flight, then decode it
    /// ([`PreparedPage::read`]) and build its rows ([`PageTables::build`]) on a blocking
    /// thread, so pages are decoded and built in parallel while the builder takes them in
    /// order. The response bytes are freed once decoded.
    async fn page(self, ticket: Ticket, url: Url) -> PageAnswer {
        let (body, credit) = match self.http.get_paced(&url).await {
            Ok((body, load)) => (body, self.pace.answered(ticket, load)),
            // No answer to learn from (an error is the fetch's end, or a page past the end).
            Err(error) => return (url, Err(error), None),
        };
        let Self { kind, origin, options, shape, .. } = self;
        let _permit = DECODERS.acquire().await.expect("the semaphore is never closed");
        AbortOnDrop(tokio::task::spawn_blocking(move || {
            let page = PreparedPage::read(kind, &body, &url, &origin, options);
            drop(body);
            (url, page.map(|(summary, page)| (summary, PageTables::build(page, &shape))), credit)
        }))
        .await
    }
}

/// How many rows match `search` now: one row asked for, only the total read.
pub(super) async fn count_rows(http: &HttpClient, search: &Search) -> Result<u64> {
    let url = search.with_page(1, 1);
    let body = http.get_json(&url).await?;
    search.kind.read_total(&body, &url)
}
