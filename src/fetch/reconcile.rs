//! Proving a fetch complete. Rows can be written while a fetch runs. Where the server
//! honours `_lastUpdated` (current FHIR), every page after the first is bounded by the
//! newest row of the first page, which freezes the result set; what was written since is
//! read afterwards as a catch-up. Elsewhere a changed total means reading the pages again.
//! Either way the server is asked for the total once more (alongside the frozen pages, or
//! after the last page): the rows returned match it, or `InconsistentResult` is raised.

use super::plan::Search;
use super::read::{Opening, Reader};
use crate::error::{JheError, Result};
use crate::source::fhir::Snapshot;

/// Rounds of re-reading before a changing result is reported as inconsistent.
const MAX_RECONCILE_ROUNDS: usize = 3;

/// Read every search (frozen with `freeze`) until the rows received match the server's
/// count; returns that count. `opening` is a first page asked already, for the first search.
pub(super) async fn read_complete(reader: &mut Reader<'_>, searches: &[Search], freeze: bool, mut opening: Option<Opening>) -> Result<u64> {
    // Per search: the instant its result set was frozen at, for the catch-up, and its
    // count if it was asked while reading.
    let mut frozen_at = Vec::with_capacity(searches.len());
    let mut early_counts = Vec::with_capacity(searches.len());
    for search in searches {
        let (frozen, count) = reader.read_all(search, freeze, true, opening.take()).await?;
        frozen_at.push(frozen);
        early_counts.push(count);
    }
    let mut rounds = 0;
    loop {
        let mut total = 0;
        for (search, early) in searches.iter().zip(early_counts.iter_mut()) {
            // Only the first round can use them: later rounds re-count what they re-read.
            total += match early.take() {
                Some(count) => count,
                None => reader.count(search).await?,
            };
        }
        let received = reader.rows() as u64;
        // A server's total may count the entries that are not observations (a Patient, an
        // OperationOutcome) or not: FHIR counts only matches.
        if received == total || (received < total && total <= received + reader.not_observations() as u64) {
            return Ok(total);
        }
        if received > total || rounds == MAX_RECONCILE_ROUNDS {
            return Err(inconsistent(total, received, rounds, reader.ended_early.as_deref()));
        }
        rounds += 1;
        reader.ended_early = None;
        log::warn!("received {received} of {total} observations: data changed while fetching, reading what changed");
        catch_up(reader, searches, &mut frozen_at).await?;
    }
}

/// Per search: what was written after its snapshot, itself frozen at its newest row; when
/// nothing was, rows moved inside the snapshot, so the search is read again whole.
async fn catch_up(reader: &mut Reader<'_>, searches: &[Search], frozen_at: &mut [Option<i64>]) -> Result<()> {
    for (search, frozen) in searches.iter().zip(frozen_at.iter_mut()) {
        let before = reader.rows();
        if let Some(at) = *frozen {
            if let (Some(newer), _) = reader.read_all(&search.frozen(Snapshot::After(at)), true, false, None).await? {
                *frozen = Some(newer.max(at));
            }
        }
        if reader.rows() == before {
            reader.read_all(search, false, false, None).await?;
        }
    }
    Ok(())
}

fn inconsistent(expected: u64, received: u64, rounds: usize, ended_early: Option<&str>) -> JheError {
    let mut detail = if received > expected {
        " (observations were deleted while fetching; fetch again)".to_string()
    } else {
        format!(" after {rounds} rounds of re-reading (data keeps changing; fetch again)")
    };
    if let Some(page) = ended_early {
        // The planned pages ended at a page the total said was there.
        detail.push_str(&format!("; the last reading ended early: {page}, though the total promised more pages"));
    }
    JheError::InconsistentResult { expected, received, detail }
}
