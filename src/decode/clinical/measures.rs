//! A clinical Observation's elements as the measures of its code: the same typed values the
//! OMH catalogue gives, so the tables build both alike. A present but unusable value, and a
//! unit the code does not list, are problems (the value as written is kept), never guessed.

use std::borrow::Cow;

use super::elements::{Elements, Period, Quantity};
use super::loinc::{ClinicalSpec, Element};
use crate::decode::omh::catalog::{Measure, MeasureKind, MeasureValue, UnitConversion};
use crate::decode::omh::time;
use crate::terminology::UCUM_SYSTEM;

/// Each of `clinical`'s measures, in its order; each problem goes to `problems`.
pub fn read(clinical: &ClinicalSpec, elements: &Elements<'_>, code_display: Option<&str>, problems: &mut Vec<String>) -> Vec<MeasureValue<'static>> {
    let measures = clinical.spec.measures.iter().zip(clinical.elements);
    measures
        .map(|(measure, element)| {
            let (value, problem) = match one(measure, *element, elements, code_display) {
                Ok(value) => (value, None),
                Err(Kept { value, problem }) => (value, Some(problem)),
            };
            if let Some(problem) = problem {
                problems.push(format!("{}: {problem}", measure.dotted_path()));
            } else if value == MeasureValue::Missing && measure.required {
                problems.push(format!("required {} is missing", measure.dotted_path()));
            }
            value
        })
        .collect()
}

/// A value that could not be read whole: what is kept of it (perhaps nothing), and why.
struct Kept {
    value: MeasureValue<'static>,
    problem: String,
}

impl From<String> for Kept {
    fn from(problem: String) -> Self {
        Self { value: MeasureValue::Missing, problem }
    }
}

impl From<&str> for Kept {
    fn from(problem: &str) -> Self {
        problem.to_string().into()
    }
}

type Read = Result<MeasureValue<'static>, Kept>;

// The usual words of the coded elements, so that most rows borrow them rather than copy.
const STATUSES: &[&str] = &["final", "amended", "corrected", "preliminary", "registered", "cancelled", "entered-in-error", "unknown"];
const CATEGORIES: &[&str] = &["laboratory", "vital-signs", "social-history", "survey", "exam", "activity", "procedure", "imaging", "therapy"];
const INTERPRETATIONS: &[&str] = &["N", "H", "L", "A", "HH", "LL", "AA", "HU", "LU", "POS", "NEG", "IND", "S", "R", "I"];
const UCUM_CODES: &[&str] = &["%", "mg/dL", "mmol/L", "/min", "mm[Hg]", "kg", "[lb_av]", "g", "cm", "[in_i]", "kg/m2", "Cel", "[degF]", "umol/L", "mmol/mol", "h", "min"];

/// `text` as a value: borrowed from `vocabulary` when it is one of its words, else copied.
fn word(vocabulary: &[&'static str], text: Option<&str>) -> Read {
    Ok(match text {
        None => MeasureValue::Missing,
        Some(text) => MeasureValue::Text(match vocabulary.iter().find(|w| **w == text) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(text.to_string()),
        }),
    })
}

fn one(measure: &Measure, element: Element, elements: &Elements<'_>, code_display: Option<&str>) -> Read {
    let text = |t: Option<&str>| word(&[], t);
    match element {
        Element::Value => value(measure, elements),
        Element::ValueUcum => word(UCUM_CODES, elements.value_quantity.as_ref().and_then(|q| q.code.as_deref())),
        Element::ValueDisplay => text(elements.value_concept.as_ref().and_then(|c| c.display())),
        Element::Component(code) => elements.component(code).map_or(Ok(MeasureValue::Missing), |q| quantity(measure, q)),
        Element::Duration => duration(measure, elements),
        Element::Status => word(STATUSES, elements.status.as_ref().map(|t| t.0.as_ref())),
        Element::Category => word(CATEGORIES, elements.category.first().and_then(|c| c.code())),
        Element::Interpretation => word(INTERPRETATIONS, elements.interpretation.first().and_then(|c| c.code())),
        Element::ReferenceLow => bound(elements.reference_range.first().and_then(|r| r.low.as_ref())),
        Element::ReferenceHigh => bound(elements.reference_range.first().and_then(|r| r.high.as_ref())),
        Element::CodeDisplay => text(code_display),
    }
}

/// The `value[x]` of the measure's kind.
fn value(measure: &Measure, elements: &Elements<'_>) -> Read {
    let missing = Ok(MeasureValue::Missing);
    match measure.kind {
        MeasureKind::Quantity { .. } => elements.value_quantity.as_ref().map_or(missing, |q| quantity(measure, q)),
        MeasureKind::Category => match &elements.value_concept {
            Some(concept) => concept.code().map(|c| MeasureValue::Text(Cow::Owned(c.to_string()))).ok_or_else(|| "valueCodeableConcept has no code".into()),
            None => missing,
        },
        MeasureKind::Text => word(&[], elements.value_string.as_ref().map(|t| t.0.as_ref())),
        MeasureKind::Boolean => Ok(elements.value_boolean.map_or(MeasureValue::Missing, MeasureValue::Bool)),
        MeasureKind::Count { .. } => Ok(elements.value_integer.map_or(MeasureValue::Missing, MeasureValue::Count)),
        MeasureKind::Amount | MeasureKind::Number => missing,
    }
}

/// A Quantity in one of the measure's units: by its UCUM code, else by its unit text.
fn quantity(measure: &Measure, q: &Quantity<'_>) -> Read {
    let MeasureKind::Quantity { units, .. } = measure.kind else { return Ok(MeasureValue::Missing) };
    let value = q.value.ok_or("the Quantity has no value")?;
    let ucum = q.code.as_deref().filter(|_| q.system.as_deref().is_none_or(|s| s == UCUM_SYSTEM));
    let written = q.unit.as_deref().or(q.code.as_deref()).ok_or("the Quantity has no unit")?;
    let conversion = [ucum, q.unit.as_deref()].into_iter().flatten().find_map(|u| units.iter().find(|c| c.unit == u));
    // The unit as written: borrowed from the catalogue when it is the one matched.
    let unit = match conversion {
        Some(c) if c.unit == written => Cow::Borrowed(c.unit),
        _ => Cow::Owned(written.to_string()),
    };
    match conversion {
        Some(c) => Ok(MeasureValue::Quantity { value, unit, canonical: Some(value * c.factor + c.offset) }),
        None => Err(Kept {
            problem: format!("unknown unit {written:?} (expected one of {})", known(units)),
            value: MeasureValue::Quantity { value, unit, canonical: None },
        }),
    }
}

/// Hours: `valueQuantity` in a unit of time, or the length of `valuePeriod`.
fn duration(measure: &Measure, elements: &Elements<'_>) -> Read {
    if let Some(q) = &elements.value_quantity {
        return quantity(measure, q);
    }
    let Some(Period { start, end }) = &elements.value_period else { return Ok(MeasureValue::Missing) };
    let instant = |name: &str, t: &Option<Cow<'_, str>>| -> Result<i64, Kept> {
        let t = t.as_deref().ok_or_else(|| format!("valuePeriod has no {name}"))?;
        time::parse_date_time(t).map(|i| i.utc_micros).map_err(|e| format!("valuePeriod.{name}: {e}").into())
    };
    let hours = (instant("end", end)? - instant("start", start)?) as f64 / 3.6e9;
    Ok(MeasureValue::Quantity { value: hours, unit: Cow::Borrowed("h"), canonical: Some(hours) })
}

/// A reference range's bound, as written.
fn bound(q: Option<&Quantity<'_>>) -> Read {
    Ok(q.and_then(|q| q.value).map_or(MeasureValue::Missing, MeasureValue::Number))
}

fn known(units: &[UnitConversion]) -> String {
    units.iter().map(|u| u.unit).collect::<Vec<_>>().join(", ")
}
