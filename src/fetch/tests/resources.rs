//! Searches of any resource type: every page, exactly, and refused where the server cannot
//! answer them.

use std::collections::BTreeSet;

use super::*;
use crate::origin::Origin;
use crate::source::resources::ResourceQuery;

fn session(fx: &FakeExchange, page_size: u32) -> Session {
    let options = ClientOptions {
        url: Some(fx.url().to_string()),
        token: Some(fx.token().into()),
        page_size: Some(page_size),
        concurrency: Some(4),
        ..Default::default()
    };
    Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap()
}

fn query(resource_type: &str, study_id: Option<i64>, patient_id: Option<i64>) -> ResourceQuery {
    ResourceQuery { resource_type: resource_type.into(), study_id, patient_id, params: Vec::new() }
}

fn ids(texts: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    texts.into_iter().map(|text| serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_a_resource_search_is_read_once() {
    let fx = FakeExchange::start(FakeConfig { patients: 6, days: 2, seed: 4, ..Default::default() }).await.unwrap();
    let directory = fx.directory();
    let session = session(&fx, 4);
    for resource_type in ["Condition", "MedicationRequest", "Encounter"] {
        let found = search_resources(&session, &query(resource_type, None, None), &Origin::Imported).await.unwrap();
        let expected = fx.expected_imported(resource_type, None, None).unwrap();
        assert!(expected.len() > 4, "several pages of {resource_type}");
        let found: Vec<String> = found.into_iter().map(|r| r.get().to_string()).collect();
        assert_eq!(ids(found.clone()), ids(expected.clone()), "{resource_type}");
        assert_eq!(found.len(), expected.len(), "{resource_type}: each once");
    }
    // A patient's, and a study's (its patients enrolled), Observations read raw.
    let patient = directory.visible_patient_ids[0];
    let found = search_resources(&session, &query("Observation", None, Some(patient)), &Origin::Imported).await.unwrap();
    assert_eq!(ids(found.into_iter().map(|r| r.get().to_string())), ids(fx.expected_imported("Observation", Some(patient), None).unwrap()));
    let study = directory.main_study_id;
    let enrolled: Vec<i64> = directory.patients_by_study[&study].clone();
    let expected: Vec<String> = enrolled.iter().flat_map(|&p| fx.expected_imported("Condition", Some(p), None).unwrap()).collect();
    let found = search_resources(&session, &query("Condition", Some(study), None), &Origin::Imported).await.unwrap();
    assert_eq!(ids(found.into_iter().map(|r| r.get().to_string())), ids(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_the_server_does_not_list_is_refused_naming_those_it_does() {
    let fx = FakeExchange::start(FakeConfig { patients: 2, days: 1, seed: 4, ..Default::default() }).await.unwrap();
    let error = search_resources(&session(&fx, 100), &query("Specimen", None, None), &Origin::Exchange).await.unwrap_err().to_string();
    assert!(error.contains("does not serve \"Specimen\"") && error.contains("Condition") && error.contains("MedicationRequest"), "{error}");
    assert!(fx.requests().iter().all(|r| !r.path.ends_with("/Specimen")), "nothing asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_is_refused_where_the_server_does_not_list_it() {
    let config = FakeConfig { patients: 2, days: 1, seed: 4, source_search: false, ..Default::default() };
    let fx = FakeExchange::start(config).await.unwrap();
    let error = search_resources(&session(&fx, 100), &query("Condition", None, None), &Origin::Imported).await.unwrap_err().to_string();
    assert!(error.contains("does not list _source among Condition's"), "{error}");
    // Without source it reads the type's default store.
    let found = search_resources(&session(&fx, 100), &query("Condition", None, None), &Origin::Exchange).await.unwrap();
    assert_eq!(found.len(), fx.expected_imported("Condition", None, None).unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_server_is_refused() {
    let config = FakeConfig { patients: 2, days: 1, seed: 4, generation: FakeGeneration::Legacy, ..Default::default() };
    let fx = FakeExchange::start(config).await.unwrap();
    let error = search_resources(&session(&fx, 100), &query("Condition", None, None), &Origin::Exchange).await.unwrap_err().to_string();
    assert!(error.contains("older API"), "{error}");
}
