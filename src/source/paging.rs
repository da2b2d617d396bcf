//! How far a server's pages are believed. A search ends where its total says; the signs
//! that a server's pages would never end (a total past belief, a page that holds more rows
//! than the total, pages that bring no new row, `next` links that go round or past what the
//! total allows) end it with a `ProtocolError` instead, after a bounded number of requests.
//! Shared by the observation searches (`crate::fetch`) and the admin lists ([`super::admin`]).

use std::collections::HashSet;

use url::Url;

use crate::error::{JheError, Result};
use crate::http::redact_url;

/// The largest total a search may announce. A billion observations would be terabytes of
/// pages, more than any study holds or a client could keep: a larger total is a server's
/// mistake, refused before any further page is asked for.
pub const MAX_BELIEVED_TOTAL: u64 = 1_000_000_000;

/// Pages in a row that may bring no row not received already. More than one: rows written
/// while a search is read (where it cannot be frozen) push rows already read onto the next
/// page, so one page of repeats is no proof.
pub const MAX_PAGES_WITHOUT_NEW_ROWS: u32 = 3;

/// Pages beyond the total's `next` links may lead to: rows written while they are followed
/// add a page now and then.
const SPARE_PAGES: u64 = 1;

fn refuse(url: &Url, message: String) -> JheError {
    JheError::Protocol { url: redact_url(url), message }
}

/// `total` as the server announced it on `url`, if it is believable.
pub fn believed_total(total: u64, what: &str, url: &Url) -> Result<u64> {
    if total > MAX_BELIEVED_TOTAL {
        return Err(refuse(
            url,
            format!(
                "the server announced a total of {total} {what}, more than the {MAX_BELIEVED_TOTAL} jhe believes one search can hold; \
                 narrow the search (by patient, code or time), or the server's count is wrong"
            ),
        ));
    }
    Ok(total)
}

/// One search's pages as they are read, checked against what the first page announced.
#[derive(Debug)]
pub struct PageWalk {
    /// What the rows are, for messages ("observations").
    what: &'static str,
    /// Rows on the first page: the server's page size.
    per_page: u64,
    /// The largest total a page announced (rows written while reading raise it).
    total: u64,
    /// Pages asked for so far, the first included.
    pages: u64,
    pages_without_new_rows: u32,
    /// Pages asked for by following `next` links (and the first).
    visited: HashSet<Url>,
}

impl PageWalk {
    /// From the first page (`url`): its announced total, its rows, whether it links to a next.
    pub fn start(url: &Url, total: Option<u64>, entries: usize, has_next: bool, what: &'static str) -> Result<Self> {
        let entries = entries as u64;
        if has_next && total.is_none() {
            return Err(refuse(
                url,
                format!("the first page links to a next page but announces no total, so the {what} cannot be checked complete"),
            ));
        }
        let total = believed_total(total.unwrap_or(entries), what, url)?;
        let walk = Self { what, per_page: entries, total, pages: 1, pages_without_new_rows: 0, visited: HashSet::from([url.clone()]) };
        walk.check_page(url, Some(total), entries, has_next)?;
        Ok(walk)
    }

    /// The total the first page announced (or its rows, where it announced none).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The server's page size: rows on the first page.
    pub fn per_page(&self) -> u64 {
        self.per_page
    }

    /// A later page, read: `new_rows` of its `entries` were not received before.
    pub fn later_page(&mut self, url: &Url, total: Option<u64>, entries: usize, new_rows: usize, has_next: bool) -> Result<()> {
        if let Some(total) = total {
            self.total = self.total.max(believed_total(total, self.what, url)?);
        }
        self.check_page(url, total, entries as u64, has_next)?;
        if new_rows > 0 {
            self.pages_without_new_rows = 0;
            return Ok(());
        }
        self.pages_without_new_rows += 1;
        if self.pages_without_new_rows >= MAX_PAGES_WITHOUT_NEW_ROWS {
            return Err(refuse(
                url,
                format!(
                    "{} pages in a row held no {} but ones already received: the server repeats its pages",
                    self.pages_without_new_rows, self.what
                ),
            ));
        }
        Ok(())
    }

    /// Before following a `next` link: one not followed before, and within the pages the
    /// total allows.
    pub fn follow(&mut self, next: &Url) -> Result<()> {
        if !self.visited.insert(next.clone()) {
            return Err(refuse(next, "the server's next links go round in a circle".into()));
        }
        self.pages += 1;
        let allowed = self.total.div_ceil(self.per_page.max(1)) + SPARE_PAGES;
        if self.pages > allowed {
            return Err(refuse(
                next,
                format!(
                    "the server's next links go on past the {allowed} pages of {} {} its total of {} allows",
                    self.per_page, self.what, self.total
                ),
            ));
        }
        Ok(())
    }

    fn check_page(&self, url: &Url, total: Option<u64>, entries: u64, has_next: bool) -> Result<()> {
        if let Some(total) = total.filter(|&total| entries > total) {
            return Err(refuse(url, format!("the page holds {entries} {} but the server's total is {total}", self.what)));
        }
        if entries == 0 && has_next {
            return Err(refuse(url, format!("the page holds no {} but links to a next page", self.what)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(page: u64) -> Url {
        Url::parse(&format!("http://x/Observation?cursor={page}")).unwrap()
    }

    fn message(error: JheError) -> String {
        match error {
            JheError::Protocol { message, .. } => message,
            other => panic!("not a protocol error: {other}"),
        }
    }

    #[test]
    fn totals_past_belief_or_contradicted_by_the_first_page_are_refused() {
        let error = PageWalk::start(&url(1), Some(1_000_000_000_000), 10, true, "observations").unwrap_err();
        assert!(message(error).contains("total of 1000000000000 observations"));
        let error = PageWalk::start(&url(1), Some(5), 10, false, "observations").unwrap_err();
        assert!(message(error).contains("holds 10 observations but the server's total is 5"));
        let error = PageWalk::start(&url(1), None, 10, true, "observations").unwrap_err();
        assert!(message(error).contains("announces no total"));
        let error = PageWalk::start(&url(1), Some(10), 0, true, "observations").unwrap_err();
        assert!(message(error).contains("holds no observations but links to a next page"));
        assert_eq!(PageWalk::start(&url(1), None, 10, false, "observations").unwrap().total(), 10);
        assert_eq!(PageWalk::start(&url(1), Some(MAX_BELIEVED_TOTAL), 10, true, "observations").unwrap().total(), MAX_BELIEVED_TOTAL);
    }

    #[test]
    fn next_links_end_where_the_total_says() {
        let mut walk = PageWalk::start(&url(1), Some(25), 10, true, "observations").unwrap();
        for page in 2..=4 {
            walk.follow(&url(page)).unwrap();
            walk.later_page(&url(page), Some(25), 10, 10, true).unwrap();
        }
        // three pages hold 25 rows, one spare page is allowed for rows written meanwhile
        let error = walk.follow(&url(5)).unwrap_err();
        assert!(message(error).contains("past the 4 pages of 10 observations its total of 25 allows"));
        let error = walk.follow(&url(3)).unwrap_err();
        assert!(message(error).contains("round in a circle"));
        assert!(walk.follow(&url(1)).is_err(), "the first page counts as visited");
    }

    #[test]
    fn pages_of_repeats_end_the_walk() {
        let mut walk = PageWalk::start(&url(1), Some(100), 10, true, "observations").unwrap();
        walk.later_page(&url(2), Some(100), 10, 0, true).unwrap();
        walk.later_page(&url(3), Some(100), 10, 4, true).unwrap();
        walk.later_page(&url(4), Some(100), 10, 0, true).unwrap();
        walk.later_page(&url(5), Some(100), 10, 0, true).unwrap();
        let error = walk.later_page(&url(6), Some(100), 10, 0, true).unwrap_err();
        assert!(message(error).contains("3 pages in a row held no observations but ones already received"));
        let error = walk.later_page(&url(7), Some(100), 0, 0, true).unwrap_err();
        assert!(message(error).contains("holds no observations but links"));
    }

    #[test]
    fn a_later_total_can_raise_the_bound_but_not_past_belief() {
        let mut walk = PageWalk::start(&url(1), Some(10), 10, true, "observations").unwrap();
        walk.follow(&url(2)).unwrap();
        walk.later_page(&url(2), Some(30), 10, 10, true).unwrap();
        walk.follow(&url(3)).unwrap();
        walk.follow(&url(4)).unwrap();
        assert!(walk.later_page(&url(4), Some(u64::MAX), 10, 10, true).is_err());
    }
}
