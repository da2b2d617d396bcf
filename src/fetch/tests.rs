//! Whole fetches against the fake Exchange: every generation and API, faults, permissions.

use super::*;

mod bounded;
mod changes;
mod pacing;
mod queries;
mod resources;

use crate::config::{ClientConfig, ClientOptions};
use crate::error::JheError;
use crate::query::ObservationQuery;
use crate::table::Layout;
use jhe_fake::{FakeConfig, FakeExchange, Faults, Generation as FakeGeneration};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;

async fn fetched_ids(fx: &FakeExchange, options: ClientOptions, query: &ObservationQuery, api: Api) -> Result<Vec<i64>> {
    let options = ClientOptions { url: Some(fx.url().to_string()), ..options };
    let session = Session::new(ClientConfig::resolve(options, |_| None)?)?;
    let request = FetchRequest::new(query.clone(), api, Some(Layout::Wide))?;
    let outcome = fetch_observations(&session, &request, Arc::default()).await?;
    // Newest first across every code's table, as the server orders them.
    let mut rows: Vec<(i64, i64)> = Vec::new();
    for (_, batch) in &outcome.tables.tables {
        let ids = batch.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>();
        let updated = batch.column_by_name("last_updated").unwrap().as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        rows.extend((0..batch.num_rows()).map(|i| (updated.value(i), ids.value(i))));
    }
    rows.sort_unstable_by(|a, b| b.cmp(a));
    Ok(rows.into_iter().map(|(_, id)| id).collect())
}

fn expected_ids(fx: &FakeExchange, study: i64, code: Option<&str>) -> Vec<i64> {
    fx.expected_observations(Some(study), None, code).iter().map(|o| o.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_generation_and_api_returns_exactly_the_expected_rows() {
    for generation in [FakeGeneration::Current, FakeGeneration::Legacy, FakeGeneration::LegacyGuide] {
        let config = FakeConfig { patients: 4, days: 2, seed: 9, generation, ..Default::default() };
        let fx = FakeExchange::start(config).await.unwrap();
        let study = fx.directory().main_study_id;
        let token = ClientOptions { token: Some(fx.token().into()), page_size: Some(150), ..Default::default() };
        for api in [Api::Fhir, Api::Rest] {
            let query = ObservationQuery::new(Some(study), None, &[]).unwrap();
            let ids = fetched_ids(&fx, token.clone(), &query, api).await.unwrap();
            assert_eq!(ids, expected_ids(&fx, study, None), "{generation:?} {api:?}");
        }
        let codes = ["omh:heart-rate:2.0".into(), "omh:blood-pressure:4.0".into()];
        let query = ObservationQuery::new(Some(study), None, &codes).unwrap();
        let mut ids = fetched_ids(&fx, token.clone(), &query, Api::Auto).await.unwrap();
        let mut expected = expected_ids(&fx, study, Some("omh:heart-rate:2.0"));
        expected.extend(expected_ids(&fx, study, Some("omh:blood-pressure:4.0")));
        ids.sort_unstable();
        expected.sort_unstable();
        assert_eq!(ids, expected, "{generation:?} several codes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_inserts_are_recovered_from() {
    let faults = Faults {
        error_rate: 0.2,
        rate_limit_every: 7,
        retry_after_s: 0,
        drop_connection_rate: 0.1,
        insert_during_fetch: 120,
        token_ttl_s: Some(1.0),
        ..Default::default()
    };
    let fx = FakeExchange::start(FakeConfig { patients: 4, days: 2, seed: 2, faults, ..Default::default() }).await.unwrap();
    let study = fx.directory().main_study_id;
    let options = ClientOptions { client_key: Some(fx.client_key().into()), page_size: Some(100), retries: Some(10), ..Default::default() };
    let query = ObservationQuery::new(Some(study), None, &[]).unwrap();
    let ids = fetched_ids(&fx, options, &query, Api::Fhir).await.unwrap();
    assert_eq!(ids, expected_ids(&fx, study, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_errors_are_not_retried() {
    let fx = FakeExchange::start(FakeConfig { patients: 2, days: 1, ..Default::default() }).await.unwrap();
    let hidden = fx.directory().hidden_study_id;
    let options = ClientOptions { token: Some(fx.token().into()), ..Default::default() };
    let query = ObservationQuery::new(Some(hidden), None, &["omh:heart-rate:2.0".into()]).unwrap();
    let error = fetched_ids(&fx, options, &query, Api::Fhir).await.unwrap_err();
    assert!(matches!(error, JheError::Http { status: 403, .. }), "{error}");
    assert!(error.to_string().contains(&format!("Group/{hidden}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_tables_have_the_schema_of_a_fetch() {
    let fx = FakeExchange::start(FakeConfig { patients: 2, days: 1, seed: 4, ..Default::default() }).await.unwrap();
    let study = fx.directory().main_study_id;
    let options = ClientOptions { url: Some(fx.url().to_string()), token: Some(fx.token().into()), ..Default::default() };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    let glucose = ["omh:blood-glucose:4.0".to_string()];
    let every_code: [String; 0] = [];
    for (codes, layout) in [(&glucose[..], Layout::Wide), (&glucose[..], Layout::Long), (&every_code[..], Layout::Long)] {
        let request = FetchRequest::new(ObservationQuery::new(Some(study), None, codes).unwrap(), Api::Auto, Some(layout)).unwrap();
        let fetched = fetch_observations(&session, &request, Arc::default()).await.unwrap().tables;
        let empty = empty_tables(&request);
        assert!(fetched.observations > 0, "{codes:?} {layout:?} fetched nothing to compare with");
        let schemas = |tables: &ObservationTables| tables.tables.iter().map(|(code, b)| (code.clone(), b.schema())).collect::<Vec<_>>();
        assert_eq!(schemas(&empty), schemas(&fetched), "{codes:?} {layout:?}");
        assert!(empty.tables.iter().all(|(_, batch)| batch.num_rows() == 0));
    }
}
