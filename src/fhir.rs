//! The FHIR adapter: search URLs for `Observation`, and Bundle pages read straight into the
//! Arrow builder (strings are borrowed from the response bytes, not copied).

use std::borrow::Cow;

use serde::Deserialize;
use url::Url;

use crate::error::{JheError, Result};
use crate::http::redact_url;
use crate::query::ObservationQuery;
use crate::table::{Appended, ObservationInput, ObservationTableBuilder, Payload};

/// The FHIR base of the current API generation.
pub fn fhir_base(base_url: &Url) -> Url {
    base_url.join("FHIR/R5/").expect("a constant relative path joins")
}

/// The first page of an Observation search. Later pages come from the Bundle's `next` link.
pub fn observation_search_url(fhir_base: &Url, query: &ObservationQuery, page_size: u32) -> Url {
    let mut url = fhir_base.join("Observation").expect("a constant relative path joins");
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(study) = query.study_id {
            pairs.append_pair("patient._has:Group:member:_id", &study.to_string());
        }
        if let Some(patient) = query.patient_id {
            pairs.append_pair("patient", &patient.to_string());
        }
        if !query.codes.is_empty() {
            let codes: Vec<String> = query.codes.iter().map(|c| c.token()).collect();
            pairs.append_pair("code", &codes.join(","));
        }
        // The default order has no tiebreaker, so rows could repeat or skip across pages.
        pairs.append_pair("_sort", "-_lastUpdated");
        pairs.append_pair("_count", &page_size.to_string());
    }
    url
}

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
    total: Option<u64>,
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
    #[serde(default, borrow)]
    link: Vec<Link<'a>>,
}

#[derive(Deserialize)]
struct Link<'a> {
    #[serde(borrow)]
    relation: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    resource: Option<Observation<'a>>,
}

#[derive(Deserialize)]
struct Observation<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    meta: Option<Meta<'a>>,
    #[serde(borrow)]
    code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    subject: Option<Reference<'a>>,
    #[serde(rename = "valueAttachment", borrow)]
    value_attachment: Option<Attachment<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "lastUpdated", borrow)]
    last_updated: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CodeableConcept<'a> {
    #[serde(default, borrow)]
    coding: Vec<Coding<'a>>,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(borrow)]
    reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
}

/// What one page told us besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    pub total: Option<u64>,
    pub next: Option<Url>,
    pub entries: usize,
    pub duplicates: usize,
}

/// `Patient/40001` → 40001.
fn patient_id_from_reference(reference: &str) -> Option<i64> {
    reference.rsplit('/').next()?.trim().parse().ok()
}

/// Read one searchset Bundle into `builder`. `origin` is the configured server: `next`
/// links are followed on it, so a proxy that reports the wrong scheme or host cannot
/// redirect the token elsewhere.
pub fn read_observation_bundle(
    bytes: &[u8],
    page_url: &Url,
    origin: &Url,
    builder: &mut ObservationTableBuilder,
) -> Result<PageSummary> {
    let bundle: Bundle<'_> = serde_json::from_slice(bytes).map_err(|e| JheError::Protocol {
        url: redact_url(page_url),
        message: format!("the response is not a FHIR Bundle: {e}"),
    })?;
    if let Some(kind) = bundle.resource_type.as_deref() {
        if kind != "Bundle" {
            return Err(JheError::Protocol {
                url: redact_url(page_url),
                message: format!("expected a Bundle, got a {kind}"),
            });
        }
    }
    let mut duplicates = 0;
    for entry in &bundle.entry {
        let Some(resource) = &entry.resource else { continue };
        let input = ObservationInput {
            observation_id: resource.id.as_deref().unwrap_or(""),
            patient_id: resource
                .subject
                .as_ref()
                .and_then(|s| s.reference.as_deref())
                .and_then(patient_id_from_reference),
            code: resource
                .code
                .as_ref()
                .and_then(|c| c.coding.first())
                .and_then(|c| c.code.as_deref()),
            last_updated: resource.meta.as_ref().and_then(|m| m.last_updated.as_deref()),
            payload: match resource.value_attachment.as_ref().and_then(|a| a.data.as_deref()) {
                Some(data) => Payload::Base64(data),
                None => Payload::Missing,
            },
        };
        if builder.append(&input) == Appended::Duplicate {
            duplicates += 1;
        }
    }
    let next = bundle
        .link
        .iter()
        .find(|l| l.relation == "next")
        .map(|l| on_origin(&l.url, origin, page_url))
        .transpose()?;
    Ok(PageSummary {
        total: bundle.total,
        next,
        entries: bundle.entry.len(),
        duplicates,
    })
}

/// Resolve a link against the page and move it onto the configured scheme, host and port.
pub fn on_origin(link: &str, origin: &Url, page_url: &Url) -> Result<Url> {
    let mut url = page_url.join(link).map_err(|e| JheError::Protocol {
        url: redact_url(page_url),
        message: format!("the next link {link:?} is not a URL: {e}"),
    })?;
    // set_scheme refuses some changes (special → non-special); both are http(s) here.
    let _ = url.set_scheme(origin.scheme());
    let _ = url.set_host(origin.host_str());
    let _ = url.set_port(origin.port());
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::ObservationQuery;

    #[test]
    fn search_url_carries_every_filter() {
        let base = fhir_base(&Url::parse("https://jhe.example/").unwrap());
        let query =
            ObservationQuery::new(Some(30001), Some(40001), &["omh:blood-glucose:4.0".into()]).unwrap();
        let url = observation_search_url(&base, &query, 1000);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/FHIR/R5/Observation");
        assert!(pairs.contains(&("patient._has:Group:member:_id".into(), "30001".into())));
        assert!(pairs.contains(&("patient".into(), "40001".into())));
        assert!(pairs.contains(&("code".into(), "https://w3id.org/openmhealth|omh:blood-glucose:4.0".into())));
        assert!(pairs.contains(&("_count".into(), "1000".into())));
    }

    #[test]
    fn reads_the_real_sample_page() {
        let bytes = include_bytes!("../tests/reference/samples/fhir_observation_bundle_study30001_page1.json");
        let page_url = Url::parse("http://localhost:8000/FHIR/R5/Observation?_count=2").unwrap();
        let origin = Url::parse("https://jhe.example/").unwrap();
        let mut builder = ObservationTableBuilder::new(&[]);
        let page = read_observation_bundle(bytes, &page_url, &origin, &mut builder).unwrap();
        assert_eq!(page.total, Some(7));
        assert_eq!(page.entries, 2);
        let next = page.next.unwrap();
        assert_eq!(next.scheme(), "https");
        assert_eq!(next.host_str(), Some("jhe.example"));
        assert!(next.query().unwrap().contains("_page=2"));
        let tables = builder.finish();
        assert_eq!(tables.observations.num_rows(), 2);
        assert_eq!(tables.errors.num_rows(), 0, "{:?}", tables.errors);
    }

    #[test]
    fn other_resources_are_refused() {
        let origin = Url::parse("https://jhe.example/").unwrap();
        let mut builder = ObservationTableBuilder::new(&[]);
        let outcome = br#"{"resourceType":"OperationOutcome","issue":[]}"#;
        assert!(read_observation_bundle(outcome, &origin, &origin, &mut builder).is_err());
        assert!(read_observation_bundle(b"[1,2]", &origin, &origin, &mut builder).is_err());
    }
}
