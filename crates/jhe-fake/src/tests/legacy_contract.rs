//! The older generation's contract (v0.0.11): every call in `samples-v0.0.11/index.tsv`
//! made against the Legacy fake answers with the real server's status and content type,
//! error bodies are identical, and JSON bodies have the samples' shapes.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{FakeConfig, Generation};
use super::contract::{Rules, shape_errors};
use super::{Client, Resp, legacy_sample, repo_root};

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
    let path = repo_root().join("tests/reference/samples-v0.0.11/index.tsv");
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
        for what in mismatches(&c, call, &r) {
            failures.push(format!("{} ({target}): {what}", call.name));
        }
    }
    failures
}

/// How one response differs from the real server's answer to the same call.
fn mismatches(c: &Client, call: &Call, r: &Resp) -> Vec<String> {
    if r.status != call.status {
        return vec![format!("status {} (real {})", r.status, call.status)];
    }
    if media_type(&r.content_type) != media_type(&call.content_type) {
        return vec![format!(
            "content type {} (real {})",
            r.content_type, call.content_type
        )];
    }
    if media_type(&call.content_type) != "application/json" {
        return vec![];
    }
    let Ok(served) = serde_json::from_str::<Value>(&r.body) else {
        return vec!["not JSON".into()];
    };
    let mut out = Vec::new();
    if let Some(keys) = summary_value(&call.summary, "keys") {
        let want: BTreeSet<&str> = keys.split(',').collect();
        let got: BTreeSet<&str> = served
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if want != got {
            out.push(format!("top-level keys {got:?} (real {want:?})"));
        }
    }
    out.extend(page_mismatches(call, &served));
    out.extend(body_mismatches(c, call, &served));
    out
}

/// A page whose size was binding on the real server has that size here too.
fn page_mismatches(call: &Call, served: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let real_total = summary_value(&call.summary, "total")
        .or_else(|| summary_value(&call.summary, "count"))
        .and_then(|v| v.parse::<usize>().ok());
    let real_rows = summary_value(&call.summary, "n_entry")
        .or_else(|| summary_value(&call.summary, "n_results"))
        .and_then(|v| v.parse::<usize>().ok());
    if let (Some(total), Some(n)) = (real_total, real_rows) {
        let served_rows = rows(served);
        if n < total && call.name != "p2_fhir_lastpage" && served_rows != Some(n) {
            out.push(format!("{served_rows:?} rows (real {n} of {total})"));
        }
        if n > 0 && served_rows == Some(0) {
            out.push("no rows".into());
        }
        let served_total = served.get("total").or_else(|| served.get("count"));
        if total == 0 && served_total.and_then(Value::as_u64) != Some(0) {
            out.push(format!("total {served_total:?} (real 0)"));
        }
    }
    out
}

/// The body against the call's sample: equal for errors and fixed documents, the same
/// shape otherwise.
fn body_mismatches(c: &Client, call: &Call, served: &Value) -> Vec<String> {
    let Some(sample) = legacy_sample(&call.name) else {
        return vec![];
    };
    match call.name.as_str() {
        "oidc_configuration" => {
            let text = serde_json::to_string(&sample)
                .unwrap()
                .replace("http://localhost:8001", c.fake.url());
            if *served != serde_json::from_str::<Value>(&text).unwrap() {
                return vec![format!("body {served}")];
            }
            vec![]
        }
        _ if sample.is_array() || sample.get("detail").is_some() || call.name == "health" => {
            if *served != sample {
                return vec![format!("body {served} (real {sample})")];
            }
            vec![]
        }
        _ => {
            let rules = if sample.get("resourceType").is_some() {
                &LEGACY_BUNDLE
            } else {
                &LEGACY_REST
            };
            shape_errors(&sample, served, rules)
        }
    }
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
