//! Reading one search to its end into the builder: the first page, then the planned pages
//! with as many in flight as [`Pace`] allows (or the `next` links one by one), every page
//! through the same decode step and appended in page order.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use url::Url;

use super::pace::{Credit, Pace};
use super::plan::{self, LaterPages, Search};
use super::tasks::{AbortOnDrop, PageFetch, PageTask, Turn, count_rows};
use super::{Progress, Session};
use crate::error::{JheError, Result};
use crate::http::redact_url;
use crate::source::PageSummary;
use crate::source::paging::PageWalk;
use crate::source::fhir::Snapshot;
use crate::table::{ObservationTableBuilder, PageTables, Shape};

pub(super) struct Reader<'a> {
    session: &'a Session,
    builder: &'a mut ObservationTableBuilder,
    /// Requests made for pages and counts.
    pub requests: u64,
    /// Why the last pass over planned pages ended before its last page, if it did.
    pub ended_early: Option<String>,
    progress: Arc<Progress>,
    pace: Arc<Pace>,
}

/// A search's first page, asked before its reading starts (alongside `metadata`).
pub(super) struct Opening {
    pub url: Url,
    task: PageTask,
}

impl Opening {
    /// Ask `search`'s first page now.
    pub async fn ask(session: &Session, pace: &Arc<Pace>, search: &Search, options: crate::decode::PageOptions, shape: Shape) -> Self {
        let url = search.with_page(1, session.config.page_size);
        let fetch = PageFetch {
            http: session.http.clone(),
            pace: pace.clone(),
            kind: search.kind,
            origin: session.config.base_url.clone(),
            options,
            shape,
        };
        Self { task: fetch.spawn(url.clone()).await, url }
    }
}

impl<'a> Reader<'a> {
    pub fn new(session: &'a Session, builder: &'a mut ObservationTableBuilder, progress: Arc<Progress>, pace: Arc<Pace>) -> Self {
        Self { session, builder, requests: 0, ended_early: None, progress, pace }
    }

    /// How page requests were paced.
    pub fn pace(&self) -> super::pace::PaceReport {
        self.pace.report()
    }

    fn fetcher(&self, search: &Search) -> PageFetch {
        PageFetch {
            http: self.session.http.clone(),
            pace: self.pace.clone(),
            kind: search.kind,
            origin: self.session.config.base_url.clone(),
            options: self.builder.page_options(),
            shape: self.builder.shape().clone(),
        }
    }

    /// Distinct observations received so far.
    pub fn rows(&self) -> usize {
        self.builder.received()
    }

    /// Page entries received so far that were not observations.
    pub fn not_observations(&self) -> usize {
        self.builder.not_observations()
    }

    /// One page, fetched and decoded (not yet appended), and its credit for the pace.
    async fn page(&mut self, search: &Search, url: Url) -> Result<(PageSummary, PageTables, Option<Credit>)> {
        self.requests += 1;
        let (_, page, credit) = self.fetcher(search).spawn(url).await.await;
        page.map(|(summary, page)| (summary, page, credit))
    }

    /// A page answered well was read, passed the checks and brought rows not received
    /// before `rows_before` (pages of repeats add no requests): the pace may grow.
    fn credit(&self, credit: Option<Credit>, rows_before: usize) {
        if let Some(credit) = credit.filter(|_| self.rows() > rows_before) {
            self.pace.read(credit);
        }
    }

    /// Append a decoded page; returns the latest `lastUpdated` among the rows it added.
    fn append(&mut self, page: PageTables) -> Option<i64> {
        let newest = self.builder.append_built(page);
        self.progress.pages_done.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_done.store(self.builder.received() as u64, Ordering::Relaxed);
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
    ///
    /// `opening` is a first page already asked for: used if it is this search's, else
    /// dropped (an older server's generation was guessed wrong).
    pub async fn read_all(&mut self, search: &Search, freeze: bool, count: bool, opening: Option<Opening>) -> Result<(Option<i64>, Option<u64>)> {
        let first_url = search.with_page(1, self.session.config.page_size);
        let (first, page, credit) = match opening {
            Some(opening) if opening.url == first_url => {
                self.requests += 1;
                let (_, page, credit) = opening.task.await;
                let (summary, page) = page?;
                (summary, page, credit)
            }
            guessed => {
                // A first page of another search was asked, and is not read.
                self.requests += u64::from(guessed.is_some());
                drop(guessed);
                self.page(search, first_url.clone()).await?
            }
        };
        let pass = Pass::start(&first_url, &first, &page)?;
        self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
        self.progress.rows_total.fetch_add(pass.walk.total(), Ordering::Relaxed);
        // Newest first: the first page holds the newest row of the whole search.
        let before = self.rows();
        let frozen_at = self.append(page).filter(|_| freeze);
        self.credit(credit, before);
        let Some(next) = first.next else { return Ok((frozen_at, None)) };
        let rest_of_search = match frozen_at {
            Some(at) => search.frozen(Snapshot::AtOrBefore(at)),
            None => search.clone(),
        };
        let Some(pages) = plan::later_pages(&rest_of_search, &next, pass.walk.total(), pass.walk.per_page()) else {
            return self.follow_next(search, next, pass).await.map(|()| (frozen_at, None));
        };
        let count = frozen_at.filter(|_| count).map(|_| {
            self.requests += 1;
            let (http, search, pace) = (self.session.http.clone(), search.clone(), self.pace.clone());
            AbortOnDrop::spawn(async move { count_rows(&http, &mut Turn::waiting(&pace), &search).await })
        });
        self.read_planned(search, pages, pass).await?;
        let count = match count {
            Some(task) => Some(task.await?),
            None => None,
        };
        Ok((frozen_at, count))
    }

    /// Fetch planned pages with as many in flight as the pace allows, each decoded on a
    /// thread of its own as it arrives and appended in page order (at most
    /// `max_concurrency` pages are held).
    /// A page past the end (404, or empty) ends the pass: the result shrank while it was
    /// read, or the total was wrong, and the count that follows tells which. The pages not
    /// yet asked for are never asked for.
    async fn read_planned(&mut self, search: &Search, pages: LaterPages, mut pass: Pass) -> Result<()> {
        self.progress.pages_total.fetch_add(pages.len(), Ordering::Relaxed);
        let fetch = self.fetcher(search);
        let mut pages = pages.peekable();
        // In flight or awaiting their turn to be appended, in page order: each asked as
        // soon as the pace lets one more request go, so they go out in page order.
        let mut held: FuturesOrdered<PageTask> = FuturesOrdered::new();
        let mut asked = 0;
        let read = loop {
            // At most as many held as may be in flight: a page answered out of turn keeps
            // its place until the ones before it are read.
            let can_ask = held.len() < fetch.pace.limit() && pages.peek().is_some();
            let (url, page, credit) = tokio::select! {
                biased;
                Some(done) = held.next(), if !held.is_empty() => done,
                ticket = fetch.pace.ticket(), if can_ask => {
                    let url = pages.next().expect("peeked");
                    held.push_back(fetch.start(ticket, url));
                    asked += 1;
                    continue;
                }
                else => break Ok(()),
            };
            let (summary, prepared) = match page {
                Ok(page) => page,
                Err(JheError::Http { status: 404, .. }) => {
                    log::warn!("{} vanished while fetching", redact_url(&url));
                    self.ended_early = Some(format!("{} answered 404", redact_url(&url)));
                    break Ok(());
                }
                Err(other) => break Err(other),
            };
            if summary.entries == 0 {
                self.ended_early = Some(format!("{} held no observations", redact_url(&url)));
                break Ok(());
            }
            let checked = pass.later_page(&url, &summary, &prepared, false);
            let before = self.rows();
            self.append(prepared);
            if let Err(error) = checked {
                break Err(error);
            }
            self.credit(credit, before);
        };
        // Dropping the tasks cancels the pages still in flight.
        drop(held);
        self.requests += asked;
        read
    }

    /// Follow `next` links one by one, as far as the total allows.
    async fn follow_next(&mut self, search: &Search, mut next: Url, mut pass: Pass) -> Result<()> {
        loop {
            pass.walk.follow(&next)?;
            let (summary, page, credit) = self.page(search, next.clone()).await?;
            self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
            let checked = pass.later_page(&next, &summary, &page, summary.next.is_some());
            let before = self.rows();
            self.append(page);
            checked?;
            self.credit(credit, before);
            match summary.next {
                Some(url) => next = url,
                None => return Ok(()),
            }
        }
    }

    /// The first page of `search`, of `size` rows, into the builder.
    pub async fn read_first(&mut self, search: &Search, size: u32) -> Result<()> {
        let (_, page, _) = self.page(search, search.with_page(1, size)).await?;
        self.append(page);
        Ok(())
    }

    /// `search`'s pages, which the server orders newest first by `last_updated` (the REST
    /// list), following `next` links until a page holds a row stored before `since`, or
    /// none follows. The rows older than `since` on that last page are the builder's filter's.
    pub async fn read_back_to(&mut self, search: &Search, since: i64) -> Result<()> {
        let first_url = search.with_page(1, self.session.config.page_size);
        let (first, page, _) = self.page(search, first_url.clone()).await?;
        let mut pass = Pass::start(&first_url, &first, &page)?;
        self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
        let mut reached = reaches_before(&page, since);
        self.append(page);
        let mut next = first.next;
        while let Some(url) = next.take().filter(|_| !reached) {
            pass.walk.follow(&url)?;
            let (summary, page, _) = self.page(search, url.clone()).await?;
            self.progress.pages_total.fetch_add(1, Ordering::Relaxed);
            let checked = pass.later_page(&url, &summary, &page, summary.next.is_some());
            reached = reaches_before(&page, since);
            self.append(page);
            checked?;
            next = summary.next;
        }
        Ok(())
    }

    /// How many rows match `search` now.
    pub async fn count(&mut self, search: &Search) -> Result<u64> {
        self.requests += 1;
        count_rows(&self.session.http, &mut Turn::waiting(&self.pace), search).await
    }
}

/// One reading of a search's pages: the walk's checks, against the ids this reading has
/// seen (a reading again sees the rows an earlier one received, which is no repeat).
struct Pass {
    walk: PageWalk,
    ids: roaring::RoaringTreemap,
}

impl Pass {
    fn start(url: &Url, first: &PageSummary, page: &PageTables) -> Result<Self> {
        let walk = PageWalk::start(url, first.total, observations(page), first.next.is_some(), "observations")?;
        let mut pass = Self { walk, ids: roaring::RoaringTreemap::new() };
        pass.unseen(page);
        Ok(pass)
    }

    /// Observations of `page` this reading has not seen before (one without an id counts
    /// as one).
    fn unseen(&mut self, page: &PageTables) -> usize {
        let observations = page.ids().filter(|(is_observation, _)| *is_observation);
        observations.filter(|(_, id)| id.is_none_or(|id| self.ids.insert(id as u64))).count()
    }

    fn later_page(&mut self, url: &Url, summary: &PageSummary, page: &PageTables, has_next: bool) -> Result<()> {
        let unseen = self.unseen(page);
        self.walk.later_page(url, summary.total, observations(page), unseen, has_next)
    }
}

/// Whether `page` holds a row stored before `since`.
fn reaches_before(page: &PageTables, since: i64) -> bool {
    page.oldest_last_updated().is_some_and(|oldest| oldest < since)
}

/// The observations on `page`: a search's total counts its matches, not the other entries
/// a Bundle may carry (an OperationOutcome, an included resource).
fn observations(page: &PageTables) -> usize {
    page.ids().filter(|(is_observation, _)| *is_observation).count()
}
