//! Decoding observations. In: each [`ObservationInput`] a source adapter reads off a page.
//! Out: a [`PreparedObservation`]: ids and times parsed, the payload base64-decoded, its
//! OMH document and time frame read, and every problem found so far, as reasons. This is
//! most of a fetch's work and needs no shared state, so every page is prepared whole
//! ([`PreparedPage::read`], on several threads at once) and then appended to the tables in
//! page order.
//!
//! [`clinical`] reads an Observation imported from an EHR (a `value[x]`, no attachment) into
//! the same parts.
//! [`omh`] holds the Open mHealth knowledge (base64, documents, time frames, the catalogue
//! of codes); [`flatten`] turns JSON the catalogue does not describe into leaves by key path;
//! [`flat`] flattens a whole resource and document for the flat layout.

pub mod clinical;
pub mod flat;
pub mod flatten;
pub mod omh;
pub mod resource;

use std::borrow::Cow;

use url::Url;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::origin::EXCHANGE_SOURCE;
use crate::source::{AdapterKind, ClinicalInput, ObservationId, ObservationInput, PageSummary, Payload};
use clinical::ClinicalBody;
use flatten::{Leaves, flatten_body};
use omh::catalog::{self, CodeSpec, MeasureValue};
use omh::raw::RawObject;
use omh::{OmhDocument, OmhHeader, time};

/// The payload text the errors table shows for a record with problems.
#[derive(Debug)]
pub enum RawPayload {
    /// The decoded OMH JSON (its document was readable).
    Decoded(Vec<u8>),
    /// The payload as the server sent it (it could not be decoded or read).
    AsSent(String),
}

impl RawPayload {
    fn of(readable: bool, payload: Payload<'_>, decoded: Vec<u8>) -> Self {
        match (readable, payload) {
            (true, Payload::Base64(_)) => Self::Decoded(decoded),
            (true, Payload::Json(bytes)) => Self::Decoded(bytes.to_vec()),
            (true, Payload::Missing) => unreachable!("a missing payload has no document"),
            (false, Payload::Base64(data) | Payload::Json(data)) => Self::AsSent(String::from_utf8_lossy(data).into_owned()),
            (false, Payload::Missing) => Self::AsSent(String::new()),
        }
    }

    pub fn into_text(self) -> String {
        match self {
            Self::Decoded(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Self::AsSent(text) => text,
        }
    }
}

/// What the tables take from an OMH body, read where the page is decoded.
#[derive(Debug, Default)]
pub enum PreparedBody {
    /// There is no readable document.
    #[default]
    Unreadable,
    /// A catalogued code: each of its measures, in the catalogue's order.
    Measures(Vec<MeasureValue<'static>>),
    /// A code the catalogue does not describe: the body's leaves by key path.
    Leaves(Leaves),
}

impl PreparedBody {
    /// Read `body` the way `spec` (the code's catalogue entry, if it has one) describes it;
    /// each problem with a measure goes to `problems`.
    fn read(body: &RawObject<'_>, spec: Option<&'static CodeSpec>, problems: &mut Vec<String>) -> Self {
        let Some(spec) = spec else { return Self::Leaves(leaves(body, problems)) };
        let measures = spec.measures.iter().map(|measure| {
            let reading = measure.read(body);
            problems.extend(reading.problem);
            reading.value.into_owned()
        });
        Self::Measures(measures.collect())
    }
}

/// The leaves of a body the catalogue does not describe (all but its time frame).
fn leaves(body: &RawObject<'_>, problems: &mut Vec<String>) -> Leaves {
    let mut members = Map::new();
    for (name, raw) in body.members().filter(|(name, _)| *name != "effective_time_frame") {
        // The text is valid JSON; what `Value` refuses is a number beyond f64's range.
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(value) => drop(members.insert(name.to_string(), value)),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    let mut leaves = Vec::new();
    flatten_body(&members, "", &mut leaves);
    leaves
}

/// One observation decoded as far as it can be without the tables.
#[derive(Debug)]
pub struct PreparedObservation {
    pub(crate) id: Option<i64>,
    /// A clinical record's FHIR id (it is not the Exchange's integer, often a UUID).
    pub(crate) resource_id: Option<String>,
    /// `meta.source`: the Exchange's own store (borrowed), or an import's.
    pub(crate) source: Option<Cow<'static, str>>,
    pub(crate) patient_id: Option<i64>,
    /// A catalogued code is borrowed from the catalogue: no allocation per row.
    pub(crate) code: Option<Cow<'static, str>>,
    pub(crate) last_updated: Option<i64>,
    /// When the record was made, by its OMH header ([`OmhHeader::created`]).
    pub(crate) created: Option<i64>,
    pub(crate) patient_name: Option<String>,
    pub(crate) data_source: Option<String>,
    pub(crate) json: RawPayload,
    /// The OMH header (empty when there is no readable document).
    pub(crate) header: OmhHeader,
    pub(crate) body: PreparedBody,
    /// Problems with the measures, reported after the tables take the record.
    pub(crate) measure_problems: Vec<String>,
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
        if let Some(clinical) = &input.clinical {
            return Self::clinical(input, clinical);
        }
        let mut problems: Vec<String> = Vec::new();
        let id = integer_id(input.observation_id, &mut problems);
        let last_updated = common_problems(input, &mut problems);
        let mut decoded = Vec::new();
        let json: Result<&[u8], String> = match input.payload {
            Payload::Base64(data) => omh::decode_base64(data, &mut decoded).map(|()| decoded.as_slice()),
            Payload::Json(bytes) => Ok(bytes),
            Payload::Missing => Err("the observation carries no OMH payload".into()),
        };
        let flat = input.resource.map(|resource| flat::FlatRow::new(resource, json.as_ref().ok().copied(), input.code));
        let spec = input.code.and_then(catalog::lookup);
        let document = json.and_then(omh::parse_document);
        let frame = time_frame(&document, &mut problems);
        let mut measure_problems = Vec::new();
        let (readable, header, body) = match document {
            Ok(OmhDocument { header, body: Some(body) }) => (true, header, PreparedBody::read(&body, spec, &mut measure_problems)),
            Ok(_) | Err(_) => (false, OmhHeader::default(), PreparedBody::Unreadable),
        };
        let created = created(&header, &mut problems);
        Self {
            id,
            resource_id: None,
            source: input.source.map(source_of),
            patient_id: input.patient_id,
            code: input.code.map(|code| catalogued(code, spec)),
            last_updated,
            created,
            patient_name: input.patient_name.map(str::to_string),
            data_source: input.data_source.map(str::to_string),
            json: RawPayload::of(readable, input.payload, decoded),
            header,
            body,
            measure_problems,
            frame,
            flat,
            problems,
            is_observation: true,
        }
    }

    /// A clinical Observation ([`clinical`]): its FHIR id kept as text, never taken for the
    /// Exchange's integer ids (an imported `12` is not observation 12).
    fn clinical(input: &ObservationInput<'_>, clinical: &ClinicalInput<'_>) -> Self {
        let mut problems: Vec<String> = Vec::new();
        let resource_id = match input.observation_id {
            ObservationId::Number(n) => Some(n.to_string()),
            ObservationId::Text(text) if !text.trim().is_empty() => Some(text.to_string()),
            ObservationId::Text(_) => {
                problems.push("the observation has no id".into());
                None
            }
        };
        let last_updated = common_problems(input, &mut problems);
        let body = ClinicalBody::read(input.code, clinical, &mut problems);
        let as_sent = clinical::as_sent(resource_id.as_deref().unwrap_or(""), input.code, clinical);
        Self {
            id: None,
            resource_id,
            source: input.source.map(source_of),
            patient_id: input.patient_id,
            code: input.code.map(|code| catalogued(code, catalog::lookup(code))),
            last_updated,
            created: None,
            patient_name: input.patient_name.map(str::to_string),
            data_source: input.data_source.map(str::to_string),
            json: RawPayload::AsSent(as_sent),
            header: OmhHeader::default(),
            body: body.body,
            measure_problems: body.measure_problems,
            frame: body.frame,
            flat: input.resource.map(|resource| flat::FlatRow::new(resource, None, input.code)),
            problems,
            is_observation: true,
        }
    }

    fn not_an_observation(reason: String) -> Self {
        Self {
            id: None,
            resource_id: None,
            source: None,
            patient_id: None,
            code: None,
            last_updated: None,
            created: None,
            patient_name: None,
            data_source: None,
            json: RawPayload::AsSent(String::new()),
            header: OmhHeader::default(),
            body: PreparedBody::Unreadable,
            measure_problems: Vec::new(),
            frame: None,
            flat: None,
            problems: vec![reason],
            is_observation: false,
        }
    }
}

/// What every observation is checked for (a patient, a code), and its `lastUpdated`.
fn common_problems(input: &ObservationInput<'_>, problems: &mut Vec<String>) -> Option<i64> {
    if input.patient_id.is_none() {
        problems.push("the observation names no patient".into());
    }
    if input.code.is_none() {
        problems.push("the observation has no code".into());
    }
    input.last_updated.and_then(|text| match time::parse_date_time(text) {
        Ok(instant) => Some(instant.utc_micros),
        Err(reason) => {
            problems.push(format!("lastUpdated: {reason}"));
            None
        }
    })
}

/// `meta.source`, borrowed when it is the Exchange's own (no allocation per row).
fn source_of(source: &str) -> Cow<'static, str> {
    match source {
        EXCHANGE_SOURCE => Cow::Borrowed(EXCHANGE_SOURCE),
        other => Cow::Owned(other.to_string()),
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

/// When the header says the record was made, or the problem with that time (reported like
/// `lastUpdated`'s: the row keeps the rest).
fn created(header: &OmhHeader, problems: &mut Vec<String>) -> Option<i64> {
    let (field, time) = header.created()?;
    match &time.0 {
        Ok(instant) => Some(*instant),
        Err(reason) => {
            problems.push(format!("header.{field}: {reason}"));
            None
        }
    }
}

/// The body's `effective_time_frame`, or the problem with it (or with the document).
fn time_frame(document: &Result<OmhDocument<'_>, String>, problems: &mut Vec<String>) -> Option<time::TimeFrame> {
    match document {
        Ok(document) => {
            let body = document.body.as_ref().expect("parse_document checks the body");
            match body.get("effective_time_frame") {
                Some(value) => match time::read_time_frame(value) {
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

/// A code the catalogue knows (`spec`), borrowed from it; any other, copied.
fn catalogued(code: &str, spec: Option<&'static CodeSpec>) -> Cow<'static, str> {
    match spec {
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
        // About one observation per KiB of page (an observation is about 1.1 KB of FHIR
        // JSON): reserved once rather than grown by copying, bounded by the largest page.
        let mut page = Self { observations: Vec::with_capacity((bytes.len() / 1024).min(crate::config::MAX_PAGE_SIZE as usize)) };
        let summary = kind.read_page(bytes, page_url, origin, options.resources, |input| page.push(input))?;
        Ok((summary, page))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn prepared(code: &str, document: &str) -> PreparedObservation {
        let data = base64::engine::general_purpose::STANDARD.encode(document);
        PreparedObservation::new(&ObservationInput { patient_id: Some(1), ..ObservationInput::new("7", Some(code), Payload::Base64(data.as_bytes())) })
    }

    #[test]
    fn catalogued_bodies_become_typed_measures_and_others_leaves_with_nothing_dropped() {
        let frame = r#""effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"}"#;
        let glucose = prepared("omh:blood-glucose:4.0", &format!(r#"{{"header":{{"uuid":"u"}},"body":{{{frame},"blood_glucose":{{"value":5.5,"unit":"mmol/L"}}}}}}"#));
        let PreparedBody::Measures(values) = &glucose.body else { panic!("{:?}", glucose.body) };
        assert!(matches!(values[0], MeasureValue::Quantity { canonical: Some(v), .. } if (v - 99.0858).abs() < 1e-9));
        assert_eq!((glucose.header.uuid.as_deref(), glucose.frame.map(|f| f.start)), (Some("u"), Some(1_714_663_800_000_000)));
        assert!(glucose.problems.is_empty() && glucose.measure_problems.is_empty());
        // A number beyond f64 passes the raw reading but not `Value`: reported, not dropped.
        let odd = prepared("x:odd:1.0", &format!(r#"{{"body":{{{frame},"ok":true,"huge":1e400}}}}"#));
        let PreparedBody::Leaves(leaves) = &odd.body else { panic!("{:?}", odd.body) };
        assert_eq!(leaves.iter().map(|(path, _)| path.as_str()).collect::<Vec<_>>(), ["ok"]);
        assert_eq!(odd.measure_problems.len(), 1);
        assert!(odd.measure_problems[0].starts_with("huge: "), "{:?}", odd.measure_problems);
    }

    #[test]
    fn the_creation_time_is_read_and_a_bad_one_is_a_problem_of_a_row_kept_whole() {
        let document = |created: &str| {
            format!(r#"{{"header":{{"uuid":"u","source_creation_date_time":"{created}"}},"body":{{"effective_time_frame":{{"date_time":"2024-05-02T15:30:00Z"}},"heart_rate":{{"value":60,"unit":"beats/min"}}}}}}"#)
        };
        let good = prepared("omh:heart-rate:2.0", &document("2024-05-02T15:29:00Z"));
        assert_eq!((good.created, good.problems.len()), (Some(1_714_663_740_000_000), 0));
        let bad = prepared("omh:heart-rate:2.0", &document("later"));
        assert_eq!((bad.created, bad.header.uuid.as_deref(), bad.frame.map(|f| f.start)), (None, Some("u"), Some(1_714_663_800_000_000)));
        assert_eq!(bad.problems, [r#"header.source_creation_date_time: "later" is not an ISO 8601 date-time"#]);
        assert!(matches!(bad.body, PreparedBody::Measures(_)));
    }
}
