//! Reading an API's pages. In: a page's bytes as the server sent them. Out: each
//! observation on it as an [`ObservationInput`] (strings borrowed from the bytes, not
//! copied), handed over in page order, and a [`PageSummary`]: the announced total, the
//! `next` link and how many rows the page held.
//!
//! One [`Adapter`] per API: [`fhir`] (FHIR searchset Bundles of Observations) and [`rest`]
//! (the admin API's `observations` list). The page skeleton, parse, check, hand over,
//! follow `next` on the configured origin, is written once here. [`admin`] reads the admin
//! API's other lists (patients, studies, ...), which are small and stay JSON values.
//! [`paging`] bounds how far any of these pages are followed.

pub mod admin;
pub mod capability;
pub mod fhir;
pub mod paging;
pub mod resources;
pub mod rest;

use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use crate::error::{JheError, Result};
use crate::http::redact_url;

pub use fhir::Generation;

/// The error for a server that has neither of the Exchange's APIs (a wrong URL).
pub fn not_an_exchange(base_url: &Url) -> JheError {
    JheError::Protocol {
        url: redact_url(base_url),
        message: "this does not look like a JupyterHealth Exchange (no /FHIR/R5/metadata, no /api/v1/); check the URL".into(),
    }
}


/// The OMH payload as an API hands it over.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// FHIR `valueAttachment.data` (base64 text, as bytes).
    Base64(&'a [u8]),
    /// REST `omhData`: the JSON text of the document.
    Json(&'a [u8]),
    Missing,
}

/// An observation id as the API wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationId<'a> {
    /// REST sends integers.
    Number(i64),
    /// FHIR (and a REST server that quotes them) sends text, empty when there is none.
    Text(&'a str),
}

/// A page entry that is not an observation: never a row, always a row of the errors table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnObservation<'a> {
    /// A Bundle entry without a resource (its `fullUrl`, if it has one).
    NoResource { full_url: Option<&'a str> },
    /// A resource of another type (a Patient, an OperationOutcome), with the first issue's
    /// `diagnostics` when it has any.
    OtherResource { resource_type: &'a str, diagnostics: Option<&'a str> },
}

impl NotAnObservation<'_> {
    /// What the errors table says of it; `id` is the resource's, empty when it has none.
    pub fn reason(&self, id: &str) -> String {
        match self {
            Self::NoResource { full_url: Some(url) } => format!("a Bundle entry ({url}) has no resource"),
            Self::NoResource { full_url: None } => "a Bundle entry has no resource".into(),
            Self::OtherResource { resource_type, diagnostics } => {
                let article = if resource_type.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
                let id = if id.is_empty() { String::new() } else { format!(" (id {id:?})") };
                let said = diagnostics.map(|text| format!(": {text}")).unwrap_or_default();
                format!("{article} {resource_type}{id}, not an Observation{said}")
            }
        }
    }
}

/// One observation as read off an API page, before decoding.
#[derive(Debug, Clone, Copy)]
pub struct ObservationInput<'a> {
    pub observation_id: ObservationId<'a>,
    pub patient_id: Option<i64>,
    pub code: Option<&'a str>,
    pub last_updated: Option<&'a str>,
    pub payload: Payload<'a>,
    /// Where the API gives them (REST): the patient's name and the data source's name.
    pub patient_name: Option<&'a str>,
    pub data_source: Option<&'a str>,
    /// The FHIR resource's JSON as received: only given when a page is read for the flat
    /// layout (see [`AdapterKind::read_page`]).
    pub resource: Option<&'a str>,
    /// Set when the entry is not an observation at all (then only the id is read).
    pub not_an_observation: Option<NotAnObservation<'a>>,
    /// `meta.source` (FHIR): the store the record is from.
    pub source: Option<&'a str>,
    /// An Observation with no OMH attachment (one imported from an EHR): its value and
    /// times as sent, read by `decode::clinical`.
    pub clinical: Option<ClinicalInput<'a>>,
}

/// The elements of a clinical FHIR Observation, each as the server wrote it (not yet read).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClinicalInput<'a> {
    /// The chosen coding's system and display (or the concept's `text`).
    pub code_system: Option<&'a str>,
    pub code_display: Option<&'a str>,
    pub status: Option<&'a RawValue>,
    pub category: Option<&'a RawValue>,
    pub effective_date_time: Option<&'a RawValue>,
    pub effective_period: Option<&'a RawValue>,
    pub issued: Option<&'a RawValue>,
    pub value_quantity: Option<&'a RawValue>,
    pub value_codeable_concept: Option<&'a RawValue>,
    pub value_string: Option<&'a RawValue>,
    pub value_boolean: Option<&'a RawValue>,
    pub value_integer: Option<&'a RawValue>,
    pub value_period: Option<&'a RawValue>,
    pub component: Option<&'a RawValue>,
    pub interpretation: Option<&'a RawValue>,
    pub reference_range: Option<&'a RawValue>,
}

impl<'a> ObservationInput<'a> {
    pub fn new(observation_id: &'a str, code: Option<&'a str>, payload: Payload<'a>) -> Self {
        Self {
            observation_id: ObservationId::Text(observation_id),
            patient_id: None,
            code,
            last_updated: None,
            payload,
            patient_name: None,
            data_source: None,
            resource: None,
            not_an_observation: None,
            source: None,
            clinical: None,
        }
    }
}

/// What one page told us besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    /// How many rows the whole search matches, as the server announced it.
    pub total: Option<u64>,
    /// The next page, moved onto the configured origin.
    pub next: Option<Url>,
    /// Rows on this page.
    pub entries: usize,
}

/// A page as deserialized, borrowing from the response bytes.
pub trait Page<'a>: Deserialize<'a> {
    /// Why the bytes, though they parsed, are not a page of this API.
    fn refusal(&self) -> Option<String> {
        None
    }
    fn total(&self) -> Option<u64>;
    /// The next page's link as written.
    fn next(&self) -> Option<&str>;
    fn entries(&self) -> usize;
    /// Each observation of the page, in order; or why one could not be read.
    fn observations(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String>;
}

/// A page read for its total alone: serde skips every other field (`entry`, `results`)
/// with `IgnoredAny`, so no row is decoded.
pub trait TotalOnly<'a>: Deserialize<'a> {
    fn refusal(&self) -> Option<String> {
        None
    }
    fn total(&self) -> Option<u64>;
}

/// One API's pages of observations.
pub trait Adapter {
    /// What a page is, for the message when the bytes are not one ("a FHIR Bundle").
    const PAGE: &'static str;
    type Page<'a>: Page<'a>;
    type Total<'a>: TotalOnly<'a>;
    /// `search` (a URL without paging parameters) asking for page `page` (from 1) of `size` rows.
    fn page_url(search: &Url, page: u64, size: u32) -> Url;
}

/// The adapter a search is read with, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    Fhir,
    Rest,
}

impl AdapterKind {
    pub fn page_url(self, search: &Url, page: u64, size: u32) -> Url {
        match self {
            Self::Fhir => fhir::Fhir::page_url(search, page, size),
            Self::Rest => rest::Rest::page_url(search, page, size),
        }
    }

    /// Read one page, handing each observation to `each` in order. `origin` is the
    /// configured server: `next` links are followed on it, so a proxy that reports the
    /// wrong scheme or host cannot redirect the token elsewhere. With `resources`, a FHIR
    /// observation also carries its resource's text as received (the flat layout's).
    pub fn read_page(
        self,
        bytes: &[u8],
        page_url: &Url,
        origin: &Url,
        resources: bool,
        each: impl FnMut(&ObservationInput<'_>),
    ) -> Result<PageSummary> {
        match self {
            Self::Fhir if resources => read_page::<fhir::FhirResources>(bytes, page_url, origin, each),
            Self::Fhir => read_page::<fhir::Fhir>(bytes, page_url, origin, each),
            Self::Rest => read_page::<rest::Rest>(bytes, page_url, origin, each),
        }
    }

    /// The total a page announces, its rows left unread.
    pub fn read_total(self, bytes: &[u8], page_url: &Url) -> Result<u64> {
        match self {
            Self::Fhir => read_total::<fhir::Fhir>(bytes, page_url),
            Self::Rest => read_total::<rest::Rest>(bytes, page_url),
        }
    }
}

/// The page skeleton every adapter shares.
pub fn read_page<A: Adapter>(
    bytes: &[u8],
    page_url: &Url,
    origin: &Url,
    mut each: impl FnMut(&ObservationInput<'_>),
) -> Result<PageSummary> {
    let page: A::Page<'_> = parse(bytes, page_url, A::PAGE)?;
    if let Some(refusal) = page.refusal() {
        return Err(protocol(page_url, refusal));
    }
    page.observations(&mut each).map_err(|reason| protocol(page_url, format!("the response is not {}: {reason}", A::PAGE)))?;
    let next = page.next().map(|link| on_origin(link, origin, page_url)).transpose()?;
    Ok(PageSummary { total: page.total(), next, entries: page.entries() })
}

pub fn read_total<A: Adapter>(bytes: &[u8], page_url: &Url) -> Result<u64> {
    let page: A::Total<'_> = parse(bytes, page_url, A::PAGE)?;
    if let Some(refusal) = page.refusal() {
        return Err(protocol(page_url, refusal));
    }
    page.total().ok_or_else(|| protocol(page_url, "the response has no total".into()))
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], page_url: &Url, what: &str) -> Result<T> {
    json_from_bytes(bytes).map_err(|e| protocol(page_url, format!("the response is not {what}: {e}")))
}

/// `T` from JSON bytes. The whole text's UTF-8 is checked once, in bulk, instead of each
/// string as it is read (most of a page is text); bytes that are not UTF-8 throughout are
/// read as before, so a stray byte in a field that is skipped does not refuse the page.
pub fn json_from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn protocol(url: &Url, message: String) -> JheError {
    JheError::Protocol { url: redact_url(url), message }
}

/// Resolve a link against the page and move it onto the configured scheme, host and port.
pub fn on_origin(link: &str, origin: &Url, page_url: &Url) -> Result<Url> {
    let mut url = page_url
        .join(link)
        .map_err(|e| protocol(page_url, format!("the next link {link:?} is not a URL: {e}")))?;
    // set_scheme refuses some changes (special → non-special); both are http(s) here.
    let _ = url.set_scheme(origin.scheme());
    let _ = url.set_host(origin.host_str());
    let _ = url.set_port(origin.port());
    Ok(url)
}
