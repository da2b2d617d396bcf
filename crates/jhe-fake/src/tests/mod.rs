//! Tests of the fake Exchange over HTTP: the vendored reference samples, the contract
//! (response shapes against the real server's samples) of both generations, access rules,
//! paging, filters, other semantics, faults, data quality (and the injected problems with
//! their ground truth), OMH schemas, changes over time
//! (additions, updates, deletions), EHR-imported records (`_source`), and scale.

mod access;
mod changes;
mod contract;
mod faults;
mod filters;
mod imported;
mod imported_filters;
mod legacy;
mod legacy_contract;
mod paging;
mod quality;
mod quality_problems;
mod reference;
mod scale;
mod schemas;
mod semantics;

use base64::Engine as _;
use serde_json::Value;

use crate::{FakeConfig, FakeExchange};

/// The repository root (two levels above this crate), where `tests/reference` lives.
pub(super) fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(super) fn sample(name: &str) -> Value {
    let path = repo_root().join("tests/reference/samples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A v0.0.11 sample, if there is a body file for that call.
pub(super) fn legacy_sample(name: &str) -> Option<Value> {
    let path = repo_root()
        .join("tests/reference/samples-v0.0.11")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

pub(super) struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}", &self.body[..self.body.len().min(300)])
        })
    }
}

/// A client for one fake, sending its token unless told otherwise.
pub(super) struct Client {
    pub fake: FakeExchange,
    http: reqwest::Client,
}

impl Client {
    pub async fn start(config: FakeConfig) -> Client {
        let fake = FakeExchange::start(config).await.expect("fake starts");
        // reqwest is built without a bundled TLS crypto provider (the workspace's Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            fake,
            http: reqwest::Client::new(),
        }
    }

    pub async fn default() -> Client {
        Client::start(FakeConfig::default()).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.fake.url(), path)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let r = request.send().await.expect("request succeeds");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.text().await.expect("body");
        Resp {
            status,
            content_type,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path)).bearer_auth(self.fake.token()))
            .await
    }

    pub async fn get_anonymous(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut r = self.http.get(self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        self.send(r).await
    }

    pub async fn post_form(&self, path: &str, form: &str) -> Resp {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(self.fake.token())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        self.send(r).await
    }

    /// GET that must be 200 JSON.
    pub async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(
            r.status,
            200,
            "GET {path}: {}",
            &r.body[..r.body.len().min(500)]
        );
        r.json()
    }
}

/// The resources of a FHIR Bundle.
pub(super) fn resources(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .expect("entry")
        .iter()
        .map(|e| &e["resource"])
        .collect()
}

pub(super) fn ids(bundle: &Value) -> Vec<i64> {
    resources(bundle)
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The OMH JSON text inside an Observation resource.
pub(super) fn payload_text(resource: &Value) -> String {
    let data = resource["valueAttachment"]["data"].as_str().expect("data");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("standard padded base64");
    String::from_utf8(bytes).expect("utf-8")
}

pub(super) fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_string())
}

/// `/FHIR/R5/Observation?{query}`.
pub(super) fn obs_path(query: &str) -> String {
    format!("/FHIR/R5/Observation?{query}")
}

/// Every page of a FHIR search, following `next` links.
pub(super) async fn all_pages(c: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut bundle = c.ok(first).await;
    let total = bundle["total"].as_u64().unwrap() as usize;
    let mut out: Vec<Value> = resources(&bundle).into_iter().cloned().collect();
    while let Some(next) = link(&bundle, "next") {
        let path = next
            .strip_prefix(c.fake.url())
            .expect("absolute link to the fake")
            .to_string();
        bundle = c.ok(&path).await;
        out.extend(resources(&bundle).into_iter().cloned());
    }
    (out, total)
}
