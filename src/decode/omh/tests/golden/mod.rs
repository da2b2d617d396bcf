//! Golden tests: real payloads (`tests/reference/samples/omh_payloads_by_code.json`), the
//! schemas' example data points, and hand-written payloads for what those leave out, each
//! read with every measure of its code and compared with values written out by hand
//! ([`real`], [`examples`], [`hand_written`]); then unit conversions and invalid values
//! ([`units`]). Every payload is first validated against its schema, so the expectations
//! are about valid data.

mod examples;
mod hand_written;
mod real;
mod units;

use std::path::Path;

use serde_json::{Map, Value, json};

use super::schema::{CODES, body_validator};
use crate::decode::omh::catalog::{CodeSpec, MeasureValue, lookup};
use crate::decode::omh::time::parse_time_frame;
use crate::decode::omh::{decode_base64, parse_document};

use MeasureValue::{Amount, Bool, Count, Missing, Number, Quantity, Text};

fn reference(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference").join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Equal, with floats equal to 1e-9 relative (for converted units).
fn same(got: &MeasureValue, want: &MeasureValue) -> bool {
    match (got, want) {
        (Quantity { value: a, unit: u, canonical: c }, Quantity { value: b, unit: v, canonical: d }) => {
            close(*a, *b)
                && u == v
                && match (c, d) {
                    (Some(c), Some(d)) => close(*c, *d),
                    (c, d) => c == d,
                }
        }
        (Amount { value: a, unit: u }, Amount { value: b, unit: v }) => close(*a, *b) && u == v,
        (Number(a), Number(b)) => close(*a, *b),
        _ => got == want,
    }
}

fn spec(code: &str) -> &'static CodeSpec {
    lookup(code).unwrap_or_else(|| panic!("{code} is not in the catalogue"))
}

/// Reads every measure of `code` from `body`: each column in `expected` has that value, every
/// other column is missing, and no problem is reported. The body must be schema-valid and its
/// time frame readable.
fn check(code: &str, source: &str, body: &Value, expected: &[(&str, MeasureValue<'static>)]) {
    let spec = spec(code);
    if let Err(e) = body_validator(code).validate(body) {
        panic!("{code} {source}: the payload is not valid for its schema: {e}\n{body}");
    }
    let body: &Map<String, Value> = body.as_object().unwrap();
    for (column, _) in expected {
        assert!(spec.measures.iter().any(|m| m.column == *column), "{code} {source}: no column {column}");
    }
    for measure in spec.measures {
        let reading = measure.read_json(body);
        assert_eq!(reading.problem, None, "{code} {source}: {}", measure.column);
        let want = expected.iter().find(|(c, _)| *c == measure.column).map_or(&Missing, |(_, v)| v);
        assert!(same(&reading.value, want), "{code} {source}: {} is {:?}, expected {want:?}", measure.column, reading.value);
    }
    if let Some(frame) = body.get("effective_time_frame") {
        parse_time_frame(frame).unwrap_or_else(|e| panic!("{code} {source}: {e}"));
    }
}

/// A whole data point, through base64 and the document parser, then `check`ed.
fn check_document(code: &str, source: &str, document: &Value, expected: &[(&str, MeasureValue<'static>)]) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let mut bytes = Vec::new();
    decode_base64(&encoded, &mut bytes).unwrap();
    let parsed = parse_document(&bytes).unwrap_or_else(|e| panic!("{code} {source}: {e}"));
    let schema_id = &document["header"]["schema_id"];
    let header_code = format!("{}:{}:{}", schema_id["namespace"].as_str().unwrap(), schema_id["name"].as_str().unwrap(), schema_id["version"].as_str().unwrap());
    assert_eq!(header_code, code, "{source}: the header names another code");
    assert_eq!(parsed.header.uuid.as_deref(), document["header"]["uuid"].as_str());
    assert!(parsed.body.is_some());
    let whole: Value = serde_json::from_slice(&bytes).unwrap();
    check(code, source, &whole["body"], expected);
}

const fn q(value: f64, unit: &'static str, canonical: f64) -> MeasureValue<'static> {
    Quantity { value, unit: std::borrow::Cow::Borrowed(unit), canonical: Some(canonical) }
}

fn at(date_time: &str) -> Value {
    json!({"date_time": date_time})
}

fn night() -> Value {
    json!({"time_interval": {"start_date_time": "2025-03-01T23:10:00-05:00", "end_date_time": "2025-03-02T06:40:00-05:00"}})
}
