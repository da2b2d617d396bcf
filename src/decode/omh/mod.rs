//! Open mHealth decoding: lenient base64, the OMH JSON document, its header, and the
//! `effective_time_frame` in both forms. Everything that can be wrong with a payload comes
//! back as a reason string, so the caller can keep the record and report it.

pub mod catalog;
pub mod codes;
pub mod raw;
pub mod time;

use base64::Engine as _;
use base64::engine::general_purpose::GeneralPurposeConfig;
use base64::engine::{DecodePaddingMode, Simd};
use serde::Deserialize;
use std::sync::LazyLock;

use raw::RawObject;

/// SIMD base64 that accepts padded and unpadded input (servers differ).
static BASE64: LazyLock<Simd> = LazyLock::new(|| {
    Simd::standard(
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
});

/// Decode base64 into `out` (cleared first). Older servers wrap lines every 76 characters,
/// which strict decoders reject, so ASCII whitespace is removed when decoding fails.
pub fn decode_base64(data: impl AsRef<[u8]>, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let bytes = data.as_ref();
    // Decode first and look for whitespace only if that fails: current servers never wrap,
    // so a byte-by-byte scan of every payload up front is wasted work.
    let result = match BASE64.decode_vec(bytes, out) {
        Err(_) if bytes.iter().any(u8::is_ascii_whitespace) => {
            out.clear();
            let compact: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            BASE64.decode_vec(&compact, out)
        }
        other => other,
    };
    result.map_err(|e| format!("invalid base64 in valueAttachment.data: {e}"))
}

#[derive(Debug, Default, Deserialize)]
pub struct OmhHeader {
    pub uuid: Option<String>,
    pub modality: Option<String>,
    pub acquisition_provenance: Option<AcquisitionProvenance>,
    /// When the device made the record (where the Exchange writes it).
    #[serde(default, deserialize_with = "header_time")]
    pub source_creation_date_time: Option<HeaderTime>,
    /// When the record was stored where it came from.
    #[serde(default, deserialize_with = "header_time")]
    pub creation_date_time: Option<HeaderTime>,
}

impl OmhHeader {
    /// When the record was made, as the `created` column gives it: the source's creation
    /// time (the header's own, or OMH 1.2's inside `acquisition_provenance`), else the
    /// header's `creation_date_time`; with the name of the field it came from.
    pub fn created(&self) -> Option<(&'static str, &HeaderTime)> {
        let provenance = self.acquisition_provenance.as_ref().and_then(|p| p.source_creation_date_time.as_ref());
        (self.source_creation_date_time.as_ref().map(|t| ("source_creation_date_time", t)))
            .or(provenance.map(|t| ("acquisition_provenance.source_creation_date_time", t)))
            .or(self.creation_date_time.as_ref().map(|t| ("creation_date_time", t)))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AcquisitionProvenance {
    pub source_name: Option<String>,
    #[serde(default, deserialize_with = "header_time")]
    pub source_creation_date_time: Option<HeaderTime>,
}

/// A date-time of the header, parsed where the header is read (no copy of its text): UTC
/// microseconds, or why it is not a date-time. A bad one is reported and left empty; it
/// does not make the document unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTime(pub Result<i64, String>);

fn header_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<HeaderTime>, D::Error> {
    // Borrowed: the document is always read from its bytes (`parse_document`).
    let raw = <&'de serde_json::value::RawValue>::deserialize(deserializer)?;
    if raw.get() == "null" {
        return Ok(None);
    }
    let parsed = match raw::text(raw) {
        Some(text) => time::parse_date_time(&text).map(|instant| instant.utc_micros),
        None => Err(format!("{} is not a date-time text", raw.get())),
    };
    Ok(Some(HeaderTime(parsed)))
}

/// An OMH data point. Key order is arbitrary (PostgreSQL JSONB), so fields are looked up by
/// name; the body is read only to its keys ([`RawObject`]), each measure parsed when asked.
#[derive(Debug, Deserialize)]
pub struct OmhDocument<'a> {
    #[serde(default)]
    pub header: OmhHeader,
    #[serde(borrow)]
    pub body: Option<RawObject<'a>>,
}

/// Parse the JSON of one OMH data point.
pub fn parse_document(json: &[u8]) -> Result<OmhDocument<'_>, String> {
    let document: OmhDocument = crate::source::json_from_bytes(json).map_err(|e| {
        if std::str::from_utf8(json).is_err() {
            "the decoded payload is not UTF-8 text".to_string()
        } else {
            format!("the payload is not a valid OMH JSON document: {e}")
        }
    })?;
    if document.body.is_none() {
        return Err("the OMH document has no body".into());
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient_about_wrapping_and_padding() {
        let mut out = Vec::new();
        let text = r#"{"header":{},"body":{"x":1}}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        decode_base64(&encoded, &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        // wrapped every 76 characters like older servers do
        let wrapped: String = encoded
            .as_bytes()
            .chunks(10)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        decode_base64(&wrapped, &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        decode_base64(encoded.trim_end_matches('='), &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        assert!(decode_base64("not base64!!", &mut out).unwrap_err().contains("base64"));
    }

    #[test]
    fn documents_need_a_body() {
        assert!(parse_document(br#"{"header":{"uuid":"u"}}"#).unwrap_err().contains("no body"));
        assert!(parse_document(b"{not json").unwrap_err().contains("not a valid"));
        let doc = parse_document(br#"{"body":{"a":1},"header":{"uuid":"u","modality":"sensed","acquisition_provenance":{"source_name":"s"}}}"#).unwrap();
        assert_eq!(doc.header.uuid.as_deref(), Some("u"));
        assert_eq!(doc.header.acquisition_provenance.unwrap().source_name.as_deref(), Some("s"));
    }

    #[test]
    fn the_creation_time_is_the_sources_else_the_headers_and_a_bad_one_is_a_reason() {
        let created = |header: &str| {
            let json = format!(r#"{{"body":{{"a":1}},"header":{header}}}"#);
            let doc = parse_document(json.as_bytes()).unwrap();
            doc.header.created().map(|(field, time)| (field, time.0.clone()))
        };
        let both = created(r#"{"creation_date_time":"2025-01-02T00:00:00Z","source_creation_date_time":"2025-01-01T00:00:01+01:00"}"#);
        assert_eq!(both, Some(("source_creation_date_time", Ok(1_735_689_601_000_000 - 3_600_000_000))));
        let provenance = created(r#"{"creation_date_time":"2025-01-02T00:00:00Z","acquisition_provenance":{"source_creation_date_time":"2025-01-01T00:00:00Z"}}"#);
        assert_eq!(provenance, Some(("acquisition_provenance.source_creation_date_time", Ok(1_735_689_600_000_000))));
        assert_eq!(created(r#"{"creation_date_time":"2025-01-02T00:00:00Z"}"#), Some(("creation_date_time", Ok(1_735_776_000_000_000))));
        assert_eq!(created(r#"{"uuid":"u","source_creation_date_time":null}"#), None);
        // Not a date-time, or not text: a reason, and the document still reads.
        let (field, bad) = created(r#"{"source_creation_date_time":"yesterday","creation_date_time":"2025-01-02T00:00:00Z"}"#).unwrap();
        assert_eq!(field, "source_creation_date_time");
        assert!(bad.unwrap_err().contains("\"yesterday\" is not an ISO 8601 date-time"));
        let (_, number) = created(r#"{"creation_date_time":{"at":5}}"#).unwrap();
        assert_eq!(number, Err(r#"{"at":5} is not a date-time text"#.to_string()));
    }
}
