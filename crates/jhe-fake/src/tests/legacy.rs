//! The older generation (v0.0.11): every call in `samples-v0.0.11/index.tsv` made against
//! the Legacy fake answers with the real server's status and content type, error bodies
//! are identical, and JSON bodies have the samples' shapes; then the behaviours behind
//! them, and the user guide's REST variant.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use super::super::{FakeConfig, Generation};
use super::contract::{Rules, shape_errors};
use super::{Client, Resp, ids, legacy_sample, link, manifest_dir, resources};

/// One line of `index.tsv`.
struct Call {
    name: String,
    method: String,
    target: String,
    status: u16,
    content_type: String,
    summary: String,
}

fn index() -> Vec<Call> {
    let path = manifest_dir().join("tests/reference/samples-v0.0.11/index.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (method, target) = cols[1].split_once(' ').unwrap();
            Call {
                name: cols[0].to_string(),
                method: method.to_string(),
                target: target.to_string(),
                status: cols[2].parse().unwrap(),
                content_type: cols[3].to_string(),
                summary: cols.get(4).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// `key=value` from the index's summary column.
fn summary_value<'a>(summary: &'a str, key: &str) -> Option<&'a str> {
    summary
        .split_whitespace()
        .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
}

/// Rows in a bundle or a REST envelope.
fn rows(v: &Value) -> Option<usize> {
    v.get("entry")
        .or_else(|| v.get("results"))
        .and_then(Value::as_array)
        .map(Vec::len)
}

const LEGACY_BUNDLE: Rules = Rules {
    optional: &[],
    nullable: &[],
    opaque: &[],
};
const LEGACY_REST: Rules = Rules {
    optional: &[],
    nullable: &["next", "previous"],
    // OMH payload shapes are held to the samples per code elsewhere.
    opaque: &[".valueAttachmentData"],
};

/// The real call, translated to the fake's data where the ids of the real server's data
/// would not mean the same thing here.
fn translate(c: &Client, call: &Call) -> String {
    let d = c.fake.directory();
    let main = d.main_study_id;
    let bp = d
        .visible_study_ids
        .iter()
        .copied()
        .find(|&s| s != main)
        .unwrap();
    let not_in_bp = d
        .visible_patient_ids
        .iter()
        .copied()
        .find(|p| !d.patients_by_study[&bp].contains(p))
        .expect("a visible patient outside the BP study");
    let mrn = d
        .patient_identifiers
        .values()
        .flatten()
        .find(|(system, _)| system == "https://example.org/mrn")
        .map(|(_, v)| v.clone())
        .expect("a patient with an MRN");
    let member_org = d.member_organization_ids[0];
    let t = call.target.clone();
    match call.name.as_str() {
        // The real study held 5 rows: page 2 of 5 and page 99 of 2 were past the end.
        "fhir_obs_study30001_count2_page99" => t.replace("_page=99", "_page=999999"),
        "rest_obs_study30001_page2_size5" | "rest_obs_study30001_camel_pageSize" => {
            t.replace("page=2", "page=999999")
        }
        "rest_obs_study30001_page99" => t.replace("page=99", "page=999999"),
        // Every visible patient is in the main study here; use the BP study.
        "fhir_obs_study30001_patient_not_in_study" => {
            format!("/fhir/r5/Observation?patient._has:Group:member:_id={bp}&patient={not_in_bp}")
        }
        "p3_fhir_identifier_sysval" | "p3_fhir_identifier_othersys" => t.replace("MRN-40001", &mrn),
        // Observation 60001 may belong to a hidden patient here.
        "rest_obs_study30001_obs60001" => {
            let first = c.fake.expected_observations(Some(main), None, None)[0].id;
            t.replace("60001", &first.to_string())
        }
        // Organization 20003 was the user's on the real server; here it is hidden.
        "p3_rest_obs_org" => t.replace(
            "organization_id=20003",
            &format!("organization_id={member_org}"),
        ),
        n if n.starts_with("iglu_") => t.replace("30006", &main.to_string()),
        _ => t,
    }
}

async fn send(c: &Client, call: &Call, target: &str) -> Resp {
    let url = c.url(target);
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap();
    let mut r = c.http().request(method, &url);
    r = match call.name.as_str() {
        n if n.ends_with("no_token") => r,
        n if n.ends_with("bad_token") => r.bearer_auth("not-a-token"),
        _ => r.bearer_auth(c.fake.token()),
    };
    let accept = match call.name.as_str() {
        "fhir_obs_accept_fhirjson" => "application/fhir+json",
        "p3_fhir_accept_star" => "*/*",
        "p3_fhir_accept_fhirjson_and_json" => "application/fhir+json, application/json",
        _ => "application/json",
    };
    c.send(r.header("accept", accept)).await
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Every mismatch between the index (and its bodies) and what this fake serves.
async fn contract_failures(generation: Generation) -> Vec<String> {
    let c = Client::start(FakeConfig {
        generation,
        ..FakeConfig::default()
    })
    .await;
    let mut failures = Vec::new();
    let calls = index();
    assert!(calls.len() >= 80, "index.tsv has {} calls", calls.len());
    for call in &calls {
        let target = translate(&c, call);
        let r = send(&c, call, &target).await;
        let mut fail = |what: String| failures.push(format!("{} ({target}): {what}", call.name));
        if r.status != call.status {
            fail(format!("status {} (real {})", r.status, call.status));
            continue;
        }
        if media_type(&r.content_type) != media_type(&call.content_type) {
            fail(format!(
                "content type {} (real {})",
                r.content_type, call.content_type
            ));
            continue;
        }
        if media_type(&call.content_type) != "application/json" {
            continue;
        }
        let Ok(served) = serde_json::from_str::<Value>(&r.body) else {
            fail("not JSON".into());
            continue;
        };
        if let Some(keys) = summary_value(&call.summary, "keys") {
            let want: BTreeSet<&str> = keys.split(',').collect();
            let got: BTreeSet<&str> = served
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            if want != got {
                fail(format!("top-level keys {got:?} (real {want:?})"));
            }
        }
        // A page whose size was binding on the real server has that size here too.
        let real_total = summary_value(&call.summary, "total")
            .or_else(|| summary_value(&call.summary, "count"))
            .and_then(|v| v.parse::<usize>().ok());
        let real_rows = summary_value(&call.summary, "n_entry")
            .or_else(|| summary_value(&call.summary, "n_results"))
            .and_then(|v| v.parse::<usize>().ok());
        if let (Some(total), Some(n)) = (real_total, real_rows) {
            let served_rows = rows(&served);
            if n < total && call.name != "p2_fhir_lastpage" && served_rows != Some(n) {
                fail(format!("{served_rows:?} rows (real {n} of {total})"));
            }
            if n > 0 && served_rows == Some(0) {
                fail("no rows".into());
            }
            let served_total = served.get("total").or_else(|| served.get("count"));
            if total == 0 && served_total.and_then(Value::as_u64) != Some(0) {
                fail(format!("total {served_total:?} (real 0)"));
            }
        }
        let Some(sample) = legacy_sample(&call.name) else {
            continue;
        };
        match call.name.as_str() {
            "oidc_configuration" => {
                let text = serde_json::to_string(&sample)
                    .unwrap()
                    .replace("http://localhost:8001", c.fake.url());
                if served != serde_json::from_str::<Value>(&text).unwrap() {
                    fail(format!("body {served}"));
                }
            }
            _ if sample.is_array() || sample.get("detail").is_some() || call.name == "health" => {
                if served != sample {
                    fail(format!("body {served} (real {sample})"));
                }
            }
            _ => {
                let rules = if sample.get("resourceType").is_some() {
                    &LEGACY_BUNDLE
                } else {
                    &LEGACY_REST
                };
                for e in shape_errors(&sample, &served, rules) {
                    fail(e);
                }
            }
        }
    }
    failures
}

#[tokio::test]
async fn legacy_answers_every_indexed_call_like_the_real_server() {
    let failures = contract_failures(Generation::Legacy).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_legacy_contract_can_fail() {
    // The current generation fails it nearly everywhere (no /fhir/r5/ at all).
    let current = contract_failures(Generation::Current).await;
    assert!(current.len() > 40, "{}", current.join("\n"));
    // The guide's variant differs only in the REST observation lists: its rows and its
    // limit/offset paging (no 404 past the end, the default limit of 20).
    let guide = contract_failures(Generation::LegacyGuide).await;
    assert!(
        guide.iter().any(|f| f.contains("results[].subjectPatient")),
        "{}",
        guide.join("\n")
    );
    for f in &guide {
        assert!(f.contains("/api/v1/observations"), "unexpected: {f}");
    }
}

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
