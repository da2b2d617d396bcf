//! Every resource a search of one FHIR type matches, as the server sent them (a searchset
//! of [`crate::source::resources`]): the first page, then the later pages with as many in
//! flight as a [`Pace`] allows, each checked against the first page's total, and the whole
//! checked against it at the end, as observation pages are.

use std::collections::HashSet;

use futures::StreamExt as _;
use serde_json::value::RawValue;
use url::Url;

use super::Session;
use super::pace::Pace;
use super::tasks::Turn;
use crate::error::{JheError, Result};
use crate::http::redact_url;
use crate::origin::{Origin, SourceParameter};
use crate::source::Generation;
use crate::source::paging::PageWalk;
use crate::source::resources::{ResourcePage, ResourceQuery, page_url};
use crate::decode::resource::FlatResource;
use crate::table::resource_table;
use arrow_array::RecordBatch;

/// What a search reads: the types and parameters the server lists for it.
async fn check_supported(session: &Session, resource_type: &str, origin: &Origin) -> Result<()> {
    if session.generation().await? == Generation::Legacy {
        return Err(JheError::Config(format!(
            "this Exchange (older API) has no CapabilityStatement and serves observations only: it cannot search {resource_type}"
        )));
    }
    let capabilities = session.capabilities().await?;
    if !capabilities.resource_types().any(|listed| listed == resource_type) {
        let listed: Vec<&str> = capabilities.resource_types().collect();
        return Err(JheError::Config(format!(
            "this Exchange does not serve {resource_type:?}; its CapabilityStatement lists {}",
            listed.join(", ")
        )));
    }
    if origin.reads_imported() && !capabilities.searches_by(resource_type, "_source") {
        return Err(JheError::Config(format!(
            "this Exchange does not list _source among {resource_type}'s search parameters (its CapabilityStatement), so it \
             cannot tell imported records from its own: leave source unset"
        )));
    }
    Ok(())
}

/// Every resource `query` matches in the stores `origin` names (two searches for
/// [`Origin::All`]), each as its JSON text.
pub async fn search_resources(session: &Session, query: &ResourceQuery, origin: &Origin) -> Result<Vec<Box<RawValue>>> {
    check_supported(session, &query.resource_type, origin).await?;
    let mut resources = Vec::new();
    for source in origin.parameters() {
        let url = query.url(&session.config.base_url, &source)?;
        resources.extend(read_search(session, &url, &query.resource_type).await?);
    }
    Ok(resources)
}

/// [`search_resources`] as one table: each resource flattened by key path (on a blocking
/// thread: it is CPU work) into [`resource_table`]'s columns.
pub async fn fetch_resource_table(session: &Session, query: &ResourceQuery, origin: &Origin) -> Result<RecordBatch> {
    let resources = search_resources(session, query, origin).await?;
    let url = query.url(&session.config.base_url, &SourceParameter::None)?;
    let flatten = move || {
        let flat = resources.iter().map(|resource| FlatResource::read(resource.get())).collect::<std::result::Result<Vec<_>, _>>();
        flat.map(resource_table).map_err(|message| JheError::Protocol { url: redact_url(&url), message })
    };
    tokio::task::spawn_blocking(flatten).await.map_err(|e| JheError::Config(format!("flattening the resources failed: {e}")))?
}

/// Each page of one search, in page order, de-duplicated by id.
async fn read_search(session: &Session, url: &Url, resource_type: &str) -> Result<Vec<Box<RawValue>>> {
    let http = &session.http;
    let first_url = page_url(url, 1, session.config.page_size);
    let first = ResourcePage::read(&http.get_json(&first_url).await?, &first_url, resource_type)?;
    let mut walk = PageWalk::start(&first_url, first.total, first.resources.len(), first.has_next, "resources")?;
    let mut seen = HashSet::new();
    let mut resources = Vec::new();
    keep_new(first.resources, &mut seen, &mut resources);
    if first.has_next {
        // Later pages as the server pages: by the size of its first page.
        let per_page = walk.per_page().max(1);
        let size = u32::try_from(per_page).unwrap_or(u32::MAX);
        let urls = (2..=walk.total().div_ceil(per_page)).map(|page| page_url(url, page, size));
        let pace = Pace::new(session.config.concurrency, session.config.max_concurrency);
        let requests = urls.map(|url| {
            let pace = &pace;
            async move {
                let mut turn = Turn::waiting(pace);
                let body = http.get_paced(&url, &mut turn).await;
                (url, body, turn.credit())
            }
        });
        // As many asked as may ever be in flight; the pace lets them go.
        let mut pages = futures::stream::iter(requests).buffered(session.config.max_concurrency.max(1));
        while let Some((url, body, credit)) = pages.next().await {
            let body = match body {
                // The search shrank while it was read: the count below says by how much.
                Err(JheError::Http { status: 404, .. }) => break,
                body => body?,
            };
            let page = ResourcePage::read(&body, &url, resource_type)?;
            let entries = page.resources.len();
            if entries == 0 {
                break;
            }
            let new = keep_new(page.resources, &mut seen, &mut resources);
            walk.later_page(&url, page.total, entries, new, page.has_next)?;
            if let Some(credit) = credit.filter(|_| new > 0) {
                pace.read(credit);
            }
        }
    }
    let received = resources.len() as u64;
    if received != walk.total() {
        return Err(JheError::InconsistentResult {
            expected: walk.total(),
            received,
            detail: format!(" in the {resource_type} search (it changed while it was read; try again)"),
        });
    }
    Ok(resources)
}

/// Appends the resources not seen before (a resource without an id is always new);
/// returns how many.
fn keep_new(page: Vec<(Option<String>, Box<RawValue>)>, seen: &mut HashSet<String>, into: &mut Vec<Box<RawValue>>) -> usize {
    let before = into.len();
    for (id, resource) in page {
        if id.is_none_or(|id| seen.insert(id)) {
            into.push(resource);
        }
    }
    into.len() - before
}
