//! Questions about a query answered without fetching it (its effective times), and several
//! REST documents read at once.

use super::*;
use crate::decode::omh::time;
use crate::query::{Coding, TimeBound};
use crate::source::admin;

const HEART_RATE: &str = "omh:heart-rate:2.0";
const GLUCOSE: &str = "omh:blood-glucose:4.0";

fn session(fx: &FakeExchange, concurrency: usize) -> Session {
    let options = ClientOptions {
        url: Some(fx.url().into()),
        token: Some(fx.token().into()),
        page_size: Some(100),
        concurrency: Some(concurrency),
        max_concurrency: Some(concurrency),
        ..Default::default()
    };
    Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap()
}

/// The effective starts of the generator's rows for `code`, ascending, read from the
/// payloads it serves.
fn starts(fx: &FakeExchange, study: i64, code: Option<&str>) -> Vec<i64> {
    let mut starts: Vec<i64> = fx
        .expected_observations(Some(study), None, code)
        .iter()
        .map(|o| {
            let payload: serde_json::Value = serde_json::from_str(&o.omh_json).unwrap();
            time::parse_time_frame(&payload["body"]["effective_time_frame"]).unwrap().start
        })
        .collect();
    starts.sort_unstable();
    starts
}

async fn range(session: &Session, query: ObservationQuery) -> Option<(i64, i64)> {
    let request = FetchRequest::new(query, Api::Auto, None).unwrap();
    effective_range(session, &request).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_effective_range_is_the_first_and_last_start_on_both_generations() {
    for generation in [FakeGeneration::Current, FakeGeneration::Legacy] {
        let fx = FakeExchange::start(FakeConfig { patients: 4, days: 3, seed: 11, generation, ..Default::default() }).await.unwrap();
        let study = fx.directory().main_study_id;
        let session = session(&fx, 4);
        let every = starts(&fx, study, None);
        let whole = ObservationQuery::new(Some(study), None, &[]).unwrap();
        assert_eq!(range(&session, whole).await, Some((every[0], every[every.len() - 1])), "{generation:?}");

        // Two codes: one search each, their ranges combined.
        let mut both = starts(&fx, study, Some(HEART_RATE));
        both.extend(starts(&fx, study, Some(GLUCOSE)));
        both.sort_unstable();
        let codes = ObservationQuery::new(Some(study), None, &[HEART_RATE.into(), GLUCOSE.into()]).unwrap();
        fx.clear_requests();
        assert_eq!(range(&session, codes).await, Some((both[0], both[both.len() - 1])), "{generation:?}");
        if generation == FakeGeneration::Current {
            let asked: Vec<_> = fx.requests().into_iter().filter(|r| r.path.ends_with("/Observation")).collect();
            assert_eq!(asked.len(), 4, "two rows per code: {asked:?}");
            assert!(asked.iter().all(|r| r.query.contains("_count=1") && r.query.contains("_sort=")), "{asked:?}");
            assert_eq!(asked.iter().filter(|r| r.query.contains("_sort=-date")).count(), 2);
        }

        // A time window: the server's `date` filter, or (older server) jhe's own.
        let hearts = starts(&fx, study, Some(HEART_RATE));
        let (since, until) = (hearts[hearts.len() / 3], hearts[2 * hearts.len() / 3]);
        let last_before = *hearts.iter().filter(|&&t| t < until).last().unwrap();
        let window = ObservationQuery {
            codes: vec![Coding::parse(HEART_RATE).unwrap()],
            since: Some(TimeBound { utc_micros: since }),
            until: Some(TimeBound { utc_micros: until }),
            ..ObservationQuery::new(Some(study), None, &[]).unwrap()
        };
        assert_eq!(range(&session, window.clone()).await, Some((since, last_before)), "{generation:?}");

        // Nothing matches: no range.
        let before_any = ObservationQuery { since: None, until: Some(TimeBound { utc_micros: every[0] }), ..window };
        assert_eq!(range(&session, before_any).await, None, "{generation:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_documents_are_read_at_once_in_order_and_a_missing_one_is_named() {
    let fx = FakeExchange::start(FakeConfig { patients: 12, days: 1, faults: Faults { latency_ms: 30, ..Default::default() }, ..Default::default() }).await.unwrap();
    let session = session(&fx, 3);
    let patients = fx.directory().visible_patient_ids.clone();
    assert!(patients.len() >= 12);
    let paths: Vec<String> = patients.iter().map(|id| format!("patients/{id}")).collect();
    fx.reset_max_in_flight();
    let documents = admin::get_all(&session.http, &session.config.base_url, &paths, session.config.concurrency).await.unwrap();
    let ids: Vec<i64> = documents.iter().map(|body| serde_json::from_slice::<serde_json::Value>(body).unwrap()["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, patients, "in the order asked");
    let most = fx.max_in_flight();
    assert!((2..=3).contains(&most), "{most} in flight at most, with concurrency 3");

    let mut with_missing = paths.clone();
    with_missing.insert(5, "patients/999999/consents".into());
    let error = admin::get_all(&session.http, &session.config.base_url, &with_missing, 3).await.unwrap_err();
    assert!(matches!(error, JheError::Http { status: 404, .. }), "{error}");
    assert!(error.to_string().contains("/api/v1/patients/999999/consents"), "{error}");
    let bad_path = admin::get_all(&session.http, &session.config.base_url, &["../o/token".to_string()], 3).await.unwrap_err();
    assert!(matches!(bad_path, JheError::Config(_)), "{bad_path}");
}
