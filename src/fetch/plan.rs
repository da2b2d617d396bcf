//! Planning a fetch: which API answers the query, one search per code, and the URLs of a
//! search's later pages, learnt from its first page.

use url::Url;

use super::{Api, Session};
use crate::error::{JheError, Result};
use crate::query::{Coding, ObservationQuery};
use crate::source::fhir::{self, Snapshot};
use crate::source::{AdapterKind, Generation, admin, rest};

/// One search whose pages are read: an endpoint, its filters, and how to page it.
#[derive(Debug, Clone)]
pub(super) struct Search {
    pub kind: AdapterKind,
    /// Without paging parameters.
    pub url: Url,
}

impl Search {
    pub fn with_page(&self, page: u64, size: u32) -> Url {
        self.kind.page_url(&self.url, page, size)
    }

    /// The same search in order of effective time ([`fhir::sorted_by_date`]).
    pub fn sorted_by_date(&self, descending: bool) -> Self {
        Self { kind: self.kind, url: fhir::sorted_by_date(&self.url, descending) }
    }

    /// The same search bounded by a snapshot (FHIR on a server that honours `_lastUpdated`).
    pub fn frozen(&self, snapshot: Snapshot) -> Self {
        Self { kind: self.kind, url: fhir::with_snapshot(&self.url, snapshot) }
    }
}

/// The searches that answer `query` on `api`.
pub(super) fn searches(base_url: &Url, query: &ObservationQuery, api: Api, generation: Generation) -> Vec<Search> {
    if api == Api::Rest {
        return vec![Search { kind: AdapterKind::Rest, url: rest::observation_list_url(base_url, query) }];
    }
    let base = generation.fhir_base(base_url);
    // One search per code: servers match `code` exactly (or by LIKE), not as a list. And
    // one per store (`source`): a search reads the Exchange's own or the imported records.
    let codes: Vec<Option<&Coding>> = if query.codes.is_empty() { vec![None] } else { query.codes.iter().map(Some).collect() };
    let sources = query.origin.parameters();
    sources
        .iter()
        .flat_map(|source| codes.iter().map(move |&code| (source, code)))
        .map(|(source, code)| Search { kind: AdapterKind::Fhir, url: fhir::observation_search_url(&base, generation, query, code, source) })
        .collect()
}

/// Pick the API for a query and check that it can answer it.
pub(super) async fn choose_api(session: &Session, query: &ObservationQuery, api: Api) -> Result<(Api, Generation)> {
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
        // Both APIs fetch equally fast (benchmarks/), but FHIR answers a study or patient
        // you may not see with 403 where REST returns an empty list. So FHIR, unless an
        // older server's FHIR cannot take the query and REST can.
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
    if query.origin.reads_imported() {
        check_source_search(session, generation).await?;
    }
    Ok((api, generation))
}

/// `source=` reads a store chosen by `_source`. A server that does not know the parameter
/// ignores it and answers with its own records as if they were the ones asked for, so it
/// is used only where the CapabilityStatement lists it for Observation.
async fn check_source_search(session: &Session, generation: Generation) -> Result<()> {
    let listed = generation == Generation::Current && session.capabilities().await?.searches_by("Observation", "_source");
    if listed {
        return Ok(());
    }
    Err(JheError::Config(
        "this Exchange does not list _source among Observation's search parameters (its CapabilityStatement), so it cannot \
         tell imported records from its own and would answer with its own: source= needs an Exchange that imports EHR records; \
         leave source unset for its own"
            .into(),
    ))
}

/// REST answers a study or patient you may not see with an empty list, not an error:
/// ask for the study and patient themselves first, which do answer 403/404.
pub(super) async fn check_rest_access(session: &Session, query: &ObservationQuery) -> Result<()> {
    let base = &session.config.base_url;
    if let Some(study) = query.study_id {
        session.http.get_json(&admin::rest_url(base, &format!("studies/{study}"), &[])?).await?;
    }
    if let Some(patient) = query.patient_id {
        session.http.get_json(&admin::rest_url(base, &format!("patients/{patient}"), &[])?).await?;
    }
    Ok(())
}

/// A 404 before any page was read, from a server without `/FHIR/R5/metadata`: an older
/// Exchange that does not know the id asked for, or no Exchange at all (a wrong URL).
pub(super) async fn explain_not_found(session: &Session, error: JheError) -> JheError {
    if !matches!(session.generation().await, Ok(Generation::Legacy)) {
        return error;
    }
    match fhir::check_rest_api(&session.http, &session.config.base_url).await {
        Err(not_an_exchange @ JheError::Protocol { .. }) => not_an_exchange,
        _ => error,
    }
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

/// The pages after the first of a search, each address made only when it is asked for:
/// a total can be large (up to [`crate::source::paging::MAX_BELIEVED_TOTAL`]), and a wrong
/// one must cost neither memory nor requests made ahead of need.
pub(super) struct LaterPages {
    addressing: Addressing,
    /// Indices still to come: page numbers, or multiples of the offset's limit.
    indices: std::ops::Range<u64>,
}

enum Addressing {
    Numbered { search: Search, size: u32 },
    Offset { next: Url, limit: u64 },
}

impl Iterator for LaterPages {
    type Item = Url;

    fn next(&mut self) -> Option<Url> {
        let index = self.indices.next()?;
        Some(self.address(index))
    }

    fn nth(&mut self, n: usize) -> Option<Url> {
        let index = self.indices.nth(n)?;
        Some(self.address(index))
    }
}

impl LaterPages {
    /// Pages still to come.
    pub fn len(&self) -> u64 {
        self.indices.end.saturating_sub(self.indices.start)
    }

    fn address(&self, index: u64) -> Url {
        match &self.addressing {
            Addressing::Numbered { search, size } => search.with_page(index, *size),
            Addressing::Offset { next, limit } => with_offset(next, index * limit),
        }
    }
}

/// The pages after the first of `search` (`total` rows, `per_page` on the first; `total`
/// already [believed](crate::source::paging::believed_total)), or `None` when the server's
/// `next` link can only be followed.
pub(super) fn later_pages(search: &Search, next: &Url, total: u64, per_page: u64) -> Option<LaterPages> {
    let per_page = per_page.max(1);
    let (addressing, indices) = match paging_style(next) {
        Paging::Numbered => {
            let size = u32::try_from(per_page).unwrap_or(u32::MAX);
            (Addressing::Numbered { search: search.clone(), size }, 2..total.div_ceil(per_page) + 1)
        }
        Paging::Offset { limit } => (Addressing::Offset { next: next.clone(), limit }, 1..total.div_ceil(limit)),
        Paging::FollowNext => return None,
    };
    Some(LaterPages { addressing, indices })
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
        let search = Search { kind: AdapterKind::Fhir, url: Url::parse("http://x/FHIR/R5/Observation?patient=1").unwrap() };
        assert_eq!(search.with_page(1, 1000).query(), Some("patient=1&_count=1000"));
        assert_eq!(search.with_page(3, 1000).query(), Some("patient=1&_count=1000&_page=3"));
        let rest = Search { kind: AdapterKind::Rest, url: Url::parse("http://x/api/v1/observations?study_id=1").unwrap() };
        assert_eq!(rest.with_page(2, 500).query(), Some("study_id=1&page_size=500&limit=500&page=2"));
        let frozen = search.frozen(Snapshot::AtOrBefore(1_000_000));
        assert_eq!(frozen.url.query(), Some("patient=1&_lastUpdated=le1970-01-01T00%3A00%3A01.000000Z"));
    }

    #[test]
    fn later_pages_are_addressed_only_when_asked_for() {
        let url = |s: &str| Url::parse(s).unwrap();
        let search = Search { kind: AdapterKind::Fhir, url: url("http://x/FHIR/R5/Observation?patient=1") };
        let next = url("http://x/FHIR/R5/Observation?patient=1&_count=1000&_page=2");
        let pages = later_pages(&search, &next, 2500, 1000).unwrap();
        assert_eq!(pages.len(), 2);
        let queries: Vec<String> = pages.map(|u| u.query().unwrap().to_string()).collect();
        assert_eq!(queries, ["patient=1&_count=1000&_page=2", "patient=1&_count=1000&_page=3"]);
        // the largest believable total plans a million pages without making one
        let mut many = later_pages(&search, &next, crate::source::paging::MAX_BELIEVED_TOTAL, 1000).unwrap();
        assert_eq!(many.len(), 999_999);
        assert_eq!(many.nth(999_998).unwrap().query(), Some("patient=1&_count=1000&_page=1000000"));
        let offsets = later_pages(&search, &url("http://x/api/v1/observations?limit=10&offset=10"), 25, 10).unwrap();
        let offsets: Vec<String> = offsets.map(|u| u.query().unwrap().to_string()).collect();
        assert_eq!(offsets, ["limit=10&offset=10", "limit=10&offset=20"]);
        assert!(later_pages(&search, &url("http://x/FHIR/R5/Observation?cursor=abc"), 25, 10).is_none());
    }
}
