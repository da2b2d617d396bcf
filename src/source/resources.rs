//! Searchsets of any FHIR resource type (`Condition`, `MedicationRequest`, an Observation
//! read raw, ...): the search's URL, and each page's resources as the server sent them
//! (their JSON text, not read further), with what the page says of its search.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::Generation;
use crate::error::{JheError, Result};
use crate::http::redact_url;
use crate::origin::SourceParameter;

/// The parameters that page a search, which the reader sets.
const PAGING: [&str; 3] = ["_count", "_page", "_summary"];

/// One search of one resource type, without paging parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceQuery {
    pub resource_type: String,
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    /// Further search parameters, sent as given (`code`, `category`, `date`, ...).
    pub params: Vec<(String, String)>,
}

impl ResourceQuery {
    /// The search URL on a current server, selecting its store by `source`. Sorted by the
    /// server's `_lastUpdated`, which it breaks ties in, so pages do not overlap.
    pub fn url(&self, base_url: &Url, source: &SourceParameter) -> Result<Url> {
        let valid = !self.resource_type.is_empty() && self.resource_type.bytes().all(|b| b.is_ascii_alphabetic());
        if !valid {
            return Err(JheError::Config(format!("{:?} is not a FHIR resource type", self.resource_type)));
        }
        if let Some((name, _)) = self.params.iter().find(|(name, _)| PAGING.contains(&name.as_str())) {
            return Err(JheError::Config(format!("{name} cannot be given: jhe reads every page of the search itself")));
        }
        let mut url = Generation::Current.fhir_base(base_url).join(&self.resource_type).expect("a resource type joins");
        {
            let mut pairs = url.query_pairs_mut();
            if let Some((name, value)) = source.pair() {
                pairs.append_pair(name, value);
            }
            if let Some(study) = self.study_id {
                pairs.append_pair("patient._has:Group:member:_id", &study.to_string());
            }
            if let Some(patient) = self.patient_id {
                pairs.append_pair("patient", &patient.to_string());
            }
            for (name, value) in &self.params {
                pairs.append_pair(name, value);
            }
            if !self.params.iter().any(|(name, _)| name == "_sort") {
                pairs.append_pair("_sort", "-_lastUpdated");
            }
        }
        Ok(url)
    }
}

/// `url` asking for page `page` of `size` resources.
pub fn page_url(url: &Url, page: u64, size: u32) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut().append_pair("_count", &size.to_string());
    if page > 1 {
        url.query_pairs_mut().append_pair("_page", &page.to_string());
    }
    url
}

/// A page of a resource search, read.
#[derive(Debug)]
pub struct ResourcePage {
    pub total: Option<u64>,
    pub has_next: bool,
    /// `(id, resource JSON)` of each entry with a resource, in page order.
    pub resources: Vec<(Option<String>, Box<RawValue>)>,
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
struct Entry<'a> {
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Link<'a> {
    #[serde(borrow)]
    relation: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Identified<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

impl ResourcePage {
    /// A searchset Bundle of `resource_type`: any other document, or a resource of another
    /// type in it (an OperationOutcome, say), is a protocol error naming it.
    pub fn read(body: &[u8], url: &Url, resource_type: &str) -> Result<Self> {
        let refuse = |message: String| JheError::Protocol { url: redact_url(url), message };
        let bundle: Bundle<'_> = serde_json::from_slice(body).map_err(|e| refuse(format!("the response is not a FHIR Bundle: {e}")))?;
        if let Some(other) = bundle.resource_type.as_deref().filter(|kind| *kind != "Bundle") {
            return Err(refuse(format!("expected a Bundle, got a {other}")));
        }
        let mut resources = Vec::with_capacity(bundle.entry.len());
        for resource in bundle.entry.iter().filter_map(|entry| entry.resource) {
            // serde would also read a struct from an array: only an object is a resource.
            if !resource.get().starts_with('{') {
                return Err(refuse("an entry's resource is not a JSON object".into()));
            }
            let identified: Identified<'_> =
                serde_json::from_str(resource.get()).map_err(|e| refuse(format!("an entry's resource is not a JSON object: {e}")))?;
            match identified.resource_type.as_deref() {
                Some(kind) if kind == resource_type => {}
                other => return Err(refuse(format!("a {resource_type} search returned a {}", other.unwrap_or("resource without a type")))),
            }
            resources.push((identified.id.map(Cow::into_owned), resource.to_owned()));
        }
        let has_next = bundle.link.iter().any(|link| link.relation == "next");
        Ok(Self { total: bundle.total, has_next, resources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Origin;

    fn query() -> ResourceQuery {
        ResourceQuery { resource_type: "Condition".into(), study_id: Some(30001), patient_id: None, params: vec![("code".into(), "http://snomed.info/sct|44054006".into())] }
    }

    #[test]
    fn the_url_carries_the_store_the_filters_and_a_stable_order() {
        let base = Url::parse("https://jhe.example/").unwrap();
        let imported = &Origin::Imported.parameters()[0];
        let url = query().url(&base, imported).unwrap();
        assert_eq!(url.path(), "/FHIR/R5/Condition");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("_source:below".into(), "https://jupyterhealth.org/fhir/fhir-source/".into()),
                ("patient._has:Group:member:_id".into(), "30001".into()),
                ("code".into(), "http://snomed.info/sct|44054006".into()),
                ("_sort".into(), "-_lastUpdated".into()),
            ]
        );
        assert_eq!(page_url(&url, 3, 1000).query_pairs().last().unwrap().1, "3");
        let paged = ResourceQuery { params: vec![("_page".into(), "2".into())], ..query() };
        assert!(matches!(paged.url(&base, &SourceParameter::None), Err(JheError::Config(_))));
        for bad in ["", "../o/token", "Condition?x=1", "Cond ition"] {
            let query = ResourceQuery { resource_type: bad.into(), ..query() };
            assert!(matches!(query.url(&base, &SourceParameter::None), Err(JheError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn a_page_gives_each_resource_as_sent() {
        let url = Url::parse("https://jhe.example/FHIR/R5/Condition").unwrap();
        let body = br#"{"resourceType":"Bundle","total":3,"entry":[
            {"resource":{"resourceType":"Condition","id":"a","code":{"text":"Asthma"}}},
            {"fullUrl":"urn:x"},
            {"resource":{"id":"b","resourceType":"Condition"}}],
            "link":[{"relation":"self","url":"x"},{"relation":"next","url":"y"}]}"#;
        let page = ResourcePage::read(body, &url, "Condition").unwrap();
        assert_eq!((page.total, page.has_next, page.resources.len()), (Some(3), true, 2));
        assert_eq!(page.resources[0].0.as_deref(), Some("a"));
        assert_eq!(page.resources[0].1.get(), r#"{"resourceType":"Condition","id":"a","code":{"text":"Asthma"}}"#);
    }

    #[test]
    fn anything_but_a_bundle_of_the_type_is_refused() {
        let url = Url::parse("https://jhe.example/FHIR/R5/Condition").unwrap();
        for (body, says) in [
            (&br#"{"resourceType":"OperationOutcome","issue":[]}"#[..], "expected a Bundle"),
            (br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"1"}}]}"#, "returned a Patient"),
            (br#"{"resourceType":"Bundle","entry":[{"resource":[1]}]}"#, "not a JSON object"),
            (br#"{"resourceType":"Bundle","entry":[{"resource":["Condition","a"]}]}"#, "not a JSON object"),
            (b"<html>", "not a FHIR Bundle"),
        ] {
            let error = ResourcePage::read(body, &url, "Condition").unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
