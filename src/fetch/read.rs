//! Reading one search to its end into the builder: the first page, then the planned pages
//! with a bounded number in flight (or the `next` links one by one), every page through
//! the same decode step and appended in page order.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt as _;
use url::Url;

use super::plan::{self, Search};
use super::tasks::{AbortOnDrop, count_rows, fetch_page};
use super::{Progress, Session};
use crate::decode::PreparedPage;
use crate::error::{JheError, Result};
use crate::http::redact_url;
use crate::source::PageSummary;
use crate::source::fhir::Snapshot;
use crate::table::ObservationTableBuilder;

pub(super) struct Reader<'a> {
    session: &'a Session,
    builder: &'a mut ObservationTableBuilder,
    /// Requests made for pages and counts.
    pub requests: u64,
    progress: Arc<Progress>,
}

impl<'a> Reader<'a> {
    pub fn new(session: &'a Session, builder: &'a mut ObservationTableBuilder, progress: Arc<Progress>) -> Self {
        Self { session, builder, requests: 0, progress }
    }

    /// Distinct observations received so far.
    pub fn rows(&self) -> usize {
        self.builder.rows()
    }

    /// Page entries received so far that were not observations.
    pub fn not_observations(&self) -> usize {
        self.builder.not_observations()
    }

    /// One page, fetched and decoded (not yet appended).
    async fn page(&mut self, search: &Search, url: Url) -> Result<(PageSummary, PreparedPage)> {
        self.requests += 1;
        let (http, origin) = (self.session.http.clone(), self.session.config.base_url.clone());
        fetch_page(http, search.kind, url, origin, self.builder.page_options()).await.1
    }

    /// Append a decoded page; returns the latest `lastUpdated` among the rows it added.
    fn append(&mut self, page: PreparedPage) -> Option<i64> {
        let newest = self.builder.append_page(page);
        self.progress.pages_done.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_done.store(self.builder.rows() as u64, Ordering::Relaxed);
        newest
    }

    /// Every page of `search` into the builder. With `freeze`, pages after the first are
    /// bounded by the first page's newest row, which is returned as the snapshot instant;
    /// with `count` too, so is the search's count, asked while those pages were read.
    ///
    /// Asking the count alongside the frozen pages (not after them) saves a round trip and
    /// checks as much: the frozen pages cannot gain rows, so any change after the count
    /// (a row deleted or moved out of the snapshot, one written since) makes the rows
    /// received differ from it and the fetch reconcile, as a count at the end would.
    pub async fn read_all(&mut self, search: &Search, freeze: bool, count: bool) -> Result<(Option<i64>, Option<u64>)> {
        let first_url = search.with_page(1, self.session.config.page_size);
        let (first, page) = self.page(search, first_url).await?;
        let total = first.total.unwrap_or(first.entries as u64);
        self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_total.fetch_add(total, Ordering::Relaxed);
        // Newest first: the first page holds the newest row of the whole search.
        let frozen_at = self.append(page).filter(|_| freeze);
        let Some(next) = first.next.filter(|_| first.entries > 0) else { return Ok((frozen_at, None)) };
        let rest_of_search = match frozen_at {
            Some(at) => search.frozen(Snapshot::AtOrBefore(at)),
            None => search.clone(),
        };
        let Some(urls) = plan::later_pages(&rest_of_search, &next, total, first.entries as u64) else {
            return self.follow_next(search, next).await.map(|()| (frozen_at, None));
        };
        let count = frozen_at.filter(|_| count).map(|_| {
            self.requests += 1;
            let (http, search) = (self.session.http.clone(), search.clone());
            AbortOnDrop::spawn(async move { count_rows(&http, &search).await })
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
        self.requests += urls.len() as u64;
        self.progress.pages_total.fetch_add(urls.len() as u64, Ordering::Relaxed);
        let options = self.builder.page_options();
        let mut pages = futures::stream::iter(urls)
            .map(|url| {
                let (http, origin) = (session.http.clone(), session.config.base_url.clone());
                AbortOnDrop::spawn(fetch_page(http, search.kind, url, origin, options))
            })
            .buffered(session.config.concurrency);
        while let Some((url, page)) = pages.next().await {
            match page {
                Ok((_, prepared)) => {
                    self.append(prepared);
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
            let (summary, page) = self.page(search, next.clone()).await?;
            self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
            self.append(page);
            match summary.next {
                Some(url) if summary.entries > 0 => next = url,
                _ => return Ok(()),
            }
        }
    }

    /// How many rows match `search` now.
    pub async fn count(&mut self, search: &Search) -> Result<u64> {
        self.requests += 1;
        count_rows(&self.session.http, search).await
    }
}
