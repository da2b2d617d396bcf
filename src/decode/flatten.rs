//! JSON the catalogue does not describe, as leaves by key path: the body of an unknown
//! code (`mood.score`), and the extras (`header.schema_id.name`, `identifier.0.system`).
//! The table stage (`table::infer`) turns leaves into typed columns.

use serde_json::{Map, Value};

use crate::source::ObservationInput;

/// A leaf of a JSON value, by key path.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// Kept as JSON wrote it, so text columns show `4`, not `4.0`.
    Number(serde_json::Number),
    /// `{value, unit}`, the OMH shape of a measurement.
    Quantity(serde_json::Number, Option<String>),
    Text(String),
    Bool(bool),
    /// An array, kept as JSON text: it does not flatten into columns.
    Json(String),
}

impl Leaf {
    /// As a text column shows it.
    pub fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Json(j) => j.clone(),
            Self::Quantity(n, unit) => format!("{n} {}", unit.as_deref().unwrap_or("")).trim_end().to_string(),
        }
    }
}

/// `(key path, leaf)` pairs, in the order they were found.
pub type Leaves = Vec<(String, Leaf)>;

/// Flatten a body into `(key path, leaf)` pairs; nested objects join their keys with `.`,
/// a `{value, unit}` object is one quantity, and the top-level `effective_time_frame`
/// (read into the common columns) is left out.
pub fn flatten_body(body: &Map<String, Value>, prefix: &str, out: &mut Leaves) {
    for (key, value) in body {
        if prefix.is_empty() && key == "effective_time_frame" {
            continue;
        }
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Null => {}
            Value::Bool(b) => out.push((path, Leaf::Bool(*b))),
            Value::Number(n) => out.push((path, Leaf::Number(n.clone()))),
            Value::String(s) => out.push((path, Leaf::Text(s.clone()))),
            Value::Array(_) => out.push((path, Leaf::Json(value.to_string()))),
            Value::Object(map) => match quantity(map) {
                Some((number, unit)) => out.push((path, Leaf::Quantity(number, unit))),
                None => flatten_body(map, &path, out),
            },
        }
    }
}

/// `{value: <number>, unit: <string>?}` and nothing else.
fn quantity(map: &Map<String, Value>) -> Option<(serde_json::Number, Option<String>)> {
    let Value::Number(number) = map.get("value")? else { return None };
    let unit = match map.get("unit") {
        None => None,
        Some(Value::String(unit)) => Some(unit.clone()),
        Some(_) => return None,
    };
    (map.len() == 1 + usize::from(unit.is_some())).then(|| (number.clone(), unit))
}

/// Every scalar of a JSON value by key path, arrays by index (`identifier.0.system`);
/// nulls are left out.
fn flatten_all(value: &Value, path: String, out: &mut Leaves) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((path, Leaf::Bool(*b))),
        Value::Number(n) => out.push((path, Leaf::Number(n.clone()))),
        Value::String(s) => out.push((path, Leaf::Text(s.clone()))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_all(item, format!("{path}.{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                flatten_all(item, format!("{path}.{key}"), out);
            }
        }
    }
}

/// Only an OMH document's header and its body's `effective_time_frame`, whole, as written
/// (for extras). A document without `body` is its own body.
#[derive(serde::Deserialize)]
struct RawHeader {
    header: Option<Value>,
    body: Option<Value>,
    effective_time_frame: Option<Value>,
}

/// The extras of one observation: FHIR `meta.source`, the resource's `identifier` list,
/// and from `json` (its OMH document, when the payload could be decoded) the whole header
/// and the body's `effective_time_frame` as written.
pub fn extras(input: &ObservationInput<'_>, json: Option<&[u8]>) -> Leaves {
    let mut leaves = Vec::new();
    if let Some(source) = input.meta_source {
        leaves.push(("meta.source".to_string(), Leaf::Text(source.to_string())));
    }
    if let Some(Ok(value)) = input.identifier.map(serde_json::from_str::<Value>) {
        flatten_all(&value, "identifier".to_string(), &mut leaves);
    }
    if let Some(Ok(raw)) = json.map(serde_json::from_slice::<RawHeader>) {
        if let Some(header) = &raw.header {
            flatten_all(header, "header".to_string(), &mut leaves);
        }
        let frame = match &raw.body {
            Some(body) => body.get("effective_time_frame"),
            None => raw.effective_time_frame.as_ref(),
        };
        if let Some(frame) = frame {
            flatten_all(frame, "body.effective_time_frame".to_string(), &mut leaves);
        }
    }
    leaves
}
