//! Reading what changed since an instant ([`Changes`]), for watching and mirroring.
//!
//! A current server filters by `_lastUpdated` itself, so a reading of changes is the
//! ordinary fetch of the query (its `updated_since` set), less the rows delivered before.
//! An older server ignores `_lastUpdated` and would send every row of the study each time,
//! so there the REST list, which it orders newest first by `last_updated`, is read page by
//! page until a page reaches back before the instant: the rest of the study is never asked.

use std::sync::Arc;

use super::pace::Pace;
use super::plan;
use super::read::Reader;
use super::tasks::count_rows;
use super::{FetchOutcome, Progress, Session};
use crate::error::Result;
use crate::query::{Api, Changes, FetchRequest, Layout, ObservationQuery};
use crate::source::Generation;
use crate::table::{ClientFilter, ObservationTableBuilder};

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
    let mut builder = ObservationTableBuilder::new(request.layout, &query.code_names())
        .with_loose_code_matching()
        .with_filter(filter)
        .with_delivered(delivered);
    let search = plan::searches(&session.config.base_url, &without_filters(query), Api::Rest, Generation::Legacy).swap_remove(0);
    // One page after another: each tells whether the next is needed.
    let mut reader = Reader::new(session, &mut builder, progress, Pace::new(1, 1));
    reader.read_back_to(&search, since).await?;
    let (requests, pace) = (reader.requests, reader.pace());
    let mut tables = builder.finish();
    tables.sort_newest_first();
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
    let generation = session.generation().await?;
    let query = &request.query;
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
        total += count_rows(&session.http, &search).await?;
    }
    let exact = generation.honours_time_filters() || (query.since.is_none() && query.until.is_none() && query.updated_since.is_none());
    Ok((total, exact))
}
