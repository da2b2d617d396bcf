//! The tasks a fetch spawns: one per page in flight (its request, each attempt paced by
//! [`Pace`], then its decoding on a blocking thread) and one for a count asked alongside
//! the pages, paced the same way. Each is cancelled when dropped.

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
use crate::http::transport::{Attempts, Load};
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
        let mut turn = Turn { pace: &self.pace, ticket: Some(ticket), credit: None };
        let body = match self.http.get_paced(&url, &mut turn).await {
            Ok(body) => body,
            // No page to grow on (an error is the fetch's end, or a page past the end).
            Err(error) => return (url, Err(error), None),
        };
        let credit = turn.credit();
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

/// A page request's turn in flight, taken for each attempt and given back as it ends: a
/// request waiting to retry holds none, so a back-off thins the requests in flight at once.
pub(super) struct Turn<'a> {
    pace: &'a Pace,
    ticket: Option<Ticket>,
    /// What the last attempt's answer earned.
    credit: Option<Credit>,
}

impl<'a> Turn<'a> {
    /// A request yet to take its turn.
    pub fn waiting(pace: &'a Pace) -> Self {
        Self { pace, ticket: None, credit: None }
    }

    /// What the answer earned towards more requests in flight, once its page is read.
    pub fn credit(&self) -> Option<Credit> {
        self.credit
    }
}

impl Attempts for Turn<'_> {
    fn ended(&mut self, load: Load) {
        if let Some(ticket) = self.ticket.take() {
            self.credit = self.pace.answered(ticket, load);
        }
    }

    async fn ready(&mut self) {
        if self.ticket.is_none() {
            self.ticket = Some(self.pace.ticket().await);
        }
    }
}

/// How many rows match `search` now: one row asked for, only the total read; each attempt
/// let go by `attempts` (a [`Turn`] when pages are in flight beside it).
pub(super) async fn count_rows(http: &HttpClient, attempts: &mut impl Attempts, search: &Search) -> Result<u64> {
    let url = search.with_page(1, 1);
    let body = http.get_paced(&url, attempts).await?;
    search.kind.read_total(&body, &url)
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn a_turn_waiting_to_retry_holds_no_place_in_flight() {
        let pace = Pace::new(2, 2);
        let other = pace.ticket().await;
        let mut turn = Turn::waiting(&pace);
        turn.ready().await;
        turn.ended(Load { overloaded: true, latency: Some(std::time::Duration::from_millis(5)) });
        assert_eq!(pace.limit(), 1, "backed off as the 429 was answered");
        assert!(turn.ticket.is_none() && turn.credit().is_none());
        // the one place left is the other request's; the retry waits for it
        assert!(turn.ready().now_or_never().is_none(), "no place while the other request is in flight");
        drop(other);
        turn.ready().await;
        turn.ended(Load { overloaded: false, latency: Some(std::time::Duration::from_millis(5)) });
        assert!(turn.credit().is_some(), "a good answer earns a credit");
    }
}
