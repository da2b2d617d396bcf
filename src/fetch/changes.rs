//! Reading what changed since an instant ([`Changes`]), for watching and mirroring.
//!
//! A current server filters by `_lastUpdated` itself, so a reading of changes is the
//! ordinary fetch of the query (its `updated_since` set), less the rows delivered before.
//! An older server ignores `_lastUpdated` and would send every row of the study each time,
//! so there the REST list, which it orders newest first by `last_updated`, is read page by
//! page until a page reaches back before the instant: the rest of the study is never asked.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;

use super::pace::Pace;
use super::plan;
use super::read::Reader;
use super::tasks::{PageFetch, count_rows};
use super::{FetchOutcome, Progress, Session};
use crate::error::Result;
use crate::query::{Api, Changes, FetchRequest, Layout, ObservationQuery};
use crate::source::{AdapterKind, Generation};
use crate::table::{ClientFilter, ObservationTableBuilder, ObservationTables, Shape};

/// Whether a reading of changes (`request.changes`) uses an older server's REST list: the
/// list takes every filter but a patient identifier (the others jhe applies itself), and
/// the caller did not ask for FHIR.
pub(super) fn reads_rest_newest_first(request: &FetchRequest, generation: Generation) -> bool {
    !generation.honours_time_filters() && request.api != Api::Fhir && request.query.patient_identifier.is_none()
}

/// The changes `request` asks for on an older server: the REST list from its newest row
/// back to the query's `updated_since`, with every other filter applied here.
pub(super) async fn read_newest_first(session: &Session, request: &FetchRequest, progress: Arc<Progress>) -> Result<FetchOutcome> {
    let query = &request.query;
    let since = query.updated_since.expect("a reading of changes has updated_since").utc_micros;
    let delivered = request.changes.as_ref().map_or(&[][..], |changes: &Changes| &changes.delivered);
    plan::check_rest_access(session, query).await?;
    // The list has every code: rows of others are the filter's, not reported.
    let filter = ClientFilter::new(query).expect("updated_since is a filter");
    let mut builder = super::table_builder(request).with_loose_code_matching().with_filter(filter).with_delivered(delivered);
    let search = plan::searches(&session.config.base_url, &without_filters(query), Api::Rest, Generation::Legacy).swap_remove(0);
    // One page after another: each tells whether the next is needed.
    let mut reader = Reader::new(session, &mut builder, progress, Pace::new(1, 1));
    reader.read_back_to(&search, since).await?;
    let (requests, pace) = (reader.requests, reader.pace());
    let mut tables = builder.finish();
    tables.sort_newest_first();
    tables.keep_selected();
    // The list has no count of changed rows: what was read and matched is the total.
    let server_total = tables.observations;
    Ok(FetchOutcome { tables, server_total, requests, api: Api::Rest, generation: Generation::Legacy, pace })
}

/// The REST list's own filters of `query` (study, patient, organization); the rest are
/// applied as rows arrive.
fn without_filters(query: &ObservationQuery) -> ObservationQuery {
    ObservationQuery { study_id: query.study_id, patient_id: query.patient_id, organization_id: query.organization_id, ..Default::default() }
}

/// The newest `last_updated` among the rows `request` matches, or `None` when none does:
/// where to start watching "from now" by the server's clock, not the client's. One row per
/// search on a current server. On an older server, the REST list's first row: the newest
/// of the study or patient, whatever its code, which is as good a start (nothing the query
/// matches is newer); with a patient identifier, which the list cannot take, every row.
pub async fn newest_update(session: &Session, request: &FetchRequest) -> Result<Option<i64>> {
    let query = &request.query;
    query.check_changes_readable()?;
    let generation = session.generation().await?;
    let mut builder = ObservationTableBuilder::new(Layout::Long, &[]).with_loose_code_matching();
    let mut reader = Reader::new(session, &mut builder, Arc::default(), Pace::new(1, 1));
    if generation.honours_time_filters() {
        for search in plan::searches(&session.config.base_url, query, Api::Fhir, generation) {
            reader.read_first(&search, 1).await?;
        }
    } else if query.patient_identifier.is_none() {
        plan::check_rest_access(session, query).await?;
        let search = plan::searches(&session.config.base_url, &without_filters(query), Api::Rest, generation).swap_remove(0);
        reader.read_first(&search, 1).await?;
    } else {
        for search in plan::searches(&session.config.base_url, query, Api::Fhir, generation) {
            reader.read_all(&search, false, false, None).await?;
        }
    }
    Ok(builder.newest_last_updated())
}

/// How many rows `request` matches on the server now (its searches' totals), and whether
/// that is exact: an older server's total is before the time filters it ignores.
pub async fn count_matching(session: &Session, request: &FetchRequest) -> Result<(u64, bool)> {
    let query = &request.query;
    let (api, generation) = plan::choose_api(session, query, request.api).await?;
    let mut total = 0;
    for search in plan::searches(&session.config.base_url, query, api, generation) {
        total += count_rows(&session.http, &mut (), &search).await?;
    }
    let exact = generation.honours_time_filters() || (query.since.is_none() && query.until.is_none() && query.updated_since.is_none());
    Ok((total, exact))
}

/// The earliest and the latest effective start (UTC µs) among the rows `request` matches,
/// or `None` when none does. On a current server, two rows per search, all asked at once
/// (as many in flight as `concurrency`): the first by `_sort=date` and the first by
/// `-date`. An older server ignores `_sort` and `date`, so there every row of the query is
/// read (its filters applied here, as a fetch does). A row whose effective time cannot be
/// read has no start and does not count.
pub async fn effective_range(session: &Session, request: &FetchRequest) -> Result<Option<(i64, i64)>> {
    let generation = session.generation().await?;
    if !generation.honours_time_filters() {
        let every_row = FetchRequest { layout: Layout::Wide, changes: None, columns: None, ..request.clone() };
        let outcome = super::fetch_observations(session, &every_row, Arc::default()).await?;
        return Ok(start_range(&outcome.tables));
    }
    let config = &session.config;
    let fetch = PageFetch {
        http: session.http.clone(),
        pace: Pace::new(config.concurrency, config.concurrency),
        kind: AdapterKind::Fhir,
        origin: config.base_url.clone(),
        options: Default::default(),
        shape: Shape::all(Layout::Wide),
    };
    let mut pages = Vec::new();
    for search in plan::searches(&config.base_url, &request.query, Api::Fhir, generation) {
        for descending in [false, true] {
            pages.push(fetch.spawn(search.sorted_by_date(descending).with_page(1, 1)).await);
        }
    }
    let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]).with_loose_code_matching();
    for page in pages {
        let (_, page, _) = page.await;
        builder.append_built(page?.1);
    }
    Ok(start_range(&builder.finish()))
}

/// The least and the greatest `effective_start` in `tables`.
fn start_range(tables: &ObservationTables) -> Option<(i64, i64)> {
    let starts = tables.tables.iter().flat_map(|(_, batch)| {
        let column = batch.column_by_name("effective_start").expect("common column");
        column.as_primitive::<TimestampMicrosecondType>().iter().flatten()
    });
    starts.fold(None, |range, start| match range {
        None => Some((start, start)),
        Some((first, last)) => Some((first.min(start), last.max(start))),
    })
}
