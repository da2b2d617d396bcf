//! JSON the catalogue does not describe, as leaves by key path: the body of an unknown
//! code (`mood.score`).
//! The table stage (`table::infer`) turns leaves into typed columns.

use serde_json::{Map, Value};

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
