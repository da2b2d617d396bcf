//! What a server says it can do: the resource types of its CapabilityStatement
//! (`/FHIR/R5/metadata`) and each one's search parameters. A server that does not list a
//! parameter may ignore it silently and return other rows, so features that depend on one
//! (`source=`) ask here first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use super::Generation;
use crate::error::{JheError, Result};
use crate::http::{HttpClient, redact_url};

/// The resource types a server serves, each with the names of its search parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    resources: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(default)]
    rest: Vec<Rest>,
}

#[derive(Deserialize)]
struct Rest {
    #[serde(default)]
    resource: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(default, rename = "searchParam")]
    search_param: Vec<SearchParam>,
}

#[derive(Deserialize)]
struct SearchParam {
    name: String,
}

impl Capabilities {
    /// Read a CapabilityStatement's JSON.
    pub fn parse(body: &[u8], url: &Url) -> Result<Self> {
        let statement: Statement = serde_json::from_slice(body).map_err(|error| JheError::Protocol {
            url: redact_url(url),
            message: format!("the CapabilityStatement could not be read: {error}"),
        })?;
        let mut resources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for resource in statement.rest.into_iter().flat_map(|rest| rest.resource) {
            let params = resources.entry(resource.resource_type).or_default();
            params.extend(resource.search_param.into_iter().map(|param| param.name));
        }
        Ok(Self { resources })
    }

    /// Ask a current server for its CapabilityStatement.
    pub async fn fetch(http: &HttpClient, base_url: &Url) -> Result<Self> {
        let url = Generation::Current.fhir_base(base_url).join("metadata").expect("constant path");
        let body = http.get_json(&url).await?;
        Self::parse(&body, &url)
    }

    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resources.keys().map(String::as_str)
    }

    /// Whether `resource_type` lists the search parameter `name`.
    pub fn searches_by(&self, resource_type: &str, name: &str) -> bool {
        self.resources.get(resource_type).is_some_and(|params| params.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://x/FHIR/R5/metadata").unwrap()
    }

    #[test]
    fn the_real_statement_lists_source_for_observation() {
        let body = include_bytes!("../../crates/jhe-fake/src/routes/capability_statement.json");
        let capabilities = Capabilities::parse(body, &url()).unwrap();
        assert!(capabilities.searches_by("Observation", "_source"));
        assert!(capabilities.searches_by("Condition", "code"));
        assert!(!capabilities.searches_by("Observation", "_no_such"));
        assert!(capabilities.resource_types().any(|t| t == "MedicationRequest"));
    }

    #[test]
    fn a_statement_without_search_params_lists_none() {
        let capabilities = Capabilities::parse(br#"{"rest":[{"resource":[{"type":"Observation"}]}]}"#, &url()).unwrap();
        assert!(!capabilities.searches_by("Observation", "_source"));
        assert_eq!(Capabilities::parse(b"{}", &url()).unwrap(), Capabilities::default());
        assert!(matches!(Capabilities::parse(b"[1]", &url()), Err(JheError::Protocol { .. })));
    }
}
