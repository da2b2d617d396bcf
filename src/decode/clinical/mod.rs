//! Clinical FHIR Observations: those imported from an EHR, with a `value[x]` or components
//! in place of an OMH attachment. In: the elements the adapter kept ([`ClinicalInput`]).
//! Out: what an OMH record gives the tables: the effective time, and the body as the
//! measures of its code ([`loinc`], read by `measures`), or, for a code the catalogue does
//! not list, its elements' leaves by key path (`code.coding[0].code`, as `fetch_resources`
//! flattens).

pub mod elements;
pub mod loinc;
mod measures;

use serde_json::{Map, Value};

use super::PreparedBody;
use super::flatten::Leaves;
use super::omh::time::{self, TimeFrame};
use crate::source::ClinicalInput;
use elements::Elements;

/// What decoding a clinical Observation gives besides the common fields.
pub struct ClinicalBody {
    pub frame: Option<TimeFrame>,
    pub body: PreparedBody,
    /// Problems with the measures (reported once the tables take the record).
    pub measure_problems: Vec<String>,
}

impl ClinicalBody {
    /// Read `input` as the observation coded `code`; problems with its times go to
    /// `problems`, as an OMH record's do.
    pub fn read(code: Option<&str>, input: &ClinicalInput<'_>, problems: &mut Vec<String>) -> Self {
        let elements = Elements::read(input, problems);
        let frame = time_frame(&elements, problems);
        let mut measure_problems = Vec::new();
        let body = match code.and_then(loinc::lookup) {
            Some(clinical) => PreparedBody::Measures(measures::read(clinical, &elements, input.code_display, &mut measure_problems)),
            None => {
                let leaves = leaves(input, &mut measure_problems);
                if !has_value(input) {
                    // The catalogue's required measures say this of a code it lists.
                    measure_problems.push("the observation has no value[x] or component".into());
                }
                PreparedBody::Leaves(leaves)
            }
        };
        Self { frame, body, measure_problems }
    }
}

fn has_value(input: &ClinicalInput<'_>) -> bool {
    let values = [
        input.value_quantity, input.value_codeable_concept, input.value_string, input.value_boolean, input.value_integer, input.value_period,
        input.component,
    ];
    values.iter().flatten().any(|raw| raw.get() != "null")
}

/// When the observation holds: `effectiveDateTime`, `effectivePeriod` (its start, or its
/// end alone), or failing both, when it was `issued`.
fn time_frame(elements: &Elements<'_>, problems: &mut Vec<String>) -> Option<TimeFrame> {
    let (name, start, end) = if let Some(at) = &elements.effective_date_time {
        ("effectiveDateTime", Some(&at.0), None)
    } else if let Some(period) = &elements.effective_period {
        ("effectivePeriod", period.start.as_ref().or(period.end.as_ref()), period.end.as_ref().filter(|_| period.start.is_some()))
    } else if let Some(at) = &elements.issued {
        ("issued", Some(&at.0), None)
    } else {
        problems.push("the observation has no effectiveDateTime, effectivePeriod or issued".into());
        return None;
    };
    let Some(start) = start else {
        problems.push(format!("{name} has neither start nor end"));
        return None;
    };
    let parse = |text: &str| time::parse_date_time(text).map_err(|reason| format!("{name}: {reason}"));
    let first = match parse(start) {
        Ok(instant) => instant,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let end = match end.map(|t| parse(t)) {
        Some(Ok(instant)) => Some(instant.utc_micros),
        Some(Err(problem)) => {
            problems.push(problem);
            None
        }
        None => None,
    };
    Some(TimeFrame { start: first.utc_micros, end, offset_seconds: first.offset_seconds })
}

/// The elements of an Observation whose code the catalogue does not list, by key path.
fn leaves(input: &ClinicalInput<'_>, problems: &mut Vec<String>) -> Leaves {
    let mut members = Map::new();
    // The effective time is in the common columns already.
    for (name, raw) in kept_elements(input).filter(|(name, _)| !name.starts_with("effective")) {
        // The text is valid JSON; what `Value` refuses is a number beyond f64's range.
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(value) => drop(members.insert(name.to_string(), value)),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    let mut leaves = Vec::new();
    super::resource::flatten_object(&members, "", &mut leaves);
    leaves
}

/// The elements kept of an Observation, by their FHIR names, in the resource's usual order.
fn kept_elements<'a>(input: &ClinicalInput<'a>) -> impl Iterator<Item = (&'static str, &'a serde_json::value::RawValue)> {
    [
        ("status", input.status),
        ("category", input.category),
        ("effectiveDateTime", input.effective_date_time),
        ("effectivePeriod", input.effective_period),
        ("issued", input.issued),
        ("valueQuantity", input.value_quantity),
        ("valueCodeableConcept", input.value_codeable_concept),
        ("valueString", input.value_string),
        ("valueBoolean", input.value_boolean),
        ("valueInteger", input.value_integer),
        ("valuePeriod", input.value_period),
        ("component", input.component),
        ("interpretation", input.interpretation),
        ("referenceRange", input.reference_range),
    ]
    .into_iter()
    .filter_map(|(name, raw)| Some((name, raw?)))
}

/// The Observation as the errors table shows it: its id, code and every element read, as
/// the server wrote them.
pub fn as_sent(id: &str, code: Option<&str>, input: &ClinicalInput<'_>) -> String {
    // Written into one allocation: every clinical row carries it.
    let elements: usize = kept_elements(input).map(|(name, raw)| name.len() + raw.get().len() + 4).sum();
    let mut json = String::with_capacity(elements + id.len() + code.map_or(0, str::len) + input.code_system.map_or(0, str::len) + 96);
    json.push_str(r#"{"resourceType":"Observation","id":"#);
    quote(&mut json, id);
    if let Some(code) = code {
        json.push_str(r#","code":{"coding":[{"#);
        if let Some(system) = input.code_system {
            json.push_str(r#""system":"#);
            quote(&mut json, system);
            json.push(',');
        }
        json.push_str(r#""code":"#);
        quote(&mut json, code);
        json.push_str("}]}");
    }
    for (name, raw) in kept_elements(input) {
        json.push_str(",\"");
        json.push_str(name);
        json.push_str("\":");
        json.push_str(raw.get());
    }
    json.push('}');
    json
}

/// `text` as a JSON string.
fn quote(json: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        json.push('"');
        json.push_str(text);
        json.push('"');
    } else {
        json.push_str(&Value::String(text.to_string()).to_string());
    }
}

#[cfg(test)]
mod tests;
