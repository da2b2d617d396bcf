//! Which typed columns each OMH / IEEE 1752 code carries, and how to read them from a body.
//! One table drives both decoding and the Arrow schema, so adding a code is adding a row.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::raw::{self, RawObject};

pub use crate::terminology::{IEEE_SYSTEM, OMH_SYSTEM, system_for_code};

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
    pub fn dotted_path(&self) -> Cow<'static, str> {
        match self.path {
            [key] => Cow::Borrowed(key),
            keys => Cow::Owned(keys.join(".")),
        }
    }

    /// The wide layout's columns of this measure, in table order.
    pub fn wide_columns(&self) -> Vec<String> {
        match &self.kind {
            MeasureKind::Quantity { stated: Some(stem), .. } => vec![self.column.into(), format!("{stem}_value"), format!("{stem}_unit")],
            MeasureKind::Amount => vec![format!("{}_value", self.column), format!("{}_unit", self.column)],
            _ => vec![self.column.into()],
        }
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

/// The entry of an OMH or IEEE code, or of a clinical (LOINC) one.
pub fn lookup(code: &str) -> Option<&'static CodeSpec> {
    CATALOG.iter().find(|spec| spec.code == code).or_else(|| crate::decode::clinical::loinc::lookup(code).map(|clinical| &clinical.spec))
}

/// Every code either catalogue describes: OMH and IEEE first, then clinical.
pub fn every_spec() -> impl Iterator<Item = &'static CodeSpec> {
    CATALOG.iter().chain(crate::decode::clinical::loinc::LOINC.iter().map(|clinical| &clinical.spec))
}

/// A measure read from a body. Strings are borrowed from the body where they can be;
/// [`MeasureValue::into_owned`] keeps one beyond it.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureValue<'a> {
    /// As written, and in the canonical unit (`None` when the unit is not known).
    Quantity { value: f64, unit: Cow<'a, str>, canonical: Option<f64> },
    Amount { value: f64, unit: Option<Cow<'a, str>> },
    Number(f64),
    Count(i64),
    Text(Cow<'a, str>),
    Bool(bool),
    Missing,
}

impl MeasureValue<'_> {
    /// The same value, owning its strings.
    pub fn into_owned(self) -> MeasureValue<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        match self {
            Self::Quantity { value, unit, canonical } => MeasureValue::Quantity { value, unit: own(unit), canonical },
            Self::Amount { value, unit } => MeasureValue::Amount { value, unit: unit.map(own) },
            Self::Number(n) => MeasureValue::Number(n),
            Self::Count(n) => MeasureValue::Count(n),
            Self::Text(text) => MeasureValue::Text(own(text)),
            Self::Bool(b) => MeasureValue::Bool(b),
            Self::Missing => MeasureValue::Missing,
        }
    }
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

fn whole_number(value: f64) -> Option<i64> {
    (value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15).then_some(value as i64)
}

/// The OMH `{value, unit}` shape, read without collecting its other members.
#[derive(serde::Deserialize)]
struct ValueUnit<'a> {
    #[serde(borrow)]
    value: Option<&'a RawValue>,
    #[serde(borrow)]
    unit: Option<&'a RawValue>,
}

/// `{value, unit}`: the number, if `value` is one, and the unit, if `unit` is a string.
/// Anything else (not an object, a repeated member) reads as neither, so it is reported.
fn value_and_unit(raw: &RawValue) -> (Option<f64>, Option<Cow<'_, str>>) {
    match raw::read_as::<ValueUnit<'_>>(raw) {
        Some(ValueUnit { value, unit }) => (value.and_then(raw::number), unit.and_then(raw::text)),
        None => (None, None),
    }
}

impl Measure {
    /// Read this measure from an OMH body. A present but unusable value is a problem; an
    /// unknown unit keeps the value as written and is a problem too (never guessed).
    pub fn read<'a>(&self, body: &RawObject<'a>) -> Reading<'a> {
        let name = || self.dotted_path();
        let Some(raw) = body.at(self.path) else {
            return if self.required {
                Reading::bad(format!("required {} is missing", name()))
            } else {
                Reading::ok(MeasureValue::Missing)
            };
        };
        let shown = raw.get();
        match &self.kind {
            MeasureKind::Quantity { units, .. } => match value_and_unit(raw) {
                (None, _) => Reading::bad(format!("{} has no numeric value: {shown}", name())),
                (Some(_), None) => Reading::bad(format!("{} has no unit: {shown}", name())),
                (Some(value), Some(unit)) => match units.iter().find(|u| u.unit == unit) {
                    Some(conversion) => Reading::ok(MeasureValue::Quantity {
                        value,
                        unit: Cow::Borrowed(conversion.unit),
                        canonical: Some(value * conversion.factor + conversion.offset),
                    }),
                    None => Reading {
                        problem: Some(format!(
                            "{} has unknown unit {unit:?} (expected one of {})",
                            name(),
                            known_units(units)
                        )),
                        value: MeasureValue::Quantity { value, unit, canonical: None },
                    },
                },
            },
            MeasureKind::Amount => match value_and_unit(raw) {
                (Some(value), unit) => Reading::ok(MeasureValue::Amount { value, unit }),
                (None, _) => Reading::bad(format!("{} has no numeric value: {shown}", name())),
            },
            MeasureKind::Number => match raw::number(raw) {
                Some(v) => Reading::ok(MeasureValue::Number(v)),
                None => Reading::bad(format!("{} is not a number: {shown}", name())),
            },
            MeasureKind::Count { unit: expected } => {
                let (number, unit) = match expected {
                    None => (raw::number(raw), None),
                    Some(_) => value_and_unit(raw),
                };
                if unit.as_deref() != *expected {
                    let shown = |u: Option<&str>| u.map_or_else(|| "no unit".to_string(), |u| format!("unit {u:?}"));
                    return Reading::bad(format!("{} has {}, expected {}", name(), shown(unit.as_deref()), shown(*expected)));
                }
                match number.and_then(whole_number) {
                    Some(n) => Reading::ok(MeasureValue::Count(n)),
                    None => Reading::bad(format!("{} is not a whole number: {shown}", name())),
                }
            }
            MeasureKind::Category | MeasureKind::Text => match raw::text(raw) {
                Some(text) => Reading::ok(MeasureValue::Text(text)),
                None => Reading::bad(format!("{} is not a string: {shown}", name())),
            },
            MeasureKind::Boolean => match raw::read_as::<bool>(raw) {
                Some(b) => Reading::ok(MeasureValue::Bool(b)),
                None => Reading::bad(format!("{} is not true or false: {shown}", name())),
            },
        }
    }
}

#[cfg(test)]
impl Measure {
    /// [`Self::read`] from a `Value` body (through its text, the way a payload is read), owned.
    pub fn read_json(&self, body: &serde_json::Map<String, serde_json::Value>) -> Reading<'static> {
        let text = serde_json::to_string(body).expect("a map serializes");
        let reading = self.read(&RawObject::parse(&text).expect("a map is an object"));
        Reading { value: reading.value.into_owned(), problem: reading.problem }
    }
}

fn known_units(units: &[UnitConversion]) -> String {
    units.iter().map(|u| u.unit).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// What `measure` reads from `body`, owned.
    fn read(measure: &Measure, body: Value) -> Reading<'static> {
        measure.read_json(body.as_object().unwrap())
    }

    fn measure<'a>(code: &str, column: &str) -> &'static Measure {
        lookup(code).unwrap().measures.iter().find(|m| m.column == column).unwrap()
    }

    #[test]
    fn glucose_in_either_unit_becomes_mg_dl_and_unknown_units_are_kept_as_written() {
        let glucose = measure("omh:blood-glucose:4.0", "glucose_mg_dl");
        let mg = json!({"blood_glucose": {"value": 105, "unit": "mg/dL"}});
        assert_eq!(read(glucose, mg.clone()).value, MeasureValue::Quantity { value: 105.0, unit: "mg/dL".into(), canonical: Some(105.0) });
        let mmol = json!({"blood_glucose": {"value": 5.5, "unit": "mmol/L"}});
        let MeasureValue::Quantity { canonical: Some(v), .. } = read(glucose, mmol.clone()).value else { panic!() };
        assert!((v - 99.0858).abs() < 1e-9);
        let odd_body = json!({"blood_glucose": {"value": 5.5, "unit": "g/L"}});
        let odd = read(glucose, odd_body.clone());
        assert!(odd.problem.unwrap().contains("unknown unit \"g/L\""));
        assert_eq!(odd.value, MeasureValue::Quantity { value: 5.5, unit: "g/L".into(), canonical: None });
        assert!(read(glucose, json!({})).problem.unwrap().contains("required"));
    }

    #[test]
    fn optional_categories() {
        let meal = measure("omh:blood-glucose:4.0", "meal_context");
        let empty_body = json!({});
        let empty = read(meal, empty_body.clone());
        assert_eq!((empty.value, empty.problem), (MeasureValue::Missing, None));
        assert_eq!(
            read(meal, json!({"temporal_relationship_to_meal": "fasting"})).value,
            MeasureValue::Text("fasting".into())
        );
    }

    #[test]
    fn every_kind_reads_and_complains_precisely() {
        let count = Measure { column: "steps", path: &["step_count"], kind: MeasureKind::Count { unit: Some("steps") }, required: true };
        assert_eq!(read(&count, json!({"step_count": {"value": 7411.0, "unit": "steps"}})).value, MeasureValue::Count(7411));
        assert!(read(&count, json!({"step_count": {"value": 74.5, "unit": "steps"}})).problem.unwrap().contains("whole number"));
        assert!(read(&count, json!({"step_count": {"value": 7, "unit": "km"}})).problem.is_some());
        let nested = Measure { column: "rem_s", path: &["summary", "rem"], kind: MeasureKind::Number, required: false };
        assert_eq!(read(&nested, json!({"summary": {"rem": 3}})).value, MeasureValue::Number(3.0));
        assert_eq!(read(&nested, json!({"summary": {}})).value, MeasureValue::Missing);
        assert_eq!(nested.dotted_path(), "summary.rem");
        let flag = Measure { column: "is_main_sleep", path: &["is_main_sleep"], kind: MeasureKind::Boolean, required: false };
        assert_eq!(read(&flag, json!({"is_main_sleep": true})).value, MeasureValue::Bool(true));
        assert!(read(&flag, json!({"is_main_sleep": "yes"})).problem.is_some());
        let amount = Measure { column: "food_amount", path: &["food_amount"], kind: MeasureKind::Amount, required: true };
        assert_eq!(read(&amount, json!({"food_amount": {"value": 2}})).value, MeasureValue::Amount { value: 2.0, unit: None });
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
