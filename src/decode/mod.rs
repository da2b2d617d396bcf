//! Decoding observations. In: each [`ObservationInput`] a source adapter reads off a page.
//! Out: a [`PreparedObservation`]: ids and times parsed, the payload base64-decoded, its
//! OMH document and time frame read, and every problem found so far, as reasons. This is
//! most of a fetch's work and needs no shared state, so every page is prepared whole
//! ([`PreparedPage::read`], on several threads at once) and then appended to the tables in
//! page order.
//!
//! [`omh`] holds the Open mHealth knowledge (base64, documents, time frames, the catalogue
//! of codes); [`flatten`] turns JSON the catalogue does not describe into leaves by key path;
//! [`flat`] flattens a whole resource and document for the flat layout.

pub mod flat;
pub mod flatten;
pub mod omh;

use std::borrow::Cow;

use url::Url;

use crate::error::Result;
use crate::source::{AdapterKind, ObservationId, ObservationInput, PageSummary, Payload};
use omh::{OmhDocument, catalog, time};

/// The payload text the errors table shows for a record with problems.
#[derive(Debug)]
pub enum RawPayload {
    /// The decoded OMH JSON (its document was readable).
    Decoded(Vec<u8>),
    /// The payload as the server sent it (it could not be decoded or read).
    AsSent(String),
}

impl RawPayload {
    fn of(document: &Result<OmhDocument, String>, payload: Payload<'_>, decoded: Vec<u8>) -> Self {
        match (document, payload) {
            (Ok(_), Payload::Base64(_)) => Self::Decoded(decoded),
            (Ok(_), Payload::Json(bytes)) => Self::Decoded(bytes.to_vec()),
            (Ok(_), Payload::Missing) => unreachable!("a missing payload has no document"),
            (Err(_), Payload::Base64(data) | Payload::Json(data)) => Self::AsSent(String::from_utf8_lossy(data).into_owned()),
            (Err(_), Payload::Missing) => Self::AsSent(String::new()),
        }
    }

    pub fn into_text(self) -> String {
        match self {
            Self::Decoded(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Self::AsSent(text) => text,
        }
    }
}

/// One observation decoded as far as it can be without the tables.
#[derive(Debug)]
pub struct PreparedObservation {
    pub(crate) id: Option<i64>,
    pub(crate) patient_id: Option<i64>,
    /// A catalogued code is borrowed from the catalogue: no allocation per row.
    pub(crate) code: Option<Cow<'static, str>>,
    pub(crate) last_updated: Option<i64>,
    pub(crate) patient_name: Option<String>,
    pub(crate) data_source: Option<String>,
    pub(crate) json: RawPayload,
    pub(crate) document: Result<OmhDocument, String>,
    pub(crate) frame: Option<time::TimeFrame>,
    /// Only in the flat layout (given the resource): the resource and document flattened.
    pub(crate) flat: Option<flat::FlatRow>,
    /// Problems found so far, in the order the errors table reports them.
    pub(crate) problems: Vec<String>,
    /// False for a page entry that is not an observation: it is listed in the errors
    /// table only, and the server's total does not count it.
    pub(crate) is_observation: bool,
}

impl PreparedObservation {
    /// Decode `input`, and given its resource (the flat layout's), its [`flat::FlatRow`].
    pub fn new(input: &ObservationInput<'_>) -> Self {
        if let Some(other) = input.not_an_observation {
            let id = match input.observation_id {
                ObservationId::Text(text) => text.to_string(),
                ObservationId::Number(n) => n.to_string(),
            };
            return Self::not_an_observation(other.reason(&id));
        }
        let mut problems: Vec<String> = Vec::new();
        let id = integer_id(input.observation_id, &mut problems);
        if input.patient_id.is_none() {
            problems.push("the observation names no patient".into());
        }
        if input.code.is_none() {
            problems.push("the observation has no code".into());
        }
        let last_updated = input.last_updated.and_then(|text| match time::parse_date_time(text) {
            Ok(instant) => Some(instant.utc_micros),
            Err(reason) => {
                problems.push(format!("lastUpdated: {reason}"));
                None
            }
        });
        let mut decoded = Vec::new();
        let json: Result<&[u8], String> = match input.payload {
            Payload::Base64(data) => omh::decode_base64(data, &mut decoded).map(|()| decoded.as_slice()),
            Payload::Json(bytes) => Ok(bytes),
            Payload::Missing => Err("the observation carries no OMH payload".into()),
        };
        let flat = input.resource.map(|resource| flat::FlatRow::new(resource, json.as_ref().ok().copied(), input.code));
        let document = json.and_then(omh::parse_document);
        let frame = time_frame(&document, &mut problems);
        Self {
            id,
            patient_id: input.patient_id,
            code: input.code.map(catalogued),
            last_updated,
            patient_name: input.patient_name.map(str::to_string),
            data_source: input.data_source.map(str::to_string),
            json: RawPayload::of(&document, input.payload, decoded),
            document,
            frame,
            flat,
            problems,
            is_observation: true,
        }
    }

    fn not_an_observation(reason: String) -> Self {
        Self {
            id: None,
            patient_id: None,
            code: None,
            last_updated: None,
            patient_name: None,
            data_source: None,
            json: RawPayload::AsSent(String::new()),
            document: Err(reason.clone()),
            frame: None,
            flat: None,
            problems: vec![reason],
            is_observation: false,
        }
    }
}

fn integer_id(id: ObservationId<'_>, problems: &mut Vec<String>) -> Option<i64> {
    match id {
        ObservationId::Number(id) => Some(id),
        ObservationId::Text(text) if text.trim().is_empty() => {
            problems.push("the observation has no id".into());
            None
        }
        ObservationId::Text(text) => {
            let id = text.trim().parse::<i64>().ok();
            if id.is_none() {
                problems.push(format!("observation id {text:?} is not an integer"));
            }
            id
        }
    }
}

/// The body's `effective_time_frame`, or the problem with it (or with the document).
fn time_frame(document: &Result<OmhDocument, String>, problems: &mut Vec<String>) -> Option<time::TimeFrame> {
    match document {
        Ok(document) => {
            let body = document.body.as_ref().expect("parse_document checks the body");
            match body.get("effective_time_frame") {
                Some(value) => match time::parse_time_frame(value) {
                    Ok(parsed) => Some(parsed),
                    Err(reason) => {
                        problems.push(format!("effective_time_frame: {reason}"));
                        None
                    }
                },
                None => {
                    problems.push("the body has no effective_time_frame".into());
                    None
                }
            }
        }
        Err(reason) => {
            problems.push(reason.clone());
            None
        }
    }
}

/// A code the catalogue knows, borrowed from it; any other, copied.
fn catalogued(code: &str) -> Cow<'static, str> {
    match catalog::lookup(code) {
        Some(spec) if spec.code == code => Cow::Borrowed(spec.code),
        _ => Cow::Owned(code.to_string()),
    }
}

/// What pages prepared apart from the builder must carry
/// ([`crate::table::ObservationTableBuilder::page_options`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// Each FHIR resource as received, flattened (the flat layout's).
    pub resources: bool,
}

/// One page's observations, prepared, in page order.
#[derive(Debug, Default)]
pub struct PreparedPage {
    pub observations: Vec<PreparedObservation>,
}

impl PreparedPage {
    pub fn push(&mut self, input: &ObservationInput<'_>) {
        self.observations.push(PreparedObservation::new(input));
    }

    /// Read one page's bytes with `kind`'s adapter and prepare every observation on it:
    /// the one decode step every page goes through.
    pub fn read(kind: AdapterKind, bytes: &[u8], page_url: &Url, origin: &Url, options: PageOptions) -> Result<(PageSummary, Self)> {
        let mut page = Self::default();
        let summary = kind.read_page(bytes, page_url, origin, options.resources, |input| page.push(input))?;
        Ok((summary, page))
    }
}
