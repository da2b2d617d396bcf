//! Readings of what changed since an instant, on both generations.

use super::*;
use crate::query::{Changes, TimeBound};

fn changes_since(query: &ObservationQuery, since: i64, delivered: Vec<(i64, i64)>) -> FetchRequest {
    let query = ObservationQuery { updated_since: Some(TimeBound { utc_micros: since }), ..query.clone() };
    FetchRequest::new(query, Api::Auto, Some(Layout::Long)).unwrap().reading_changes(Changes { delivered }).unwrap()
}

fn ids_of(outcome: &FetchOutcome) -> Vec<i64> {
    let mut ids: Vec<i64> = crate::table::delivered_since(&outcome.tables.tables, i64::MIN).unwrap().into_iter().map(|(id, _)| id).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_of_changes_returns_what_changed_and_skips_what_was_delivered() {
    for generation in [FakeGeneration::Current, FakeGeneration::Legacy] {
        let fx = FakeExchange::start(FakeConfig { patients: 4, days: 3, seed: 3, generation, ..Default::default() }).await.unwrap();
        let study = fx.directory().main_study_id;
        let options = ClientOptions { url: Some(fx.url().into()), token: Some(fx.token().into()), page_size: Some(50), ..Default::default() };
        let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
        let query = ObservationQuery::new(Some(study), None, &[]).unwrap();
        let plain = FetchRequest::new(query.clone(), Api::Auto, Some(Layout::Long)).unwrap();
        let newest = newest_update(&session, &plain).await.unwrap().expect("the study has rows");

        let added = fx.add_observations(3, None, None, 0).unwrap();
        let first = fetch_observations(&session, &changes_since(&query, newest + 1, Vec::new()), Arc::default()).await.unwrap();
        assert_eq!(ids_of(&first), added, "{generation:?}");
        if generation == FakeGeneration::Legacy {
            assert_eq!(first.api, Api::Rest);
            assert_eq!(first.requests, 1, "one page of 50 reaches back to the cursor: the study's other pages are never asked");
        }

        let delivered = crate::table::delivered_since(&first.tables.tables, newest + 1).unwrap();
        fx.update_observations(&added[..1]).unwrap();
        let second = fetch_observations(&session, &changes_since(&query, newest + 1, delivered), Arc::default()).await.unwrap();
        assert_eq!(ids_of(&second), added[..1].to_vec(), "{generation:?}: the changed row again, the unchanged ones skipped");
        let (total, exact) = count_matching(&session, &plain).await.unwrap();
        assert_eq!((total as usize, exact), (fx.expected_observations(Some(study), None, None).len(), true));
    }
}
