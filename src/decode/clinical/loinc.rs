//! The clinical catalogue, the twin of the OMH one: the common vitals and labs an EHR sends,
//! by LOINC code, each with its typed columns and where in the Observation each is read.
//! A code not listed here is kept too, its elements flattened by key path.
//!
//! Units are matched by UCUM code first, then by the unit text an EHR may send alone; the
//! canonical unit, first in each list, is UCUM's.

use crate::decode::omh::catalog::{CodeSpec, Measure, MeasureKind, UnitConversion, affine, unit};
use crate::decode::omh::codes::{GLUCOSE_MG_DL_PER_MMOL_L, boolean, category, count, number, required, stated, text};

/// Where in a clinical Observation a measure is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// The `value[x]` of the measure's kind: `valueQuantity`, `valueCodeableConcept` (its
    /// code), `valueString`, `valueBoolean` or `valueInteger`.
    Value,
    /// `valueQuantity.code`, the UCUM code.
    ValueUcum,
    /// `valueCodeableConcept`'s display (or text).
    ValueDisplay,
    /// The `valueQuantity` of the `component` coded so (LOINC).
    Component(&'static str),
    /// A duration in hours: `valueQuantity`, or the length of `valuePeriod` (its start and
    /// end are not kept as text: de-identification moves times, which text would escape).
    Duration,
    Status,
    /// The first `category`'s code.
    Category,
    /// The first `interpretation`'s code (`H`, `L`, `N`).
    Interpretation,
    /// The first `referenceRange`'s `low.value` and `high.value`, in the value's units.
    ReferenceLow,
    ReferenceHigh,
    /// The code's display, or the concept's text.
    CodeDisplay,
}

impl Element {
    /// Where it is in the Observation, as FHIR names it, for a measure of `kind`.
    pub fn fhir_path(&self, kind: &MeasureKind) -> String {
        match self {
            Self::Value => match kind {
                MeasureKind::Quantity { .. } => "valueQuantity",
                MeasureKind::Category => "valueCodeableConcept.coding[0].code",
                MeasureKind::Boolean => "valueBoolean",
                MeasureKind::Count { .. } => "valueInteger",
                _ => "valueString",
            }
            .into(),
            Self::ValueUcum => "valueQuantity.code".into(),
            Self::ValueDisplay => "valueCodeableConcept.text".into(),
            Self::Component(code) => format!("component[code={code}].valueQuantity"),
            Self::Duration => "valueQuantity or valuePeriod".into(),
            Self::Status => "status".into(),
            Self::Category => "category[0].coding[0].code".into(),
            Self::Interpretation => "interpretation[0].coding[0].code".into(),
            Self::ReferenceLow => "referenceRange[0].low.value".into(),
            Self::ReferenceHigh => "referenceRange[0].high.value".into(),
            Self::CodeDisplay => "code.coding.display".into(),
        }
    }
}

/// One clinical code: its measures (`spec.measures`) and, in the same order, where each is
/// read from.
#[derive(Debug)]
pub struct ClinicalSpec {
    pub spec: CodeSpec,
    pub elements: &'static [Element],
}

pub fn lookup(code: &str) -> Option<&'static ClinicalSpec> {
    LOINC.iter().find(|clinical| clinical.spec.code == code)
}

const HBA1C: &[UnitConversion] = &[unit("%", 1.0), affine("mmol/mol", 0.09148, 2.152)];
const GLUCOSE: &[UnitConversion] = &[unit("mg/dL", 1.0), unit("mmol/L", GLUCOSE_MG_DL_PER_MMOL_L)];
const HEART_RATE: &[UnitConversion] = &[unit("/min", 1.0), unit("{beats}/min", 1.0), unit("beats/min", 1.0), unit("beats/minute", 1.0), unit("bpm", 1.0)];
const BREATHS: &[UnitConversion] = &[unit("/min", 1.0), unit("{breaths}/min", 1.0), unit("breaths/min", 1.0), unit("breaths/minute", 1.0)];
const MMHG: &[UnitConversion] = &[unit("mm[Hg]", 1.0), unit("mmHg", 1.0)];
const KILOGRAMS: &[UnitConversion] =
    &[unit("kg", 1.0), unit("g", 1e-3), unit("[lb_av]", 0.45359237), unit("lb", 0.45359237), unit("lbs", 0.45359237), unit("[oz_av]", 0.028349523125)];
const CENTIMETRES: &[UnitConversion] = &[unit("cm", 1.0), unit("m", 100.0), unit("mm", 0.1), unit("[in_i]", 2.54), unit("in", 2.54), unit("[ft_i]", 30.48)];
const BMI: &[UnitConversion] = &[unit("kg/m2", 1.0), unit("kg/m^2", 1.0)];
const CELSIUS: &[UnitConversion] = &[unit("Cel", 1.0), unit("degC", 1.0), unit("C", 1.0), affine("[degF]", 5.0 / 9.0, -160.0 / 9.0), affine("degF", 5.0 / 9.0, -160.0 / 9.0)];
const PERCENT: &[UnitConversion] = &[unit("%", 1.0)];
/// Creatinine, 113.12 g/mol: 1 mg/dL is 88.42 µmol/L.
const CREATININE: &[UnitConversion] = &[unit("mg/dL", 1.0), unit("umol/L", 1.0 / 88.42), unit("µmol/L", 1.0 / 88.42)];
/// Cholesterol, 386.65 g/mol: 1 mmol/L is 38.67 mg/dL.
const CHOLESTEROL: &[UnitConversion] = &[unit("mg/dL", 1.0), unit("mmol/L", 38.67)];
/// Triglycerides (as triolein, 885.7 g/mol): 1 mmol/L is 88.57 mg/dL.
const TRIGLYCERIDES: &[UnitConversion] = &[unit("mg/dL", 1.0), unit("mmol/L", 88.57)];
const HOURS: &[UnitConversion] = &[unit("h", 1.0), unit("min", 1.0 / 60.0), unit("s", 1.0 / 3_600.0)];

// What every clinical code carries after its value.
const STATUS: Measure = category("status", &["status"]);
const CATEGORY: Measure = category("category", &["category"]);
const INTERPRETATION: Measure = category("interpretation", &["interpretation"]);
const REFERENCE_LOW: Measure = number("reference_low", &["reference_low"]);
const REFERENCE_HIGH: Measure = number("reference_high", &["reference_high"]);
const CODE_DISPLAY: Measure = text("code_display", &["code_display"]);

/// A code's measures and elements, each list followed by what every code carries.
macro_rules! clinical {
    ($code:literal, [$(($element:expr, $measure:expr)),+ $(,)?]) => {
        ClinicalSpec {
            spec: CodeSpec { code: $code, measures: &[$($measure,)+ STATUS, CATEGORY, INTERPRETATION, REFERENCE_LOW, REFERENCE_HIGH, CODE_DISPLAY] },
            elements: &[$($element,)+ Element::Status, Element::Category, Element::Interpretation, Element::ReferenceLow, Element::ReferenceHigh, Element::CodeDisplay],
        }
    };
}

/// A `valueQuantity` code: the canonical column, the value, unit and UCUM code as sent.
macro_rules! quantity {
    ($code:literal, $column:literal, $stem:literal, $units:expr) => {
        clinical!($code, [
            (Element::Value, required(stated($column, &[$stem], $units, $stem))),
            (Element::ValueUcum, category(concat!($stem, "_ucum"), &[concat!($stem, "_ucum")])),
        ])
    };
}

/// A blood-pressure panel: systolic and diastolic from its components.
macro_rules! blood_pressure {
    ($code:literal) => {
        clinical!($code, [
            (Element::Component("8480-6"), required(stated("systolic_mmhg", &["systolic"], MMHG, "systolic"))),
            (Element::Component("8462-4"), required(stated("diastolic_mmhg", &["diastolic"], MMHG, "diastolic"))),
        ])
    };
}

pub static LOINC: &[ClinicalSpec] = &[
    quantity!("4548-4", "hba1c_percent", "hba1c", HBA1C),
    quantity!("2345-7", "glucose_mg_dl", "glucose", GLUCOSE),
    quantity!("2339-0", "glucose_mg_dl", "glucose", GLUCOSE),
    quantity!("41653-7", "glucose_mg_dl", "glucose", GLUCOSE),
    quantity!("8867-4", "heart_rate_bpm", "heart_rate", HEART_RATE),
    blood_pressure!("85354-9"),
    blood_pressure!("55284-4"),
    quantity!("8480-6", "systolic_mmhg", "systolic", MMHG),
    quantity!("8462-4", "diastolic_mmhg", "diastolic", MMHG),
    quantity!("29463-7", "body_weight_kg", "body_weight", KILOGRAMS),
    quantity!("8302-2", "body_height_cm", "body_height", CENTIMETRES),
    quantity!("39156-5", "bmi_kg_m2", "bmi", BMI),
    quantity!("8310-5", "body_temperature_c", "body_temperature", CELSIUS),
    quantity!("9279-1", "respiratory_rate_per_min", "respiratory_rate", BREATHS),
    quantity!("59408-5", "oxygen_saturation_percent", "oxygen_saturation", PERCENT),
    quantity!("2708-6", "oxygen_saturation_percent", "oxygen_saturation", PERCENT),
    quantity!("2160-0", "creatinine_mg_dl", "creatinine", CREATININE),
    quantity!("2093-3", "cholesterol_mg_dl", "cholesterol", CHOLESTEROL),
    quantity!("2085-9", "hdl_mg_dl", "hdl", CHOLESTEROL),
    quantity!("13457-7", "ldl_mg_dl", "ldl", CHOLESTEROL),
    quantity!("18262-6", "ldl_mg_dl", "ldl", CHOLESTEROL),
    quantity!("2571-8", "triglycerides_mg_dl", "triglycerides", TRIGLYCERIDES),
    clinical!("72166-2", [
        (Element::Value, required(category("smoking_status", &["smoking_status"]))),
        (Element::ValueDisplay, text("smoking_status_display", &["smoking_status_display"])),
    ]),
    clinical!("5778-6", [(Element::Value, required(text("urine_color", &["urine_color"])))]),
    clinical!("49541-6", [(Element::Value, required(boolean("fasting", &["fasting"])))]),
    clinical!("72514-3", [(Element::Value, required(count("pain_score", &["pain_score"])))]),
    clinical!("93832-4", [(Element::Duration, required(stated("sleep_duration_h", &["sleep_duration"], HOURS, "sleep_duration")))]),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::terminology::is_loinc_code;

    #[test]
    fn every_code_is_loinc_once_with_an_element_per_measure_of_its_kind() {
        let mut codes = HashSet::new();
        for clinical in LOINC {
            let code = clinical.spec.code;
            assert!(is_loinc_code(code) && codes.insert(code), "{code}");
            assert_eq!(clinical.spec.measures.len(), clinical.elements.len(), "{code}");
            for (measure, element) in clinical.spec.measures.iter().zip(clinical.elements) {
                let fits = match element {
                    Element::Value => !matches!(measure.kind, MeasureKind::Amount | MeasureKind::Number),
                    Element::Component(_) | Element::Duration => matches!(measure.kind, MeasureKind::Quantity { .. }),
                    Element::ReferenceLow | Element::ReferenceHigh => matches!(measure.kind, MeasureKind::Number),
                    Element::ValueUcum | Element::Status | Element::Category | Element::Interpretation => matches!(measure.kind, MeasureKind::Category),
                    Element::ValueDisplay | Element::CodeDisplay => matches!(measure.kind, MeasureKind::Text),
                };
                assert!(fits, "{code}: {} read from {element:?}", measure.column);
            }
            let mut columns = HashSet::new();
            for column in clinical.spec.measures.iter().flat_map(|m| m.wide_columns()) {
                assert!(columns.insert(column.clone()), "{code}: {column} twice");
                assert!(!crate::selection::COMMON_COLUMNS.contains(&column.as_str()), "{code}: {column} is a common column");
            }
        }
    }
}
