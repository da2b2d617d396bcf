//! EHR-imported records: which store each `_source` form reads (the default searches
//! unchanged), the records' shapes, reads by UUID, visibility, the ground truth, and a
//! server without `_source`. Filters, paging and sorting: `imported_filters`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::FakeConfig;
use crate::generate::imported::{uuid_of, uuid_text};

use super::{Client, all_pages, resources};

pub(super) const BASE: &str = "https://jupyterhealth.org/fhir/fhir-source";
pub(super) const NATIVE: &str = "https://jupyterhealth.org/jhe";
pub(super) const LOINC: &str = "http://loinc.org";

/// Four visible patients (and two hidden), three days: 15 imported Observations, 3
/// Conditions, 3 MedicationRequests and 2 Encounters each.
pub(super) async fn small() -> Client {
    Client::start(FakeConfig {
        patients: 4,
        days: 3,
        seed: 5,
        ..FakeConfig::default()
    })
    .await
}

pub(super) fn total(b: &Value) -> usize {
    b["total"].as_u64().unwrap() as usize
}

pub(super) fn uuids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The ground truth's records, parsed.
pub(super) fn expected(
    c: &Client,
    t: &str,
    patient: Option<i64>,
    source: Option<i64>,
) -> Vec<Value> {
    c.fake
        .expected_imported(t, patient, source)
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect()
}

async fn count(c: &Client, path: &str) -> usize {
    let sep = if path.contains('?') { '&' } else { '?' };
    total(&c.ok(&format!("{path}{sep}_summary=count")).await)
}

#[tokio::test]
async fn every_source_form_reads_its_store() {
    let c = small().await;
    let d = c.fake.directory().clone();
    let native = c.fake.expected_observations(None, None, None).len();
    let all_obs = expected(&c, "Observation", None, None);
    assert_eq!(all_obs.len(), 4 * 15);
    // The default Observation search is the native store, as before.
    let (rows, n) = all_pages(&c, "/FHIR/R5/Observation?_count=1000").await;
    assert_eq!(n, native);
    assert!(rows.iter().all(|r| r["meta"]["source"] == NATIVE));
    assert_eq!(
        count(&c, &format!("/FHIR/R5/Observation?_source={NATIVE}")).await,
        native
    );
    assert_eq!(count(&c, "/FHIR/R5/Patient").await, 4);
    // _source:below: every imported record, the trailing slash optional.
    for below in [format!("{BASE}/"), BASE.to_string(), format!("{BASE}//")] {
        let (rows, n) = all_pages(
            &c,
            &format!("/FHIR/R5/Observation?_source:below={below}&_count=1000"),
        )
        .await;
        assert_eq!(n, all_obs.len(), "{below}");
        assert_eq!(rows, all_obs, "{below}");
    }
    // ... and it wins over _source.
    let both = format!("/FHIR/R5/Observation?_source={NATIVE}&_source:below={BASE}/");
    assert_eq!(count(&c, &both).await, all_obs.len());
    // Any other :below value, or any other _source, is nothing.
    for query in [
        format!("_source:below={BASE}/90001"),
        "_source:below=https://jupyterhealth.org/".to_string(),
        "_source:below=".to_string(),
        "_source=https://fhir.epic.com/api/FHIR/R4".to_string(),
        format!("_source={BASE}/"),
        format!("_source={BASE}/abc"),
        "_source=".to_string(),
    ] {
        let b = c.ok(&format!("/FHIR/R5/Observation?{query}")).await;
        assert_eq!(total(&b), 0, "{query}");
        assert!(resources(&b).is_empty());
    }
    // One source: its patient's records.
    let (&source, &patient) = c.fake.fhir_sources().iter().nth(1).unwrap();
    assert_eq!((source, patient), (90002, d.visible_patient_ids[1]));
    let (rows, n) = all_pages(
        &c,
        &format!("/FHIR/R5/Observation?_source={BASE}/{source}&_count=1000"),
    )
    .await;
    assert_eq!(n, 15);
    assert_eq!(rows, expected(&c, "Observation", None, Some(source)));
    assert!(
        rows.iter()
            .all(|r| r["meta"]["source"] == format!("{BASE}/{source}"))
    );
    assert!(
        rows.iter()
            .all(|r| r["extension"][0]["valueInteger"] == patient)
    );
    // A source that does not exist finds nothing (no 403).
    assert_eq!(
        count(&c, &format!("/FHIR/R5/Observation?_source={BASE}/12345")).await,
        0
    );
    // Pure-imported types: every record without _source, none from the native store.
    for (t, per_patient) in [("Condition", 3), ("MedicationRequest", 3), ("Encounter", 2)] {
        assert_eq!(
            count(&c, &format!("/FHIR/R5/{t}")).await,
            4 * per_patient,
            "{t}"
        );
        assert_eq!(
            count(&c, &format!("/FHIR/R5/{t}?_source:below={BASE}/")).await,
            4 * per_patient
        );
        assert_eq!(
            count(&c, &format!("/FHIR/R5/{t}?_source={BASE}/{source}")).await,
            per_patient
        );
        assert_eq!(
            count(&c, &format!("/FHIR/R5/{t}?_source={NATIVE}")).await,
            0,
            "{t}"
        );
        assert_eq!(expected(&c, t, None, None).len(), 4 * per_patient);
    }
    // Types with no imported records, and the imported half of Patient, are empty.
    for path in [
        "/FHIR/R5/AllergyIntolerance",
        &format!("/FHIR/R5/Patient?_source:below={BASE}/"),
    ] {
        assert_eq!(count(&c, path).await, 0, "{path}");
    }
    // POST _search reads the same store.
    let r = c
        .post_form(
            "/FHIR/R5/Observation/_search",
            &format!("_source:below={BASE}/&_summary=count"),
        )
        .await;
    assert_eq!(total(&r.json()), all_obs.len());
}

#[tokio::test]
async fn records_have_every_form() {
    let c = small().await;
    let d = c.fake.directory().clone();
    let w = &c.fake.state.world;
    for (index, &patient) in d.visible_patient_ids.iter().enumerate() {
        let source = 90001 + index as i64;
        let p = &w.patients[index];
        for t in ["Observation", "Condition", "MedicationRequest", "Encounter"] {
            for r in expected(&c, t, Some(patient), None) {
                assert_eq!(r["resourceType"], t);
                assert_eq!(
                    r["meta"],
                    serde_json::json!({"source": format!("{BASE}/{source}")})
                );
                assert_eq!(
                    r["extension"],
                    serde_json::json!([
                        {"url": "https://jupyterhealth.org/fhir/StructureDefinition/patient-id", "valueInteger": patient},
                        {"url": "https://jupyterhealth.org/fhir/StructureDefinition/patient-full-name",
                         "valueString": format!("{} {}", p.name_given, p.name_family)},
                    ])
                );
                let subject = r["subject"]["reference"].as_str().unwrap();
                assert!(
                    subject.starts_with("Patient/e") && !subject.contains(&patient.to_string()),
                    "{subject}"
                );
                let id = r["id"].as_str().unwrap();
                assert!(crate::generate::imported::parse_uuid(id).is_some(), "{id}");
            }
        }
        let obs = expected(&c, "Observation", Some(patient), None);
        let has = |f: &dyn Fn(&Value) -> bool| obs.iter().any(f);
        let code = |r: &Value| r["code"]["coding"][0]["code"].as_str().unwrap().to_string();
        let codes: BTreeSet<String> = obs.iter().map(code).collect();
        for loinc in [
            "4548-4", "2345-7", "2339-0", "8867-4", "85354-9", "29463-7", "2160-0", "72166-2",
        ] {
            assert!(codes.contains(loinc), "{loinc}");
        }
        assert!(
            obs.iter()
                .all(|r| r["code"]["coding"][0]["system"] == LOINC)
        );
        assert!(obs.iter().all(
            |r| r["code"]["text"].is_string() && r["code"]["coding"][0]["display"].is_string()
        ));
        let category = |r: &Value| {
            r["category"][0]["coding"][0]["code"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(
            obs.iter()
                .all(|r| ["laboratory", "vital-signs"].contains(&category(r).as_str()))
        );
        for status in ["final", "amended", "preliminary"] {
            assert!(has(&|r| r["status"] == status), "{status}");
        }
        // HbA1c in %, with a reference range, high and normal.
        for flag in ["H", "N"] {
            assert!(has(&|r| code(r) == "4548-4"
                && r["valueQuantity"]["system"] == "http://unitsofmeasure.org"
                && r["valueQuantity"]["code"] == "%"
                && r["referenceRange"][0]["low"]["value"].is_number()
                && r["referenceRange"][0]["high"]["value"].is_number()
                && r["interpretation"][0]["coding"][0]["code"] == flag
                && r["interpretation"][0]["coding"][0]["system"]
                    == "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"));
        }
        // Heart rate with UCUM, and without a system, as in the Exchange's own test.
        assert!(has(
            &|r| code(r) == "8867-4" && r["valueQuantity"]["code"] == "/min"
        ));
        assert!(has(&|r| code(r) == "8867-4"
            && r["valueQuantity"]["unit"] == "beats/min"
            && r["valueQuantity"].get("system").is_none()));
        // The blood-pressure panel: components only.
        let bp = obs.iter().find(|r| code(r) == "85354-9").unwrap();
        assert!(bp.get("valueQuantity").is_none());
        let parts: Vec<&str> = bp["component"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"]["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(parts, ["8480-6", "8462-4"]);
        assert!(
            bp["component"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["valueQuantity"]["code"] == "mm[Hg]")
        );
        for unit in ["kg", "[lb_av]"] {
            assert!(
                has(&|r| code(r) == "29463-7" && r["valueQuantity"]["code"] == unit),
                "{unit}"
            );
        }
        assert!(has(
            &|r| code(r) == "2160-0" && r["valueQuantity"]["unit"] == "mg/dL"
        ));
        let smoking = obs.iter().find(|r| code(r) == "72166-2").unwrap();
        assert_eq!(
            smoking["valueCodeableConcept"]["coding"][0]["system"],
            "http://snomed.info/sct"
        );
        assert!(smoking["valueCodeableConcept"]["text"].is_string());
        for value in ["valueString", "valueBoolean", "valueInteger", "valuePeriod"] {
            assert!(has(&|r| r.get(value).is_some()), "{value}");
        }
        assert!(has(&|r| r["effectiveDateTime"].is_string()));
        assert!(has(&|r| r["effectivePeriod"]["start"].is_string()
            && r["effectivePeriod"]["end"].is_string()));
        assert!(has(&|r| r.get("effectiveDateTime").is_none()
            && r.get("effectivePeriod").is_none()
            && r["issued"].is_string()));
        condition_and_friends(&c, patient);
    }
}

fn condition_and_friends(c: &Client, patient: i64) {
    let conditions = expected(c, "Condition", Some(patient), None);
    for r in &conditions {
        assert!(r["clinicalStatus"]["coding"][0]["code"].is_string());
        assert_eq!(r["verificationStatus"]["coding"][0]["code"], "confirmed");
        assert!(r["category"][0]["coding"][0]["code"].is_string());
        assert_eq!(r["code"]["coding"][0]["system"], "http://snomed.info/sct");
        assert!(r["code"]["text"].is_string());
        assert_eq!(r["onsetDateTime"].as_str().unwrap().len(), 10);
        assert!(r["recordedDate"].is_string());
    }
    let statuses: BTreeSet<&str> = conditions
        .iter()
        .map(|r| r["clinicalStatus"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["active", "resolved"]));
    for r in expected(c, "MedicationRequest", Some(patient), None) {
        let concept = &r["medication"]["concept"];
        assert_eq!(
            concept["coding"][0]["system"],
            "http://www.nlm.nih.gov/research/umls/rxnorm"
        );
        assert!(concept["text"].is_string());
        assert_eq!(r["intent"], "order");
        assert!(r["status"].is_string() && r["authoredOn"].is_string());
        assert!(r["dosageInstruction"][0]["text"].is_string());
        assert!(r["reason"][0]["concept"]["coding"][0]["code"].is_string());
    }
    for r in expected(c, "Encounter", Some(patient), None) {
        assert_eq!(r["status"], "completed");
        assert!(r["class"][0]["coding"][0]["code"].is_string());
        assert!(r["type"][0]["text"].is_string());
        assert!(r["actualPeriod"]["start"].is_string() && r["actualPeriod"]["end"].is_string());
        assert!(r["identifier"][0]["value"].is_string());
    }
}

#[tokio::test]
async fn reads_by_uuid() {
    let c = small().await;
    for t in ["Observation", "Condition", "MedicationRequest", "Encounter"] {
        let some = &expected(&c, t, None, None)[3];
        let id = some["id"].as_str().unwrap();
        assert_eq!(&c.ok(&format!("/FHIR/R5/{t}/{id}")).await, some);
        // Any spelling Python's uuid.UUID reads.
        assert_eq!(
            &c.ok(&format!(
                "/FHIR/R5/{t}/{}",
                id.to_uppercase().replace('-', "")
            ))
            .await,
            some
        );
        // Another type's record is not found.
        let other = if t == "Encounter" {
            "Condition"
        } else {
            "Encounter"
        };
        let r = c.get(&format!("/FHIR/R5/{other}/{id}")).await;
        assert_eq!(r.status, 404, "{other}/{id}");
        assert_eq!(
            r.json()["issue"][0]["diagnostics"],
            format!("{other}/{id} not found.")
        );
    }
    // A hidden patient's record, and a UUID no record has, are not found.
    let hidden = c.fake.state.world.patients.len() as u32 - 1;
    for id in [
        uuid_text(uuid_of(5, hidden, 0)),
        "0b6c1f9e-4d5a-4c3b-9a2f-1e0d9c8b7a65".into(),
    ] {
        assert_eq!(
            c.get(&format!("/FHIR/R5/Observation/{id}")).await.status,
            404,
            "{id}"
        );
    }
    // Integer ids still read the native store; a pure-imported type has none.
    let native = c.fake.expected_observations(None, None, None)[0].id;
    assert_eq!(
        c.get(&format!("/FHIR/R5/Observation/{native}"))
            .await
            .status,
        200
    );
    let r = c.get("/FHIR/R5/Condition/123").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["issue"][0]["diagnostics"],
        "Unsupported FHIR resource type: Condition."
    );
    assert_eq!(c.get("/FHIR/R5/Observation/abc").await.status, 422);
}

#[tokio::test]
async fn only_visible_patients_records_are_served() {
    let c = small().await;
    let d = c.fake.directory().clone();
    let sources = c.fake.fhir_sources();
    assert_eq!(sources.len(), 6);
    let visible: BTreeSet<i64> = d.visible_patient_ids.iter().copied().collect();
    let (rows, _) = all_pages(&c, "/FHIR/R5/Condition?_count=1000").await;
    let served: BTreeSet<i64> = rows
        .iter()
        .map(|r| r["extension"][0]["valueInteger"].as_i64().unwrap())
        .collect();
    assert_eq!(served, visible);
    for &hidden in &d.hidden_patient_ids {
        let source = sources
            .iter()
            .find(|(_, p)| **p == hidden)
            .map(|(s, _)| *s)
            .unwrap();
        assert_eq!(
            count(&c, &format!("/FHIR/R5/Condition?_source={BASE}/{source}")).await,
            0
        );
        assert!(
            c.fake
                .expected_imported("Condition", None, Some(source))
                .unwrap()
                .is_empty()
        );
        assert!(
            c.fake
                .expected_imported("Condition", Some(hidden), None)
                .unwrap()
                .is_empty()
        );
        // A hidden patient is refused, as on the native store.
        let r = c.get(&format!("/FHIR/R5/Condition?patient={hidden}")).await;
        assert_eq!(r.status, 403);
        assert_eq!(
            r.json()["issue"][0]["diagnostics"],
            format!("Current user is not authorized to access Patient/{hidden}.")
        );
    }
    let r = c
        .get(&format!(
            "/FHIR/R5/Encounter?patient._has:Group:member:_id={}",
            d.hidden_study_id
        ))
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .get(&format!(
            "/FHIR/R5/Observation?_source:below={BASE}/&patient.organization={}",
            d.hidden_organization_id
        ))
        .await;
    assert_eq!(r.status, 403);
    // A search of nothing is not authorized (the server's empty queryset).
    let r = c
        .get(&format!(
            "/FHIR/R5/Observation?_source=x&patient={}",
            d.hidden_patient_ids[0]
        ))
        .await;
    assert_eq!((r.status, total(&r.json())), (200, 0));
    assert!(
        c.fake
            .expected_imported("Observations", None, None)
            .is_err()
    );
    assert!(
        c.fake
            .expected_imported("AllergyIntolerance", None, None)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_server_without_source_ignores_it() {
    let off = Client::start(FakeConfig {
        patients: 4,
        days: 3,
        seed: 5,
        source_search: false,
        ..FakeConfig::default()
    })
    .await;
    let on = small().await;
    let (with, without) = (
        on.ok("/FHIR/R5/metadata").await,
        off.ok("/FHIR/R5/metadata").await,
    );
    let params = |s: &Value| -> Vec<(String, Vec<String>)> {
        s["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let names = r["searchParam"].as_array().unwrap().iter();
                (
                    r["type"].as_str().unwrap().to_string(),
                    names
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    };
    let (with, without) = (params(&with), params(&without));
    assert_eq!(with.len(), 26);
    assert_eq!(without.len(), 26);
    for ((t, a), (u, b)) in with.iter().zip(&without) {
        assert_eq!(t, u);
        assert_eq!(a.last().map(String::as_str), Some("_source"), "{t}");
        assert_eq!(&a[..a.len() - 1], &b[..], "{t}");
    }
    // Every search is routed as if no _source were sent.
    let native = off.fake.expected_observations(None, None, None).len();
    for query in [
        format!("_source:below={BASE}/"),
        format!("_source={BASE}/90001"),
        "_source=x".into(),
    ] {
        assert_eq!(
            count(&off, &format!("/FHIR/R5/Observation?{query}")).await,
            native,
            "{query}"
        );
        assert_eq!(
            count(&off, &format!("/FHIR/R5/Condition?{query}")).await,
            12,
            "{query}"
        );
    }
    assert_eq!(
        count(&off, &format!("/FHIR/R5/Condition?_source={NATIVE}")).await,
        12
    );
}
