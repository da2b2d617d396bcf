//! Round trips: `metadata` asked alongside the first page, and the pages in flight paced
//! by the server's answers. Each test reads the fake's own count of requests in flight
//! and its request log (which requests overlapped), never a clock.

use super::*;

fn options(fx: &FakeExchange, concurrency: usize, max_concurrency: usize) -> ClientOptions {
    ClientOptions {
        url: Some(fx.url().to_string()),
        token: Some(fx.token().into()),
        page_size: Some(10),
        concurrency: Some(concurrency),
        max_concurrency: Some(max_concurrency),
        retries: Some(10),
        ..Default::default()
    }
}

async fn fetch(session: &Session, study: i64) -> FetchOutcome {
    let query = ObservationQuery::new(Some(study), None, &["omh:blood-glucose:4.0".into()]).unwrap();
    let request = FetchRequest::new(query, Api::Auto, Some(Layout::Wide)).unwrap();
    fetch_observations(session, &request, Arc::default()).await.unwrap()
}

fn ids(outcome: &FetchOutcome) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::new();
    for (_, batch) in &outcome.tables.tables {
        ids.extend(batch.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>().values().iter());
    }
    ids.sort_unstable();
    ids
}

fn expected(fx: &FakeExchange, study: i64) -> Vec<i64> {
    let mut ids: Vec<i64> = fx.expected_observations(Some(study), None, Some("omh:blood-glucose:4.0")).iter().map(|o| o.id).collect();
    ids.sort_unstable();
    ids
}

fn fake(latency_ms: u64, rate_limit_above: u32, generation: FakeGeneration) -> FakeConfig {
    let faults = Faults { latency_ms, rate_limit_above, retry_after_s: 0, ..Default::default() };
    FakeConfig { patients: 2, days: 3, seed: 5, generation, faults, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_flight_rise_while_latency_holds_and_stay_under_the_ceiling() {
    let fx = FakeExchange::start(fake(40, 0, FakeGeneration::Current)).await.unwrap();
    let study = fx.directory().main_study_id;
    let session = Session::new(ClientConfig::resolve(options(&fx, 2, 7), |_| None).unwrap()).unwrap();
    let outcome = fetch(&session, study).await;
    assert_eq!(ids(&outcome), expected(&fx, study));
    assert!(outcome.tables.observations > 400, "enough pages to pace: {}", outcome.tables.observations);
    assert!(outcome.pace.start == 2 && outcome.pace.peak > 2 && outcome.pace.peak <= 7, "{:?}", outcome.pace);
    // The pages, and the count asked alongside them.
    let most = fx.max_in_flight();
    assert!(most > 2 + 1 && most <= 7 + 1, "{most} in flight at most");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_429_above_a_few_in_flight_is_backed_off_from_and_read_exactly() {
    let fx = FakeExchange::start(fake(20, 3, FakeGeneration::Current)).await.unwrap();
    let study = fx.directory().main_study_id;
    // Retries to spare: on a loaded machine a request can meet the throttle many times
    // before the back-off has brought the requests in flight down.
    let options = ClientOptions { retries: Some(60), ..options(&fx, 8, 16) };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    let outcome = fetch(&session, study).await;
    assert_eq!(ids(&outcome), expected(&fx, study));
    let throttled = fx.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "the fake throttled");
    assert!(outcome.pace.back_offs > 0 && outcome.pace.end < 8, "below the start: {:?}", outcome.pace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_the_first_page_are_asked_at_once_and_metadata_only_once() {
    let fx = FakeExchange::start(fake(100, 0, FakeGeneration::Current)).await.unwrap();
    let study = fx.directory().main_study_id;
    let session = Session::new(ClientConfig::resolve(options(&fx, 8, 8), |_| None).unwrap()).unwrap();
    let first = fetch(&session, study).await;
    assert_eq!(ids(&first), expected(&fx, study));
    let log = fx.requests();
    let metadata = log.iter().find(|r| r.path == "/FHIR/R5/metadata").expect("metadata asked");
    let page = log.iter().find(|r| r.path == "/FHIR/R5/Observation" && !r.query.contains("_page")).expect("first page");
    assert!(metadata.overlaps(page), "{metadata:?} {page:?}");
    assert_eq!(page.status, 200);
    fx.clear_requests();
    let again = fetch(&session, study).await;
    assert_eq!(ids(&again), expected(&fx, study));
    assert!(fx.requests().iter().all(|r| r.path != "/FHIR/R5/metadata"), "the generation is known");
    assert_eq!(again.requests, first.requests, "the same pages and count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_server_404s_both_and_its_own_first_page_is_read() {
    let fx = FakeExchange::start(fake(50, 0, FakeGeneration::Legacy)).await.unwrap();
    let study = fx.directory().main_study_id;
    let session = Session::new(ClientConfig::resolve(options(&fx, 8, 8), |_| None).unwrap()).unwrap();
    let outcome = fetch(&session, study).await;
    assert_eq!(ids(&outcome), expected(&fx, study));
    assert_eq!(outcome.generation, Generation::Legacy);
    let log = fx.requests();
    let metadata = log.iter().find(|r| r.path == "/FHIR/R5/metadata").expect("metadata asked");
    let guessed = log.iter().find(|r| r.path == "/FHIR/R5/Observation").expect("the current first page guessed");
    // 404, or 499 when jhe dropped it on learning the generation before the fake answered
    assert!(metadata.status == 404 && [404, 499].contains(&guessed.status), "{guessed:?}");
    assert!(metadata.overlaps(guessed), "{metadata:?} {guessed:?}");
    let own = log.iter().filter(|r| r.path == "/fhir/r5/Observation").collect::<Vec<_>>();
    assert!(!own.is_empty() && own.iter().all(|r| r.status == 200 && r.arrived > metadata.answered));
}

