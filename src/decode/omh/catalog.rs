//! Which typed columns each OMH / IEEE 1752 code carries, and how to read them from a body.
//! One table drives both decoding and the Arrow schema, so adding a code is adding a row.

use serde_json::Value;

pub const OMH_SYSTEM: &str = "https://w3id.org/openmhealth";
pub const IEEE_SYSTEM: &str = "https://w3id.org/ieee1752";

/// The coding system a bare code belongs to (`ieee:*` codes use IEEE 1752).
pub fn system_for_code(code: &str) -> &'static str {
    if code.starts_with("ieee:") {
        IEEE_SYSTEM
    } else {
        OMH_SYSTEM
    }
}

/// How a measure is stored and read.
#[derive(Debug)]
pub enum MeasureKind {
    /// `{value, unit}` converted to one canonical unit (`value * factor + offset`) in the
    /// measure's column. With `stated`, the value and unit as the payload wrote them also get
    /// columns `{stated}_value` and `{stated}_unit` (for types that allow several units). A
    /// unit missing from `units` is reported, never guessed.
    Quantity {
        units: &'static [UnitConversion],
        stated: Option<&'static str>,
    },
    /// `{value, unit}` kept as written, for amounts with no common unit (mass or volume or
    /// none): columns `{column}_value` and `{column}_unit`.
    Amount,
    /// A bare number (float64).
    Number,
    /// A whole number (int64): bare, or `{value, unit}` with exactly this unit (`steps`).
    Count { unit: Option<&'static str> },
    /// A string from a fixed vocabulary (dictionary-encoded).
    Category,
    /// Free text (e.g. an activity or food name).
    Text,
    Boolean,
}

#[derive(Debug)]
pub struct UnitConversion {
    pub unit: &'static str,
    pub factor: f64,
    pub offset: f64,
}

/// A conversion by a factor: `canonical = value * factor`.
pub const fn unit(unit: &'static str, factor: f64) -> UnitConversion {
    UnitConversion {
        unit,
        factor,
        offset: 0.0,
    }
}

/// A conversion with an offset (temperatures): `canonical = value * factor + offset`.
pub const fn affine(unit: &'static str, factor: f64, offset: f64) -> UnitConversion {
    UnitConversion { unit, factor, offset }
}

#[derive(Debug)]
pub struct Measure {
    /// The column name, in the guide's style (`glucose_mg_dl`, `steps`, `meal_context`).
    pub column: &'static str,
    /// Keys from the OMH body down to the value, e.g. `["sleep_stage_summary", "rem_sleep_duration"]`.
    pub path: &'static [&'static str],
    pub kind: MeasureKind,
    /// A required measure that is absent makes the record a decode error.
    pub required: bool,
}

impl Measure {
    /// The key path as the long layout names it: `sleep_stage_summary.rem_sleep_duration`.
    pub fn dotted_path(&self) -> String {
        self.path.join(".")
    }

    /// The canonical unit of a quantity, for the long layout.
    pub fn canonical_unit(&self) -> Option<&'static str> {
        match &self.kind {
            MeasureKind::Quantity { units, .. } => units.first().map(|u| u.unit),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct CodeSpec {
    pub code: &'static str,
    pub measures: &'static [Measure],
}

pub use super::codes::CATALOG;

pub fn lookup(code: &str) -> Option<&'static CodeSpec> {
    CATALOG.iter().find(|spec| spec.code == code)
}

/// A measure read from a body.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureValue<'a> {
    /// As written, and in the canonical unit (`None` when the unit is not known).
    Quantity { value: f64, unit: &'a str, canonical: Option<f64> },
    Amount { value: f64, unit: Option<&'a str> },
    Number(f64),
    Count(i64),
    Text(&'a str),
    Bool(bool),
    Missing,
}

/// What reading a measure gave: the value (or what could be kept of it) and any problem.
pub struct Reading<'a> {
    pub value: MeasureValue<'a>,
    pub problem: Option<String>,
}

impl<'a> Reading<'a> {
    fn ok(value: MeasureValue<'a>) -> Self {
        Self { value, problem: None }
    }
    fn bad(problem: String) -> Self {
        Self { value: MeasureValue::Missing, problem: Some(problem) }
    }
}

/// The value at `path` below `body`, if every key is there and the value is not null.
pub fn value_at<'a>(body: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = body.get(*first)?;
    for key in rest {
        value = value.get(*key)?;
    }
    (!value.is_null()).then_some(value)
}

fn whole_number(value: f64) -> Option<i64> {
    (value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15).then_some(value as i64)
}

impl Measure {
    /// Read this measure from an OMH body. A present but unusable value is a problem; an
    /// unknown unit keeps the value as written and is a problem too (never guessed).
    pub fn read<'a>(&self, body: &'a serde_json::Map<String, Value>) -> Reading<'a> {
        let name = || self.dotted_path();
        let Some(raw) = value_at(body, self.path) else {
            return if self.required {
                Reading::bad(format!("required {} is missing", name()))
            } else {
                Reading::ok(MeasureValue::Missing)
            };
        };
        let value_and_unit = || -> Result<(f64, Option<&'a str>), String> {
            let value = raw
                .get("value")
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("{} has no numeric value: {raw}", name()))?;
            Ok((value, raw.get("unit").and_then(Value::as_str)))
        };
        match &self.kind {
            MeasureKind::Quantity { units, .. } => match value_and_unit() {
                Err(problem) => Reading::bad(problem),
                Ok((_, None)) => Reading::bad(format!("{} has no unit: {raw}", name())),
                Ok((value, Some(unit))) => match units.iter().find(|u| u.unit == unit) {
                    Some(conversion) => Reading::ok(MeasureValue::Quantity {
                        value,
                        unit,
                        canonical: Some(value * conversion.factor + conversion.offset),
                    }),
                    None => Reading {
                        value: MeasureValue::Quantity { value, unit, canonical: None },
                        problem: Some(format!(
                            "{} has unknown unit {unit:?} (expected one of {})",
                            name(),
                            known_units(units)
                        )),
                    },
                },
            },
            MeasureKind::Amount => match value_and_unit() {
                Ok((value, unit)) => Reading::ok(MeasureValue::Amount { value, unit }),
                Err(problem) => Reading::bad(problem),
            },
            MeasureKind::Number => match raw.as_f64() {
                Some(v) => Reading::ok(MeasureValue::Number(v)),
                None => Reading::bad(format!("{} is not a number: {raw}", name())),
            },
            MeasureKind::Count { unit: expected } => {
                let (number, unit) = match expected {
                    None => (raw.as_f64(), None),
                    Some(_) => (raw.get("value").and_then(Value::as_f64), raw.get("unit").and_then(Value::as_str)),
                };
                if unit != *expected {
                    let shown = |u: Option<&str>| u.map_or_else(|| "no unit".to_string(), |u| format!("unit {u:?}"));
                    return Reading::bad(format!("{} has {}, expected {}", name(), shown(unit), shown(*expected)));
                }
                match number.and_then(whole_number) {
                    Some(n) => Reading::ok(MeasureValue::Count(n)),
                    None => Reading::bad(format!("{} is not a whole number: {raw}", name())),
                }
            }
            MeasureKind::Category | MeasureKind::Text => match raw.as_str() {
                Some(text) => Reading::ok(MeasureValue::Text(text)),
                None => Reading::bad(format!("{} is not a string: {raw}", name())),
            },
            MeasureKind::Boolean => match raw.as_bool() {
                Some(b) => Reading::ok(MeasureValue::Bool(b)),
                None => Reading::bad(format!("{} is not true or false: {raw}", name())),
            },
        }
    }
}

fn known_units(units: &[UnitConversion]) -> String {
    units.iter().map(|u| u.unit).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn measure<'a>(code: &str, column: &str) -> &'static Measure {
        lookup(code).unwrap().measures.iter().find(|m| m.column == column).unwrap()
    }

    #[test]
    fn glucose_in_either_unit_becomes_mg_dl_and_unknown_units_are_kept_as_written() {
        let glucose = measure("omh:blood-glucose:4.0", "glucose_mg_dl");
        let mg = body(json!({"blood_glucose": {"value": 105, "unit": "mg/dL"}}));
        assert_eq!(glucose.read(&mg).value, MeasureValue::Quantity { value: 105.0, unit: "mg/dL", canonical: Some(105.0) });
        let mmol = body(json!({"blood_glucose": {"value": 5.5, "unit": "mmol/L"}}));
        let MeasureValue::Quantity { canonical: Some(v), .. } = glucose.read(&mmol).value else { panic!() };
        assert!((v - 99.0858).abs() < 1e-9);
        let odd_body = body(json!({"blood_glucose": {"value": 5.5, "unit": "g/L"}}));
        let odd = glucose.read(&odd_body);
        assert!(odd.problem.unwrap().contains("unknown unit \"g/L\""));
        assert_eq!(odd.value, MeasureValue::Quantity { value: 5.5, unit: "g/L", canonical: None });
        assert!(glucose.read(&body(json!({}))).problem.unwrap().contains("required"));
    }

    #[test]
    fn optional_categories() {
        let meal = measure("omh:blood-glucose:4.0", "meal_context");
        let empty_body = body(json!({}));
        let empty = meal.read(&empty_body);
        assert_eq!((empty.value, empty.problem), (MeasureValue::Missing, None));
        assert_eq!(
            meal.read(&body(json!({"temporal_relationship_to_meal": "fasting"}))).value,
            MeasureValue::Text("fasting")
        );
    }

    #[test]
    fn every_kind_reads_and_complains_precisely() {
        let count = Measure { column: "steps", path: &["step_count"], kind: MeasureKind::Count { unit: Some("steps") }, required: true };
        assert_eq!(count.read(&body(json!({"step_count": {"value": 7411.0, "unit": "steps"}}))).value, MeasureValue::Count(7411));
        assert!(count.read(&body(json!({"step_count": {"value": 74.5, "unit": "steps"}}))).problem.unwrap().contains("whole number"));
        assert!(count.read(&body(json!({"step_count": {"value": 7, "unit": "km"}}))).problem.is_some());
        let nested = Measure { column: "rem_s", path: &["summary", "rem"], kind: MeasureKind::Number, required: false };
        assert_eq!(nested.read(&body(json!({"summary": {"rem": 3}}))).value, MeasureValue::Number(3.0));
        assert_eq!(nested.read(&body(json!({"summary": {}}))).value, MeasureValue::Missing);
        assert_eq!(nested.dotted_path(), "summary.rem");
        let flag = Measure { column: "is_main_sleep", path: &["is_main_sleep"], kind: MeasureKind::Boolean, required: false };
        assert_eq!(flag.read(&body(json!({"is_main_sleep": true}))).value, MeasureValue::Bool(true));
        assert!(flag.read(&body(json!({"is_main_sleep": "yes"}))).problem.is_some());
        let amount = Measure { column: "food_amount", path: &["food_amount"], kind: MeasureKind::Amount, required: true };
        assert_eq!(amount.read(&body(json!({"food_amount": {"value": 2}}))).value, MeasureValue::Amount { value: 2.0, unit: None });
    }

    #[test]
    fn columns_are_unique_across_the_catalog() {
        let mut seen = std::collections::HashSet::new();
        for spec in CATALOG {
            for m in spec.measures {
                assert!(seen.insert(m.column), "duplicate column {}", m.column);
            }
        }
        assert_eq!(system_for_code("ieee:sleep-stage-summary:1.0"), IEEE_SYSTEM);
        assert_eq!(system_for_code("omh:heart-rate:2.0"), OMH_SYSTEM);
    }
}
