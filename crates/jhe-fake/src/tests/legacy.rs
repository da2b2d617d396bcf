//! The older generation (v0.0.11), behaviour by behaviour: what its FHIR API ignores,
//! `code` matched with LIKE, routes, auth and content negotiation, its REST rows, and the
//! user guide's REST variant.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use crate::generate::world::World;
use crate::{ExpectedObservation, FakeConfig, Generation};
use super::{Client, ids, link, resources};

async fn legacy(generation: Generation) -> Client {
    Client::start(FakeConfig {
        patients: 4,
        days: 3,
        seed: 5,
        generation,
        ..FakeConfig::default()
    })
    .await
}

/// Every page of a legacy search, following `next` links.
async fn all_pages(c: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut page = c.ok(first).await;
    let total = page["total"]
        .as_u64()
        .or_else(|| page["count"].as_u64())
        .unwrap() as usize;
    let mut out: Vec<Value> = Vec::new();
    loop {
        match page.get("entry") {
            Some(_) => out.extend(resources(&page).into_iter().cloned()),
            None => out.extend(page["results"].as_array().unwrap().iter().cloned()),
        }
        let next = match page.get("link") {
            Some(_) => link(&page, "next"),
            None => page["next"].as_str().map(str::to_string),
        };
        let Some(next) = next else { break };
        let path = next.strip_prefix(c.fake.url()).unwrap().to_string();
        page = c.ok(&path).await;
    }
    (out, total)
}

#[tokio::test]
async fn legacy_fhir_ignores_what_it_does_not_know() {
    let c = legacy(Generation::Legacy).await;
    let study = c.fake.directory().main_study_id;
    let expected = c.fake.expected_observations(Some(study), None, None);
    let base = format!("/fhir/r5/Observation?patient._has:Group:member:_id={study}");
    let default = c.ok(&base).await;
    assert_eq!(default["total"].as_u64().unwrap() as usize, expected.len());
    let want: Vec<i64> = expected.iter().take(20).map(|e| e.id).collect();
    assert_eq!(ids(&default), want);
    for ignored in [
        "date=ge2090-01-01",
        "date=notadate",
        "_lastUpdated=ge2090-01-01",
        "_sort=date",
        "_sort=_lastUpdated",
        "_summary=count",
        "_id=60001",
        "patient.organization=99",
        "page=2&page_size=2",
        "_format=json",
    ] {
        let b = c.ok(&format!("{base}&{ignored}")).await;
        assert_eq!(b["total"], default["total"], "{ignored}");
        assert_eq!(ids(&b), want, "{ignored}");
    }
    // Every row once, newest first, through the next links.
    let (all, total) = all_pages(&c, &format!("{base}&_count=7")).await;
    assert_eq!(total, expected.len());
    let got: Vec<i64> = all
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, expected.iter().map(|e| e.id).collect::<Vec<_>>());
    // The minimal resource, base64 wrapped at 76 characters, the payload inside.
    for (r, e) in all.iter().zip(&expected) {
        assert_minimal_resource(r, e);
    }
    // Past the end, and the DRF error bodies.
    let r = c.get(&format!("{base}&_page=999")).await;
    assert_eq!(
        (r.status, r.json()),
        (404, serde_json::json!({"detail": "Invalid page."}))
    );
    let r = c.get(&format!("{base}&_count=abc")).await;
    assert_eq!(r.status, 200);
    let r = c.get("/fhir/r5/Observation?patient=Patient/40001").await;
    assert_eq!(r.status, 500);
    assert!(
        r.content_type.starts_with("text/plain") && r.body.contains("invalid literal for int()")
    );
    let hidden = c.fake.directory().hidden_patient_ids[0];
    let r = c
        .get(&format!("/fhir/r5/Observation?patient={hidden}"))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.json()["detail"].is_string());
    let r = c.get("/fhir/r5/Observation?identifier=x|y").await;
    assert_eq!(r.status, 400);
    assert!(r.json().is_array());
}

/// A v0.0.11 Observation: only its seven keys, `+00:00` times, and the payload base64
/// wrapped at 76 characters.
fn assert_minimal_resource(r: &Value, e: &ExpectedObservation) {
    let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "resourceType",
            "id",
            "meta",
            "status",
            "subject",
            "code",
            "valueAttachment"
        ])
    );
    assert_eq!(
        r["meta"]["lastUpdated"],
        e.last_updated.replace('Z', "+00:00")
    );
    assert_eq!(
        r["subject"],
        serde_json::json!({"reference": format!("Patient/{}", e.patient_id)})
    );
    let data = r["valueAttachment"]["data"].as_str().unwrap();
    assert!(data.split('\n').rev().skip(1).all(|l| l.len() == 76));
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_err(),
        "a strict decoder must fail on wrapped base64"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.replace('\n', ""))
        .unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), e.omh_json);
}

#[tokio::test]
async fn legacy_codes_match_with_like_and_filters_narrow() {
    let c = legacy(Generation::Legacy).await;
    let d = c.fake.directory().clone();
    let study = d.main_study_id;
    let base = format!("/fhir/r5/Observation?patient._has:Group:member:_id={study}&_count=1000");
    let total = |v: &Value| v["total"].as_u64().unwrap() as usize;
    let hr = c
        .fake
        .expected_observations(Some(study), None, Some("omh:heart-rate:2.0"));
    let bp = c
        .fake
        .expected_observations(Some(study), None, Some("omh:blood-pressure:4.0"));
    let bg = c
        .fake
        .expected_observations(Some(study), None, Some("omh:blood-glucose:4.0"));
    assert!(!hr.is_empty() && !bp.is_empty() && !bg.is_empty());
    let omh = "https://w3id.org/openmhealth";
    let exact = c.ok(&format!("{base}&code={omh}|omh:heart-rate:2.0")).await;
    assert_eq!(ids(&exact), hr.iter().map(|e| e.id).collect::<Vec<_>>());
    let prefix = c.ok(&format!("{base}&code={omh}|omh:heart%25")).await;
    assert_eq!(total(&prefix), hr.len());
    let one_char = c.ok(&format!("{base}&code={omh}|omh:heart_rate:2.0")).await;
    assert_eq!(total(&one_char), hr.len());
    let blood = c.ok(&format!("{base}&code=%25|omh:blood-%25")).await;
    assert_eq!(total(&blood), bp.len() + bg.len());
    let bare = c.ok(&format!("{base}&code=omh:heart-rate:2.0")).await;
    assert_eq!(total(&bare), 0);
    // patient, patient.identifier (value only; a bare value is ignored).
    let (patient, identifiers) = d
        .patient_identifiers
        .iter()
        .find(|(_, ids)| !ids.is_empty())
        .unwrap();
    let mine = c.fake.expected_observations(None, Some(*patient), None);
    let by_patient = c
        .ok(&format!("/fhir/r5/Observation?patient={patient}&_count=1"))
        .await;
    assert_eq!(total(&by_patient), mine.len());
    let value = &identifiers[0].1;
    let by_ident = c
        .ok(&format!(
            "/fhir/r5/Observation?patient.identifier=other|{value}&_count=1"
        ))
        .await;
    assert_eq!(total(&by_ident), mine.len());
    let all_visible = c.fake.expected_observations(None, None, None);
    let bare_ident = c
        .ok(&format!(
            "/fhir/r5/Observation?patient.identifier={value}&_count=1"
        ))
        .await;
    assert_eq!(total(&bare_ident), all_visible.len());
}

#[tokio::test]
async fn legacy_routes_auth_and_negotiation() {
    let c = legacy(Generation::Legacy).await;
    let study = c.fake.directory().main_study_id;
    let q = format!("/fhir/r5/Observation?patient._has:Group:member:_id={study}");
    for path in [
        "/FHIR/R5/metadata",
        "/fhir/r5/metadata",
        "/fhir/r5/.well-known/smart-configuration",
        "/FHIR/R5/Observation",
        "/fhir/r5/Device",
        "/api/v1/observations/",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.content_type.starts_with("text/html"), "{path}");
    }
    let not_provided =
        serde_json::json!({"detail": "Authentication credentials were not provided."});
    for path in [q.as_str(), "/api/v1/observations"] {
        let r = c.get_anonymous(path).await;
        assert_eq!((r.status, r.json()), (401, not_provided.clone()), "{path}");
        // 406 comes before authentication, on REST too.
        let r = c
            .get_with(path, &[("accept", "application/fhir+json")])
            .await;
        assert_eq!(
            (r.status, r.json()),
            (
                406,
                serde_json::json!({"detail": "Could not satisfy the request Accept header."})
            ),
            "{path}"
        );
    }
    let r = c.get("/api/v1/observations/60001").await;
    assert_eq!(
        (r.status, r.json()),
        (404, serde_json::json!({"detail": "Not found."}))
    );
    let r = c
        .post_form(
            "/fhir/r5/Observation/_search",
            &format!("patient._has:Group:member:_id={study}"),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            405,
            serde_json::json!({"detail": "Method \"POST\" not allowed."})
        )
    );
    let r = c.get("/fhir/r5/Observation/60001").await;
    assert_eq!(r.status, 400);
    let r = c.get("/fhir/r5/Patient").await;
    assert_eq!(r.status, 400);
    assert!(r.json().is_array());
    let r = c
        .get(&format!("/fhir/r5/Patient?_has:Group:member:_id={study}"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.content_type.starts_with("text/plain"));
    let r = c.get("/api/v1/observations?study_id=abc").await;
    assert_eq!(r.status, 500);
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(
        c.get_anonymous("/health").await.json()["version"],
        "v0.0.11"
    );
    let oidc = c
        .get_anonymous("/o/.well-known/openid-configuration")
        .await
        .json();
    assert!(oidc.get("prompt_values_supported").is_none());
}

#[tokio::test]
async fn legacy_rest_rows() {
    let c = legacy(Generation::Legacy).await;
    let study = c.fake.directory().main_study_id;
    let expected = c.fake.expected_observations(Some(study), None, None);
    let (rows, total) = all_pages(
        &c,
        &format!("/api/v1/observations?study_id={study}&page_size=50"),
    )
    .await;
    assert_eq!(total, expected.len());
    assert_eq!(rows.len(), expected.len());
    for (r, e) in rows.iter().zip(&expected) {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "id",
                "subjectPatientId",
                "patientNameFamily",
                "patientNameGiven",
                "codeableConceptId",
                "codingSystem",
                "codingCode",
                "codingText",
                "lastUpdated",
                "valueAttachmentData"
            ])
        );
        assert_eq!(r["id"], e.id);
        assert_eq!(r["lastUpdated"], e.last_updated.as_str());
        assert_eq!(
            r["valueAttachmentData"],
            serde_json::from_str::<Value>(&e.omh_json).unwrap()
        );
    }
    // limit/offset are ignored by every released server (kept in the links).
    let a = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&limit=5&offset=5"
        ))
        .await;
    assert_eq!(a["results"].as_array().unwrap().len(), 20);
    assert_eq!(a["results"][0]["id"], expected[0].id);
}

#[tokio::test]
async fn the_guides_rest_rows_and_limit_offset_paging() {
    let c = legacy(Generation::LegacyGuide).await;
    let study = c.fake.directory().main_study_id;
    let expected = c.fake.expected_observations(Some(study), None, None);
    let first = c
        .ok(&format!("/api/v1/observations?study_id={study}&limit=7"))
        .await;
    assert_eq!(first["count"].as_u64().unwrap() as usize, expected.len());
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(
        first["next"],
        c.url(&format!(
            "/api/v1/observations?limit=7&offset=7&study_id={study}"
        ))
    );
    let second = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&limit=7&offset=7"
        ))
        .await;
    assert_eq!(second["results"][0]["id"], expected[7].id);
    assert_eq!(
        second["previous"],
        c.url(&format!("/api/v1/observations?limit=7&study_id={study}"))
    );
    // page/page_size mean nothing here: the default limit is 20.
    let paged = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page=2&page_size=5"
        ))
        .await;
    assert_eq!(paged["results"].as_array().unwrap().len(), 20);
    assert_eq!(paged["results"][0]["id"], expected[0].id);
    let (rows, total) = all_pages(
        &c,
        &format!("/api/v1/observations?study_id={study}&limit=33"),
    )
    .await;
    assert_eq!(total, expected.len());
    let got: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(got, expected.iter().map(|e| e.id).collect::<Vec<_>>());
    let w = &c.fake.state.world;
    for (r, e) in rows.iter().zip(&expected) {
        assert_guide_row(w, r, e);
    }
    // Past the end is an empty page, not 404; other lists page the same way.
    let past = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&offset=999999"
        ))
        .await;
    assert_eq!(past["results"], serde_json::json!([]));
    let patients = c.ok("/api/v1/patients?limit=1").await;
    assert_eq!(patients["results"].as_array().unwrap().len(), 1);
    assert!(patients["next"].as_str().unwrap().contains("offset=1"));
    // The FHIR side is the older servers'.
    assert_eq!(c.get("/FHIR/R5/metadata").await.status, 404);
    assert_eq!(c.get("/fhir/r5/Observation").await.status, 400);
}

/// A REST observation row with the user guide's field names.
fn assert_guide_row(w: &World, r: &Value, e: &ExpectedObservation) {
    let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "subjectPatient",
            "patientNameDisplay",
            "codeableConcept",
            "codingSystem",
            "codingCode",
            "codingText",
            "dataSource",
            "dataSourceName",
            "status",
            "valueAttachmentData",
            "created",
            "lastUpdated"
        ])
    );
    let p = &w.patients[w.patient_index(e.patient_id).unwrap()];
    assert_eq!(r["subjectPatient"], e.patient_id);
    assert_eq!(
        r["patientNameDisplay"],
        format!("{}, {}", p.name_family, p.name_given)
    );
    assert_eq!(r["status"], "final");
    assert_eq!(r["created"], e.last_updated.as_str());
    assert_eq!(
        r["valueAttachmentData"],
        serde_json::from_str::<Value>(&e.omh_json).unwrap()
    );
}
