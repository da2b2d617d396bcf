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
}

#[derive(Debug, Default, Deserialize)]
pub struct AcquisitionProvenance {
    pub source_name: Option<String>,
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
}
