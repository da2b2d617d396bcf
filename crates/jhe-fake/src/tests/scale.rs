//! Scale: a study of over a million observations is ready to serve quickly and pages of
//! 1000 rows render in milliseconds. Ignored by default (run in release:
//! `cargo test --release --lib fake::tests::scale -- --ignored --nocapture`).

use std::time::Instant;

use crate::FakeConfig;
use super::{Client, ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "large; run in release with --ignored"]
async fn a_million_observations() {
    let t = Instant::now();
    let c = Client::start(FakeConfig {
        patients: 100,
        days: 100,
        seed: 0,
        ..FakeConfig::default()
    })
    .await;
    let ready = t.elapsed();
    let stored = c.fake.state.store.read().len();
    let study = c.fake.directory().main_study_id;
    eprintln!("generated {stored} observations and listening in {ready:?}");

    let q = format!("/FHIR/R5/Observation?patient._has:Group:member:_id={study}&_count=1000");
    let t = Instant::now();
    let first = c.ok(&q).await;
    let first_page = t.elapsed();
    let total = first["total"].as_u64().unwrap();
    assert!(total >= 1_000_000, "{total}");
    let t = Instant::now();
    let deep = c.ok(&format!("{q}&_page=900")).await;
    let deep_page = t.elapsed();
    assert_eq!(ids(&deep).len(), 1000);
    let t = Instant::now();
    let rest = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=1000&page=700"
        ))
        .await;
    let rest_page = t.elapsed();
    assert_eq!(rest["results"].as_array().unwrap().len(), 1000);
    let t = Instant::now();
    let sorted = c.ok(&format!("{q}&_sort=date&_page=3")).await;
    let sorted_page = t.elapsed();
    assert_eq!(ids(&sorted).len(), 1000);
    eprintln!(
        "study total {total}; FHIR page 1 (query + cache) {first_page:?}; FHIR page 900 {deep_page:?}; \
         REST page 700 {rest_page:?}; first _sort=date page {sorted_page:?}"
    );
    assert!(
        ready.as_secs_f64() < 10.0 || cfg!(debug_assertions),
        "not ready in 10 s: {ready:?}"
    );
}
