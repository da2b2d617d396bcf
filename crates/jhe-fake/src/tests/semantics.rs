//! Behaviour: REST entities, determinism, appended observations, stopping, and the render
//! cache.

use crate::{FakeConfig, FakeExchange};
use super::{Client, ids, obs_path};

#[tokio::test]
async fn rest_entities() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let orgs = c.ok("/api/v1/users/organizations").await;
    let mine: Vec<i64> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(mine, d.member_organization_ids);
    let lab = c.ok("/api/v1/organizations?part_of=20001").await;
    assert_eq!(lab["count"], 1);
    assert_eq!(c.ok("/api/v1/organizations/20002").await["partOf"], 20001);
    let patients = c.ok("/api/v1/patients?page_size=1000").await;
    let listed: Vec<i64> = patients["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, d.visible_patient_ids);
    let in_bp = c.ok("/api/v1/studies/30002/patients?page_size=1000").await;
    assert_eq!(
        in_bp["count"].as_u64().unwrap() as usize,
        d.patients_by_study[&30002].len()
    );
    let filtered = c.ok("/api/v1/patients?study_id=30002&page_size=1000").await;
    assert_eq!(filtered["count"], in_bp["count"]);
    let (patient, ident) = d
        .patient_identifiers
        .iter()
        .find(|(_, v)| !v.is_empty())
        .map(|(p, v)| (*p, v[0].1.clone()))
        .unwrap();
    let by_ident = c
        .ok(&format!(
            "/api/v1/patients?patient_identifier_value={ident}"
        ))
        .await;
    assert_eq!(by_ident["results"][0]["id"], patient);
    let consents = c.ok(&format!("/api/v1/patients/{patient}/consents")).await;
    assert_eq!(consents["patient"]["id"], patient);
    assert!(
        !consents["consolidatedConsentedScopes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn same_seed_same_data() {
    let config = FakeConfig {
        patients: 4,
        days: 3,
        seed: 7,
        ..FakeConfig::default()
    };
    let a = FakeExchange::start(config).await.unwrap();
    let b = FakeExchange::start(config).await.unwrap();
    let other = FakeExchange::start(FakeConfig { seed: 8, ..config })
        .await
        .unwrap();
    assert_eq!(a.token(), b.token());
    assert_ne!(a.token(), other.token());
    assert_eq!(a.directory(), b.directory());
    let ea = a.expected_observations(None, None, None);
    assert!(!ea.is_empty());
    assert_eq!(ea, b.expected_observations(None, None, None));
    assert_ne!(ea, other.expected_observations(None, None, None));
    assert_ne!(a.url(), b.url());
}

#[tokio::test]
async fn appended_observations_are_served_newest() {
    let c = Client::start(FakeConfig {
        patients: 3,
        days: 2,
        seed: 1,
        ..FakeConfig::default()
    })
    .await;
    let study = c.fake.directory().main_study_id;
    let path = obs_path(&format!("patient._has:Group:member:_id={study}&_count=3"));
    let before = c.ok(&path).await;
    let store = &c.fake.state.store;
    let template = store.read()[store.read().len() - 1];
    let visible_template = if c.fake.state.world.patients[template.patient as usize].visible {
        template
    } else {
        *store
            .read()
            .iter()
            .rev()
            .find(|o| c.fake.state.world.patients[o.patient as usize].visible)
            .unwrap()
    };
    let range = store.append(vec![visible_template]);
    let after = c.ok(&path).await;
    assert_eq!(
        after["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() + 1
    );
    assert_eq!(ids(&after)[0], range.start);
}

#[tokio::test]
async fn stop_is_idempotent() {
    let mut fake = FakeExchange::start(FakeConfig {
        patients: 1,
        days: 1,
        seed: 0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    let address = fake.url().trim_start_matches("http://").to_string();
    fake.stop();
    fake.stop();
    // The listener closes soon after.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "still accepting connections after stop()");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FakeExchange>();
}

#[tokio::test]
async fn render_cache_serves_the_same_resources() {
    let config = FakeConfig {
        patients: 3,
        days: 2,
        seed: 5,
        damaged_every: 7,
        unknown_codes: true,
        duplicate_uuid_every: 5,
        ..FakeConfig::default()
    };
    let plain = Client::start(config).await;
    let cached = Client::start(FakeConfig { render_cache: true, ..config }).await;
    let study = plain.fake.directory().main_study_id;
    let path = obs_path(&format!("patient._has:Group:member:_id={study}&_count=40&_page=2"));
    let expected = plain.ok(&path).await["entry"].clone();
    assert_eq!(expected.as_array().unwrap().len(), 40);
    // Rendered, then served from memory.
    assert_eq!(cached.ok(&path).await["entry"], expected);
    assert_eq!(cached.ok(&path).await["entry"], expected);
    // An observation stored later is rendered too (the cache grows with the store).
    for c in [&plain, &cached] {
        let store = &c.fake.state.store;
        let last = store.read()[store.read().len() - 1];
        store.append(vec![last]);
    }
    let newest = obs_path("_count=1");
    let expected = plain.ok(&newest).await["entry"].clone();
    assert_eq!(cached.ok(&newest).await["entry"], expected);
}
