//! The contract: every endpoint with a sample from the real server answers with the same
//! keys at every level and the same JSON types ("shape"), and the OMH payloads inside have
//! the shapes of the real server's payloads per code.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::Directory;

use super::{Client, link, payload_text, resources, sample};

/// Keys and JSON types, recursively. Arrays merge the shapes of their elements.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Shape {
    kinds: BTreeSet<&'static str>,
    fields: BTreeMap<String, Shape>,
    items: Option<Box<Shape>>,
}

pub(super) fn shape(v: &Value) -> Shape {
    let mut s = Shape::default();
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            for item in items {
                merge_into(&mut s.items, shape(item));
            }
            "array"
        }
        Value::Object(map) => {
            s.fields = map.iter().map(|(k, v)| (k.clone(), shape(v))).collect();
            "object"
        }
    };
    s.kinds.insert(kind);
    s
}

fn merge_into(slot: &mut Option<Box<Shape>>, b: Shape) {
    match slot {
        Some(a) => merge(a, b),
        None => *slot = Some(Box::new(b)),
    }
}

fn merge(a: &mut Shape, b: Shape) {
    a.kinds.extend(b.kinds);
    for (k, v) in b.fields {
        match a.fields.get_mut(&k) {
            Some(x) => merge(x, v),
            None => {
                a.fields.insert(k, v);
            }
        }
    }
    if let Some(items) = b.items {
        merge_into(&mut a.items, *items);
    }
}

/// What may legitimately differ from a sample.
#[derive(Default)]
pub(super) struct Rules {
    /// Path suffixes of keys that may be absent on either side (documented optional).
    pub optional: &'static [&'static str],
    /// Key names whose value may be null on either side.
    pub nullable: &'static [&'static str],
    /// Path suffixes not compared below this point (checked elsewhere).
    pub opaque: &'static [&'static str],
}

pub(super) fn compare(
    sample: &Shape,
    served: &Shape,
    path: &str,
    rules: &Rules,
    errors: &mut Vec<String>,
) {
    if rules.opaque.iter().any(|o| path.ends_with(o)) {
        return;
    }
    let key = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .trim_end_matches("[]");
    let (mut a, mut b) = (sample.kinds.clone(), served.kinds.clone());
    if rules.nullable.contains(&key) {
        a.remove("null");
        b.remove("null");
    }
    if !a.is_empty() && !b.is_empty() && a != b {
        errors.push(format!("{path}: sample has {a:?}, served {b:?}"));
    }
    if sample.kinds.contains("object") && served.kinds.contains("object") {
        let keys: BTreeSet<&String> = sample.fields.keys().chain(served.fields.keys()).collect();
        for k in keys {
            let child = format!("{path}.{k}");
            let optional = rules.optional.iter().any(|o| child.ends_with(o));
            match (sample.fields.get(k), served.fields.get(k)) {
                (Some(x), Some(y)) => compare(x, y, &child, rules, errors),
                (Some(_), None) if !optional => {
                    errors.push(format!("{child}: missing from the served response"))
                }
                (None, Some(_)) if !optional => errors.push(format!("{child}: not in the sample")),
                _ => {}
            }
        }
    }
    if let (Some(x), Some(y)) = (&sample.items, &served.items) {
        compare(x, y, &format!("{path}[]"), rules, errors);
    }
}

pub(super) fn shape_errors(sample: &Value, served: &Value, rules: &Rules) -> Vec<String> {
    let mut errors = Vec::new();
    compare(&shape(sample), &shape(served), "$", rules, &mut errors);
    errors
}

const OBSERVATION_BUNDLE: Rules = Rules {
    optional: &[
        ".resource.identifier",
        ".resource.effectiveDateTime",
        ".resource.effectivePeriod",
    ],
    nullable: &[],
    opaque: &[],
};
const PATIENT_BUNDLE: Rules = Rules {
    optional: &[".resource.identifier"],
    nullable: &[],
    opaque: &[],
};
const REST: Rules = Rules {
    optional: &[],
    nullable: &[
        "next",
        "previous",
        "partOf",
        "currentUserRole",
        "iconUrl",
        "patient",
        "consented",
        "consentedTime",
    ],
    // Payloads are compared per code in `omh_payloads_have_the_real_shapes`.
    opaque: &[".omhData"],
};
const EXACT: Rules = Rules {
    optional: &[],
    nullable: &[],
    opaque: &[],
};

/// GET `path`, expect `status`, and compare its shape with the sample.
async fn check(c: &Client, path: &str, sample_name: &str, status: u16, rules: &Rules) -> Value {
    let r = c.get(path).await;
    assert_eq!(
        r.status,
        status,
        "GET {path}: {}",
        &r.body[..r.body.len().min(400)]
    );
    assert!(
        r.content_type.starts_with("application/json"),
        "GET {path}: {}",
        r.content_type
    );
    let served = r.json();
    let errors = shape_errors(&sample(sample_name), &served, rules);
    assert!(
        errors.is_empty(),
        "GET {path} vs {sample_name}:\n{}",
        errors.join("\n")
    );
    served
}

#[tokio::test]
async fn fhir_responses_have_the_sample_shapes() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let study = d.main_study_id;

    let path = format!("/FHIR/R5/Observation?patient._has:Group:member:_id={study}&_count=2");
    let page1 = check(
        &c,
        &path,
        "fhir_observation_bundle_study30001_page1.json",
        200,
        &OBSERVATION_BUNDLE,
    )
    .await;
    assert_eq!(link(&page1, "self").unwrap(), c.url(&path));
    assert_eq!(
        link(&page1, "next").unwrap(),
        c.url(&format!(
            "/FHIR/R5/Observation?_count=2&_page=2&patient._has%3AGroup%3Amember%3A_id={study}"
        ))
    );
    assert_eq!(link(&page1, "previous"), None);

    let patient = d.patients_by_study[&study][0];
    let path = format!("/FHIR/R5/Observation?patient={patient}&date=ge2025-12-31&_sort=date");
    check(
        &c,
        &path,
        "fhir_observation_bundle_date_range.json",
        200,
        &OBSERVATION_BUNDLE,
    )
    .await;

    let path = format!(
        "/FHIR/R5/Observation?patient._has:Group:member:_id={study}&_count=3\
         &code=https%3a%2f%2fw3id.org%2fopenmhealth%7comh%3astep-count%3a3.0"
    );
    let steps = check(
        &c,
        &path,
        "fhir_observation_bundle_stepcount.json",
        200,
        &OBSERVATION_BUNDLE,
    )
    .await;
    assert_eq!(
        link(&steps, "next").unwrap(),
        c.url(&format!(
            "/FHIR/R5/Observation?_count=3&_page=2&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Astep-count%3A3.0\
             &patient._has%3AGroup%3Amember%3A_id={study}"
        ))
    );

    let path = format!("/FHIR/R5/Patient?patient._has:Group:member:_id={study}");
    check(&c, &path, "fhir_patient_bundle.json", 200, &PATIENT_BUNDLE).await;

    fhir_errors_and_documents_match_the_samples(&c, &d).await;
}

/// Errors match the samples exactly; unauthenticated documents with the base URL rewritten.
async fn fhir_errors_and_documents_match_the_samples(c: &Client, d: &Directory) {
    // Errors match the samples exactly.
    let r = c.get_anonymous("/FHIR/R5/Observation").await;
    assert_eq!(
        (r.status, r.json()),
        (401, sample("fhir_401_operationoutcome.json"))
    );
    let r = c
        .get(&format!(
            "/FHIR/R5/Observation?patient._has:Group:member:_id={}",
            d.hidden_study_id
        ))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (403, sample("fhir_403_operationoutcome.json"))
    );
    let r = c.get("/FHIR/R5/Observation/1").await;
    assert_eq!(
        (r.status, r.json()),
        (404, sample("fhir_404_operationoutcome.json"))
    );

    // Unauthenticated documents: the samples with the base URL rewritten.
    let rewrite = |name: &str| -> Value {
        let text = serde_json::to_string(&sample(name)).unwrap();
        serde_json::from_str(&text.replace("http://localhost:8000", c.fake.url())).unwrap()
    };
    let r = c.get_anonymous("/FHIR/R5/metadata").await;
    assert_eq!(
        (r.status, r.json()),
        (200, rewrite("fhir_capability_statement.json"))
    );
    let r = c.get_anonymous("/o/.well-known/openid-configuration").await;
    assert_eq!(
        (r.status, r.json()),
        (200, rewrite("oidc_configuration.json"))
    );
    let r = c
        .get_anonymous("/FHIR/R5/.well-known/smart-configuration")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token_endpoint"], c.url("/o/token/"));
}

#[tokio::test]
async fn rest_responses_have_the_sample_shapes() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let w = &c.fake.state.world;

    check(
        &c,
        "/api/v1/users/profile",
        "rest_user_profile.json",
        200,
        &REST,
    )
    .await;
    check(
        &c,
        "/api/v1/organizations?page_size=2",
        "rest_organizations.json",
        200,
        &REST,
    )
    .await;
    check(&c, "/api/v1/studies", "rest_studies.json", 200, &REST).await;
    let r = c
        .get(&format!("/api/v1/studies/{}", d.hidden_study_id))
        .await;
    assert_eq!((r.status, r.json()), (403, sample("rest_403.json")));
    check(&c, "/api/v1/patients", "rest_patients.json", 200, &REST).await;
    // A patient with both consented and pending studies, like the sample's.
    let pending = w
        .patients
        .iter()
        .find(|p| p.visible && !p.pending_study_ids.is_empty())
        .expect("a pending consent");
    check(
        &c,
        &format!("/api/v1/patients/{}/consents", pending.id),
        "rest_patient_consents.json",
        200,
        &REST,
    )
    .await;
    check(
        &c,
        "/api/v1/data_sources",
        "rest_data_sources.json",
        200,
        &REST,
    )
    .await;

    let study = d.main_study_id;
    let page = check(
        &c,
        &format!("/api/v1/observations?study_id={study}&page=2&page_size=3"),
        "rest_observations_page.json",
        200,
        &REST,
    )
    .await;
    assert_eq!(
        page["next"],
        c.url(&format!(
            "/api/v1/observations?page=3&page_size=3&study_id={study}"
        ))
    );
    assert_eq!(
        page["previous"],
        c.url(&format!(
            "/api/v1/observations?page_size=3&study_id={study}"
        ))
    );
    assert!(page["results"][0]["omhData"].is_object());
}

#[tokio::test]
async fn omh_payloads_have_the_real_shapes() {
    let c = Client::default().await;
    let study = c.fake.directory().main_study_id;
    let samples = sample("omh_payloads_by_code.json");
    let mut checked = 0;
    for (code, entry) in samples.as_object().unwrap() {
        let Some(want) = entry.get("omh") else {
            continue;
        };
        let system = if code.starts_with("ieee:") {
            "https://w3id.org/ieee1752"
        } else {
            "https://w3id.org/openmhealth"
        };
        let bundle = c
            .ok(&format!("/FHIR/R5/Observation?patient._has:Group:member:_id={study}&code={system}|{code}&_count=1000"))
            .await;
        let payloads: Vec<Value> = resources(&bundle)
            .iter()
            .map(|r| serde_json::from_str(&payload_text(r)).unwrap())
            .collect();
        assert!(!payloads.is_empty(), "no {code} served");
        // At least one served payload has exactly the sample's shape.
        let mut closest: Option<Vec<String>> = None;
        for p in &payloads {
            let errors = shape_errors(want, p, &EXACT);
            if closest.as_ref().is_none_or(|c| errors.len() < c.len()) {
                closest = Some(errors);
            }
        }
        let closest = closest.unwrap();
        assert!(
            closest.is_empty(),
            "no served {code} payload has the sample's shape; closest:\n{}",
            closest.join("\n")
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} codes checked");
}

#[test]
fn the_shape_comparison_can_fail() {
    let sample: Value = serde_json::from_str(r#"{"a": 1, "b": [{"c": "x"}], "d": null}"#).unwrap();
    let renamed: Value =
        serde_json::from_str(r#"{"a": 1, "b": [{"cc": "x"}], "d": null}"#).unwrap();
    let retyped: Value =
        serde_json::from_str(r#"{"a": "1", "b": [{"c": "x"}], "d": null}"#).unwrap();
    let nulled: Value = serde_json::from_str(r#"{"a": 1, "b": [{"c": "x"}], "d": 5}"#).unwrap();
    assert!(shape_errors(&sample, &sample, &EXACT).is_empty());
    assert_eq!(shape_errors(&sample, &renamed, &EXACT).len(), 2);
    assert_eq!(shape_errors(&sample, &retyped, &EXACT).len(), 1);
    assert_eq!(shape_errors(&sample, &nulled, &EXACT).len(), 1);
    let rules = Rules {
        nullable: &["d"],
        ..Rules::default()
    };
    assert!(shape_errors(&sample, &nulled, &rules).is_empty());
}
