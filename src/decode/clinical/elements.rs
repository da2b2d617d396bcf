//! The FHIR datatypes a clinical Observation's elements are made of, read from the text the
//! adapter kept (borrowed, as the adapter reads pages). Reading is kept apart from turning
//! the elements into measures (`super::measures`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::source::ClinicalInput;

#[derive(Debug, Deserialize)]
pub struct Quantity<'a> {
    pub value: Option<f64>,
    #[serde(borrow)]
    pub unit: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Coding<'a> {
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub display: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Concept<'a> {
    #[serde(default, borrow)]
    pub coding: Vec<Coding<'a>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

impl Concept<'_> {
    /// The first coding's code.
    pub fn code(&self) -> Option<&str> {
        self.coding.iter().find_map(|c| c.code.as_deref())
    }

    /// The concept's text, else the first coding's display.
    pub fn display(&self) -> Option<&str> {
        self.text.as_deref().or_else(|| self.coding.iter().find_map(|c| c.display.as_deref()))
    }
}

#[derive(Debug, Deserialize)]
pub struct Period<'a> {
    #[serde(borrow)]
    pub start: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub end: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Component<'a> {
    #[serde(borrow)]
    pub code: Option<Concept<'a>>,
    #[serde(rename = "valueQuantity", borrow)]
    pub value_quantity: Option<Quantity<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Range<'a> {
    #[serde(borrow)]
    pub low: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub high: Option<Quantity<'a>>,
}

/// A FHIR string, borrowed from the page unless it holds escapes.
#[derive(Debug, Deserialize)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// Every element of the Observation, read; one that is not of its datatype is a problem
/// (named by the element), and absent from here.
#[derive(Debug, Default)]
pub struct Elements<'a> {
    pub status: Option<Text<'a>>,
    pub category: Vec<Concept<'a>>,
    pub effective_date_time: Option<Text<'a>>,
    pub effective_period: Option<Period<'a>>,
    pub issued: Option<Text<'a>>,
    pub value_quantity: Option<Quantity<'a>>,
    pub value_concept: Option<Concept<'a>>,
    pub value_string: Option<Text<'a>>,
    pub value_boolean: Option<bool>,
    pub value_integer: Option<i64>,
    pub value_period: Option<Period<'a>>,
    pub component: Vec<Component<'a>>,
    pub interpretation: Vec<Concept<'a>>,
    pub reference_range: Vec<Range<'a>>,
}

impl<'a> Elements<'a> {
    pub fn read(input: &ClinicalInput<'a>, problems: &mut Vec<String>) -> Self {
        let mut read = Reader { problems };
        Self {
            status: read.one("status", input.status),
            category: read.one("category", input.category).unwrap_or_default(),
            effective_date_time: read.one("effectiveDateTime", input.effective_date_time),
            effective_period: read.one("effectivePeriod", input.effective_period),
            issued: read.one("issued", input.issued),
            value_quantity: read.one("valueQuantity", input.value_quantity),
            value_concept: read.one("valueCodeableConcept", input.value_codeable_concept),
            value_string: read.one("valueString", input.value_string),
            value_boolean: read.one("valueBoolean", input.value_boolean),
            value_integer: read.one("valueInteger", input.value_integer),
            value_period: read.one("valuePeriod", input.value_period),
            component: read.one("component", input.component).unwrap_or_default(),
            interpretation: read.one("interpretation", input.interpretation).unwrap_or_default(),
            reference_range: read.one("referenceRange", input.reference_range).unwrap_or_default(),
        }
    }

    /// The `valueQuantity` of the component coded `code`.
    pub fn component(&self, code: &str) -> Option<&Quantity<'a>> {
        self.component.iter().find(|c| c.code.as_ref().is_some_and(|concept| concept.coding.iter().any(|c| c.code.as_deref() == Some(code))))?.value_quantity.as_ref()
    }
}

struct Reader<'p> {
    problems: &'p mut Vec<String>,
}

impl Reader<'_> {
    fn one<'a, T: Deserialize<'a>>(&mut self, name: &str, raw: Option<&'a RawValue>) -> Option<T> {
        let raw = raw.filter(|raw| raw.get() != "null")?;
        match serde_json::from_str(raw.get()) {
            Ok(value) => Some(value),
            Err(e) => {
                self.problems.push(format!("{name} is not of its FHIR type ({e}): {}", raw.get()));
                None
            }
        }
    }
}
