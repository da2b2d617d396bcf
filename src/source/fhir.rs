//! The FHIR adapter: which API generation a server speaks, `Observation` search URLs, the
//! `_lastUpdated` bound that freezes a search, and searchset Bundle pages.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::capability::Capabilities;
use super::{Adapter, ClinicalInput, NotAnObservation, ObservationId, ObservationInput, Page, Payload, TotalOnly};
use crate::terminology::{self, IEEE_SYSTEM, OMH_SYSTEM};
use crate::error::{JheError, Result};
use crate::http::{HttpClient, redact_url};
use crate::origin::{PATIENT_ID_EXTENSION, SourceParameter, exchange_patient};
use crate::query::{Coding, ObservationQuery, TimeBound};

/// Which of the two deployed API generations a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// v0.0.12 and later: `/FHIR/R5/`, every search parameter honoured.
    Current,
    /// v0.0.11 and before: `/fhir/r5/` only; `date`, `_lastUpdated`, `_sort`, `_summary`
    /// silently ignored, so the client must apply them itself.
    Legacy,
}

impl Generation {
    pub fn fhir_base(self, base_url: &Url) -> Url {
        let path = match self {
            Self::Current => "FHIR/R5/",
            Self::Legacy => "fhir/r5/",
        };
        base_url.join(path).expect("a constant relative path joins")
    }

    pub fn honours_time_filters(self) -> bool {
        self == Self::Current
    }

    /// Whether `code=` selects exactly the codes asked for (the older generation matches
    /// with SQL `LIKE`, where `_` and `%` are wildcards).
    pub fn matches_codes_exactly(self) -> bool {
        self == Self::Current
    }
}

/// Ask the current generation's CapabilityStatement; a 404 there means an older server. An
/// answer that is not a JSON document (a web site's page) means an older server only if the
/// REST API is there. A current server's statement is returned too, when it can be read.
pub async fn discover_generation(http: &HttpClient, base_url: &Url) -> Result<(Generation, Option<Capabilities>)> {
    let metadata = Generation::Current.fhir_base(base_url).join("metadata").expect("constant path");
    match http.get_json(&metadata).await {
        Ok(body) if is_json_object(&body) => Ok((Generation::Current, Capabilities::parse(&body, &metadata).ok())),
        Ok(_) => check_rest_api(http, base_url).await.map(|()| (Generation::Legacy, None)),
        Err(JheError::Http { status: 404, .. }) => {
            log::info!("{} has no /FHIR/R5/metadata: using the older API generation", redact_url(base_url));
            Ok((Generation::Legacy, None))
        }
        Err(other) => Err(other),
    }
}

/// Every generation serves `/api/v1/users/profile`; a server without it (404, or 2xx that
/// is not JSON) is not an Exchange. A refused token still proves the API is there.
pub async fn check_rest_api(http: &HttpClient, base_url: &Url) -> Result<()> {
    let profile = base_url.join("api/v1/users/profile").expect("constant path");
    match http.get_json(&profile).await {
        Ok(body) if is_json_object(&body) => Ok(()),
        Ok(_) | Err(JheError::Http { status: 404, .. }) => Err(super::not_an_exchange(base_url)),
        Err(JheError::Http { status: 401 | 403, .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

fn is_json_object(body: &[u8]) -> bool {
    matches!(serde_json::from_slice::<serde_json::Value>(body), Ok(serde_json::Value::Object(_)))
}

/// A bound on `_lastUpdated` that freezes a search against rows written while it is read
/// (only for a generation that [honours time filters](Generation::honours_time_filters)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// Rows stored at or before this instant (microseconds since the epoch, UTC).
    AtOrBefore(i64),
    /// Rows stored after this instant: what was written since.
    After(i64),
}

/// `search` bounded by `snapshot`.
pub fn with_snapshot(search: &Url, snapshot: Snapshot) -> Url {
    let (prefix, at) = match snapshot {
        Snapshot::AtOrBefore(at) => ("le", at),
        Snapshot::After(at) => ("gt", at),
    };
    let mut url = search.clone();
    let value = TimeBound { utc_micros: at }.to_query_value();
    url.query_pairs_mut().append_pair("_lastUpdated", &format!("{prefix}{value}"));
    url
}

/// `search` in order of effective time (`_sort=date`, or `-date` when `descending`) instead
/// of newest first: its first row has the earliest (latest) effective start.
pub fn sorted_by_date(search: &Url, descending: bool) -> Url {
    let pairs: Vec<(String, String)> = search.query_pairs().into_owned().filter(|(key, _)| key != "_sort").collect();
    let mut url = search.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs).append_pair("_sort", if descending { "-date" } else { "date" });
    url
}

/// An Observation search for one code (or none), without paging parameters.
pub fn observation_search_url(
    fhir_base: &Url,
    generation: Generation,
    query: &ObservationQuery,
    code: Option<&Coding>,
    source: &SourceParameter,
) -> Url {
    let mut url = fhir_base.join("Observation").expect("a constant relative path joins");
    {
        let mut pairs = url.query_pairs_mut();
        if let Some((name, value)) = source.pair() {
            pairs.append_pair(name, value);
        }
        if let Some(study) = query.study_id {
            pairs.append_pair("patient._has:Group:member:_id", &study.to_string());
        }
        if let Some(patient) = query.patient_id {
            pairs.append_pair("patient", &patient.to_string());
        }
        if let Some(organization) = query.organization_id {
            pairs.append_pair("patient.organization", &organization.to_string());
        }
        if let Some((system, value)) = &query.patient_identifier {
            // Always system|value: a bare value makes the server ignore the filter.
            pairs.append_pair("patient.identifier", &format!("{system}|{value}"));
        }
        if let Some(code) = code {
            pairs.append_pair("code", &code.token());
        }
        if generation.honours_time_filters() {
            if let Some(since) = query.since {
                pairs.append_pair("date", &format!("ge{}", since.to_query_value()));
            }
            if let Some(until) = query.until {
                pairs.append_pair("date", &format!("lt{}", until.to_query_value()));
            }
            if let Some(updated) = query.updated_since {
                pairs.append_pair("_lastUpdated", &format!("ge{}", updated.to_query_value()));
            }
            // The default order has no tiebreaker, so rows could repeat or skip across pages.
            pairs.append_pair("_sort", "-_lastUpdated");
        }
    }
    url
}

/// A searchset page; `R` is how each resource is read: as an [`Observation`], or (the flat
/// layout) as its raw text, read as an observation afterwards.
#[derive(Deserialize)]
pub struct Bundle<'a, R = Observation<'a>> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
    total: Option<u64>,
    #[serde(default = "Vec::new", bound(deserialize = "R: Deserialize<'de>"))]
    entry: Vec<Entry<'a, R>>,
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
#[serde(bound(deserialize = "'de: 'a, R: Deserialize<'de>"))]
struct Entry<'a, R> {
    #[serde(rename = "fullUrl", borrow)]
    full_url: Option<Cow<'a, str>>,
    resource: Option<R>,
}

/// The fields of an Observation resource that are read; of another resource, its type,
/// id and (an OperationOutcome's) issues, to say what it was.
#[derive(Deserialize)]
pub struct Observation<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
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
    #[serde(default, borrow)]
    extension: Vec<Extension<'a>>,
    #[serde(default, borrow)]
    issue: Vec<Issue<'a>>,
    // A clinical Observation's elements, kept as sent for `decode::clinical`.
    #[serde(borrow)]
    status: Option<&'a RawValue>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(rename = "effectiveDateTime", borrow)]
    effective_date_time: Option<&'a RawValue>,
    #[serde(rename = "effectivePeriod", borrow)]
    effective_period: Option<&'a RawValue>,
    #[serde(borrow)]
    issued: Option<&'a RawValue>,
    #[serde(rename = "valueQuantity", borrow)]
    value_quantity: Option<&'a RawValue>,
    #[serde(rename = "valueCodeableConcept", borrow)]
    value_codeable_concept: Option<&'a RawValue>,
    #[serde(rename = "valueString", borrow)]
    value_string: Option<&'a RawValue>,
    #[serde(rename = "valueBoolean", borrow)]
    value_boolean: Option<&'a RawValue>,
    #[serde(rename = "valueInteger", borrow)]
    value_integer: Option<&'a RawValue>,
    #[serde(rename = "valuePeriod", borrow)]
    value_period: Option<&'a RawValue>,
    #[serde(borrow)]
    component: Option<&'a RawValue>,
    #[serde(borrow)]
    interpretation: Option<&'a RawValue>,
    #[serde(rename = "referenceRange", borrow)]
    reference_range: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Extension<'a> {
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(rename = "valueInteger")]
    value_integer: Option<i64>,
}

#[derive(Deserialize)]
struct Issue<'a> {
    #[serde(borrow)]
    diagnostics: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "lastUpdated", borrow)]
    last_updated: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CodeableConcept<'a> {
    #[serde(default, borrow)]
    coding: Vec<BundleCoding<'a>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BundleCoding<'a> {
    #[serde(borrow)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    display: Option<Cow<'a, str>>,
}

impl CodeableConcept<'_> {
    /// The coding that names the record: the first, but for a clinical record the first in a
    /// terminology jhe names tables by (LOINC, SNOMED), where an EHR's own code comes first.
    fn naming_coding(&self, clinical: bool) -> Option<&BundleCoding<'_>> {
        let named = |c: &&BundleCoding<'_>| c.system.as_deref().is_some_and(terminology::is_named_terminology);
        clinical.then(|| self.coding.iter().find(named)).flatten().or(self.coding.first())
    }
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(borrow)]
    reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    /// As bytes: base64 is ASCII, and reading bytes skips serde_json's UTF-8 check of the
    /// bulk of every page (benchmarks/PROFILE.md).
    #[serde(borrow)]
    data: Option<AsciiText<'a>>,
}

/// A JSON string read as its raw bytes (escapes resolved, no UTF-8 check).
struct AsciiText<'a>(Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for AsciiText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AsciiText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> std::result::Result<Self::Value, E> {
                Ok(AsciiText(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> std::result::Result<Self::Value, E> {
                Ok(AsciiText(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(AsciiText(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(AsciiText(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// `Patient/40001` → 40001.
fn patient_id_from_reference(reference: &str) -> Option<i64> {
    reference.rsplit('/').next()?.trim().parse().ok()
}

/// A searchset must be a Bundle: an OperationOutcome or another resource is refused.
fn not_a_bundle(resource_type: Option<&str>) -> Option<String> {
    resource_type.filter(|kind| *kind != "Bundle").map(|kind| format!("expected a Bundle, got a {kind}"))
}

impl<'a> Observation<'a> {
    /// The Exchange's patient: an imported record's extension (its `subject` names the EHR's
    /// patient, whose id could be taken for another), else the `subject` reference.
    fn patient_id(&self) -> Option<i64> {
        let stamped = self.extension.iter().find(|e| e.url.as_deref() == Some(PATIENT_ID_EXTENSION)).and_then(|e| e.value_integer);
        let source = self.meta.as_ref().and_then(|m| m.source.as_deref());
        exchange_patient(stamped, source, || self.subject.as_ref().and_then(|s| s.reference.as_deref()).and_then(patient_id_from_reference))
    }

    fn input(&self) -> ObservationInput<'_> {
        let id = self.id.as_deref().unwrap_or("");
        if let Some(resource_type) = self.resource_type.as_deref().filter(|kind| *kind != "Observation") {
            let diagnostics = self.issue.iter().find_map(|issue| issue.diagnostics.as_deref());
            return ObservationInput {
                not_an_observation: Some(NotAnObservation::OtherResource { resource_type, diagnostics }),
                ..ObservationInput::new(id, None, Payload::Missing)
            };
        }
        let clinical = self.is_clinical();
        let coding = self.code.as_ref().and_then(|c| c.naming_coding(clinical));
        ObservationInput {
            observation_id: ObservationId::Text(id),
            patient_id: self.patient_id(),
            // A blank code is no code: it names no table.
            code: coding.and_then(|c| c.code.as_deref()).filter(|c| !c.trim().is_empty()),
            last_updated: self.meta.as_ref().and_then(|m| m.last_updated.as_deref()),
            payload: match self.value_attachment.as_ref().and_then(|a| a.data.as_ref()) {
                Some(data) => Payload::Base64(data.0.as_ref()),
                None => Payload::Missing,
            },
            patient_name: None,
            data_source: None,
            resource: None,
            not_an_observation: None,
            source: self.meta.as_ref().and_then(|m| m.source.as_deref()),
            clinical: clinical.then(|| self.clinical(coding)),
        }
    }

    /// No OMH attachment, and not coded as OMH, by its system or its code (an OMH record
    /// without its payload is the Exchange's own, and reported as such).
    fn is_clinical(&self) -> bool {
        let first = self.code.as_ref().and_then(|c| c.coding.first());
        let system = first.and_then(|c| c.system.as_deref());
        let code = first.and_then(|c| c.code.as_deref()).unwrap_or("");
        let omh = system.map_or_else(|| terminology::is_omh_code(code), |s| s == OMH_SYSTEM || s == IEEE_SYSTEM);
        self.value_attachment.is_none() && !omh
    }

    fn clinical<'s>(&'s self, coding: Option<&'s BundleCoding<'_>>) -> ClinicalInput<'s> {
        ClinicalInput {
            code_system: coding.and_then(|c| c.system.as_deref()),
            code_display: coding.and_then(|c| c.display.as_deref()).or_else(|| self.code.as_ref().and_then(|c| c.text.as_deref())),
            status: self.status,
            category: self.category,
            effective_date_time: self.effective_date_time,
            effective_period: self.effective_period,
            issued: self.issued,
            value_quantity: self.value_quantity,
            value_codeable_concept: self.value_codeable_concept,
            value_string: self.value_string,
            value_boolean: self.value_boolean,
            value_integer: self.value_integer,
            value_period: self.value_period,
            component: self.component,
            interpretation: self.interpretation,
            reference_range: self.reference_range,
        }
    }
}

/// How a Bundle entry's resource is handed over: its fields only, or (the flat layout)
/// its text as received too.
pub trait EntryResource {
    fn hand_over(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String>;
}

impl EntryResource for Observation<'_> {
    fn hand_over(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String> {
        each(&self.input());
        Ok(())
    }
}

/// Read raw, then its fields.
impl EntryResource for &RawValue {
    fn hand_over(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String> {
        let resource: Observation<'_> = serde_json::from_str(self.get()).map_err(|e| e.to_string())?;
        each(&ObservationInput { resource: Some(self.get()), ..resource.input() });
        Ok(())
    }
}

impl<'a, R: EntryResource + Deserialize<'a>> Page<'a> for Bundle<'a, R> {
    fn refusal(&self) -> Option<String> {
        not_a_bundle(self.resource_type.as_deref())
    }

    fn total(&self) -> Option<u64> {
        self.total
    }

    fn next(&self) -> Option<&str> {
        self.link.iter().find(|l| l.relation == "next").map(|l| l.url.as_ref())
    }

    fn entries(&self) -> usize {
        self.entry.len()
    }

    fn observations(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String> {
        for entry in &self.entry {
            match &entry.resource {
                Some(resource) => resource.hand_over(each)?,
                None => each(&ObservationInput {
                    not_an_observation: Some(NotAnObservation::NoResource { full_url: entry.full_url.as_deref() }),
                    ..ObservationInput::new("", None, Payload::Missing)
                }),
            }
        }
        Ok(())
    }
}

/// A Bundle read for its total.
#[derive(Deserialize)]
pub struct BundleTotal<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
    total: Option<u64>,
}

impl<'a> TotalOnly<'a> for BundleTotal<'a> {
    fn refusal(&self) -> Option<String> {
        not_a_bundle(self.resource_type.as_deref())
    }

    fn total(&self) -> Option<u64> {
        self.total
    }
}

/// FHIR searchsets, paged by `_count` and `_page`.
pub struct Fhir;

/// FHIR searchsets whose observations carry their resource's text (the flat layout).
pub struct FhirResources;

impl Adapter for FhirResources {
    const PAGE: &'static str = Fhir::PAGE;
    type Page<'a> = Bundle<'a, &'a RawValue>;
    type Total<'a> = BundleTotal<'a>;

    fn page_url(search: &Url, page: u64, size: u32) -> Url {
        Fhir::page_url(search, page, size)
    }
}

impl Adapter for Fhir {
    const PAGE: &'static str = "a FHIR Bundle";
    type Page<'a> = Bundle<'a>;
    type Total<'a> = BundleTotal<'a>;

    fn page_url(search: &Url, page: u64, size: u32) -> Url {
        let mut url = search.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("_count", &size.to_string());
            if page > 1 {
                pairs.append_pair("_page", &page.to_string());
            }
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PreparedPage;
    use crate::source::{AdapterKind, read_page, read_total};
    use crate::table::{Layout, ObservationTableBuilder};

    #[test]
    fn search_url_carries_every_filter() {

        let base_url = Url::parse("https://jhe.example/").unwrap();
        let query = ObservationQuery {
            study_id: Some(30001),
            patient_id: Some(40001),
            organization_id: Some(20001),
            codes: vec![Coding::parse("omh:blood-glucose:4.0").unwrap()],
            patient_identifier: Some(("https://h.example/mrn".into(), "MRN-1".into())),
            since: Some(TimeBound::parse("since", "2025-06-01").unwrap()),
            until: Some(TimeBound::parse("until", "2025-06-02T00:00:00+02:00").unwrap()),
            updated_since: Some(TimeBound::parse("updated_since", "2025-05-01").unwrap()),
            origin: crate::origin::Origin::Exchange,
        };
        let base = Generation::Current.fhir_base(&base_url);
        let search = observation_search_url(&base, Generation::Current, &query, query.codes.first(), &SourceParameter::None);
        let url = with_snapshot(&search, Snapshot::AtOrBefore(0));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let has = |k: &str, v: &str| pairs.contains(&(k.to_string(), v.to_string()));
        assert_eq!(url.path(), "/FHIR/R5/Observation");
        assert!(has("patient._has:Group:member:_id", "30001"));
        assert!(has("patient", "40001"));
        assert!(has("patient.organization", "20001"));
        assert!(has("patient.identifier", "https://h.example/mrn|MRN-1"));
        assert!(has("code", "https://w3id.org/openmhealth|omh:blood-glucose:4.0"));
        assert!(has("date", "ge2025-06-01T00:00:00.000000Z"));
        assert!(has("date", "lt2025-06-01T22:00:00.000000Z"));
        assert!(has("_lastUpdated", "ge2025-05-01T00:00:00.000000Z"));
        assert!(has("_lastUpdated", "le1970-01-01T00:00:00.000000Z"));
        assert!(has("_sort", "-_lastUpdated"));
        let by_date = sorted_by_date(&search, true);
        let sorts: Vec<String> = by_date.query_pairs().filter(|(k, _)| k == "_sort").map(|(_, v)| v.into_owned()).collect();
        assert_eq!(sorts, ["-date"], "the newest-first order replaced");
        assert!(by_date.query_pairs().any(|(k, v)| k == "date" && v == "ge2025-06-01T00:00:00.000000Z"));
        assert!(sorted_by_date(&search, false).query().unwrap().ends_with("_sort=date"));
        // '+' in a value must travel encoded, or the server reads a space
        assert!(!url.as_str().contains('+'));
        // older servers ignore time filters and sorting: they are applied on our side (and
        // their searches are never frozen by a snapshot)
        let legacy = observation_search_url(&Generation::Legacy.fhir_base(&base_url), Generation::Legacy, &query, None, &SourceParameter::None);
        assert_eq!(legacy.path(), "/fhir/r5/Observation");
        assert!(!legacy.query().unwrap().contains("date") && !legacy.query().unwrap().contains("_lastUpdated"));
    }

    #[test]
    fn reads_the_real_sample_page() {
        let bytes = include_bytes!("../../tests/reference/samples/fhir_observation_bundle_study30001_page1.json");
        let page_url = Url::parse("http://localhost:8000/FHIR/R5/Observation?_count=2").unwrap();
        let origin = Url::parse("https://jhe.example/").unwrap();
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let (page, prepared) = PreparedPage::read(AdapterKind::Fhir, bytes, &page_url, &origin, crate::decode::PageOptions::default()).unwrap();
        builder.append_page(prepared);
        assert_eq!(page.total, Some(7));
        assert_eq!(page.entries, 2);
        let next = page.next.unwrap();
        assert_eq!(next.scheme(), "https");
        assert_eq!(next.host_str(), Some("jhe.example"));
        assert!(next.query().unwrap().contains("_page=2"));
        let tables = builder.finish();
        assert_eq!(tables.observations, 2);
        assert_eq!(tables.errors.num_rows(), 0, "{:?}", tables.errors);
        assert_eq!(read_total::<Fhir>(bytes, &page_url).unwrap(), 7);
    }

    #[test]
    fn other_resources_are_refused() {
        let origin = Url::parse("https://jhe.example/").unwrap();
        let outcome = br#"{"resourceType":"OperationOutcome","issue":[]}"#;
        assert!(read_page::<Fhir>(outcome, &origin, &origin, |_| {}).is_err());
        assert!(read_page::<Fhir>(b"[1,2]", &origin, &origin, |_| {}).is_err());
        assert!(read_total::<Fhir>(outcome, &origin).is_err());
    }

    #[test]
    fn every_entry_is_handed_over_observation_or_not() {
        let origin = Url::parse("https://jhe.example/").unwrap();
        let page = br#"{"resourceType":"Bundle","total":4,"entry":[
            {"resource":{"resourceType":"Observation","id":"1","code":{"coding":[{"code":"omh:heart-rate:2.0"}]}}},
            {"resource":{"resourceType":"Patient","id":"40001"}},
            {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning"},{"diagnostics":"rows hidden"}]}},
            {"fullUrl":"urn:uuid:1"},
            {},
            {"resource":{"resourceType":"Observation","id":"2","code":{"coding":[]}}},
            {"resource":{"resourceType":"Observation","id":"3","code":{"coding":[{"system":"https://w3id.org/openmhealth"}]}}},
            {"resource":{"id":"4","code":{"coding":[{"code":" "}]}}}
        ]}"#;
        for resources in [false, true] {
            let mut seen = Vec::new();
            AdapterKind::Fhir
                .read_page(page, &origin, &origin, resources, |input| {
                    let id = match input.observation_id {
                        ObservationId::Text(text) => text.to_string(),
                        ObservationId::Number(n) => n.to_string(),
                    };
                    seen.push((id, input.code.map(str::to_string), input.not_an_observation.map(|other| other.reason("")), input.resource.is_some()));
                })
                .unwrap();
            let other = |reason: &str| Some(reason.to_string());
            assert_eq!(
                seen.iter().map(|(id, code, other, _)| (id.as_str(), code.as_deref(), other.clone())).collect::<Vec<_>>(),
                [
                    ("1", Some("omh:heart-rate:2.0"), None),
                    ("40001", None, other("a Patient, not an Observation")),
                    ("", None, other("an OperationOutcome, not an Observation: rows hidden")),
                    ("", None, other("a Bundle entry (urn:uuid:1) has no resource")),
                    ("", None, other("a Bundle entry has no resource")),
                    ("2", None, None),
                    ("3", None, None),
                    ("4", None, None),
                ]
            );
            assert_eq!(seen[0].3, resources, "the flat layout's resources");
        }
    }

    #[test]
    fn an_imported_record_belongs_to_the_patient_its_extension_names() {
        let origin = Url::parse("https://jhe.example/").unwrap();
        let page = br#"{"resourceType":"Bundle","total":4,"entry":[
            {"resource":{"resourceType":"Observation","id":"1","subject":{"reference":"Patient/40001"}}},
            {"resource":{"resourceType":"Observation","id":"2","meta":{"source":"https://jupyterhealth.org/fhir/fhir-source/9"},
              "subject":{"reference":"Patient/777"},
              "extension":[{"url":"https://jupyterhealth.org/fhir/StructureDefinition/patient-full-name","valueString":"A B"},
                           {"url":"https://jupyterhealth.org/fhir/StructureDefinition/patient-id","valueInteger":40002}]}},
            {"resource":{"resourceType":"Observation","id":"3","meta":{"source":"https://jupyterhealth.org/fhir/fhir-source/9"},
              "subject":{"reference":"Patient/777"}}},
            {"resource":{"resourceType":"Observation","id":"4","meta":{"source":"https://jupyterhealth.org/jhe"},
              "subject":{"reference":"Patient/40003"}}}
        ]}"#;
        let mut patients = Vec::new();
        AdapterKind::Fhir.read_page(page, &origin, &origin, false, |input| patients.push(input.patient_id)).unwrap();
        // An imported record without the extension has no patient, rather than the EHR's id.
        assert_eq!(patients, [Some(40001), Some(40002), None, Some(40003)]);
    }
}
