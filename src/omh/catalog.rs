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
    /// `{value, unit}` converted to one canonical unit: `canonical = value * factor + offset`.
    /// A unit missing from the table is reported, never guessed.
    Quantity { units: &'static [UnitConversion] },
    /// A string from a fixed vocabulary, dictionary-encoded.
    Category,
}

#[derive(Debug)]
pub struct UnitConversion {
    pub unit: &'static str,
    pub factor: f64,
    pub offset: f64,
}

const fn unit(unit: &'static str, factor: f64) -> UnitConversion {
    UnitConversion {
        unit,
        factor,
        offset: 0.0,
    }
}

#[derive(Debug)]
pub struct Measure {
    /// The column name, in the guide's style (`glucose_mg_dl`).
    pub column: &'static str,
    /// The key in the OMH body.
    pub key: &'static str,
    pub kind: MeasureKind,
    /// A required measure that is absent makes the record a decode error.
    pub required: bool,
}

#[derive(Debug)]
pub struct CodeSpec {
    pub code: &'static str,
    pub measures: &'static [Measure],
}

/// mg/dL per mmol/L of glucose (molar mass 180.156 g/mol).
const GLUCOSE_MG_DL_PER_MMOL_L: f64 = 18.0156;

pub static CATALOG: &[CodeSpec] = &[
    CodeSpec {
        code: "omh:blood-glucose:4.0",
        measures: &[
            Measure {
                column: "glucose_mg_dl",
                key: "blood_glucose",
                kind: MeasureKind::Quantity {
                    units: &[unit("mg/dL", 1.0), unit("mmol/L", GLUCOSE_MG_DL_PER_MMOL_L)],
                },
                required: true,
            },
            Measure {
                column: "meal_context",
                key: "temporal_relationship_to_meal",
                kind: MeasureKind::Category,
                required: false,
            },
        ],
    },
    CodeSpec {
        code: "omh:blood-pressure:4.0",
        measures: &[
            Measure {
                column: "systolic_mmhg",
                key: "systolic_blood_pressure",
                kind: MeasureKind::Quantity {
                    units: &[unit("mmHg", 1.0)],
                },
                required: true,
            },
            Measure {
                column: "diastolic_mmhg",
                key: "diastolic_blood_pressure",
                kind: MeasureKind::Quantity {
                    units: &[unit("mmHg", 1.0)],
                },
                required: true,
            },
        ],
    },
    CodeSpec {
        code: "omh:heart-rate:2.0",
        measures: &[Measure {
            column: "heart_rate_bpm",
            key: "heart_rate",
            kind: MeasureKind::Quantity {
                units: &[unit("beats/min", 1.0)],
            },
            required: true,
        }],
    },
];

pub fn lookup(code: &str) -> Option<&'static CodeSpec> {
    CATALOG.iter().find(|spec| spec.code == code)
}

/// A measure read from a body.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureValue<'a> {
    Number(f64),
    Text(&'a str),
    Missing,
}

impl Measure {
    /// Read this measure from an OMH body; `Err` explains a value that is present but unusable.
    pub fn read<'a>(&self, body: &'a serde_json::Map<String, Value>) -> Result<MeasureValue<'a>, String> {
        let Some(raw) = body.get(self.key).filter(|v| !v.is_null()) else {
            return if self.required {
                Err(format!("required {} is missing", self.key))
            } else {
                Ok(MeasureValue::Missing)
            };
        };
        match &self.kind {
            MeasureKind::Category => raw
                .as_str()
                .map(MeasureValue::Text)
                .ok_or_else(|| format!("{} is not a string: {raw}", self.key)),
            MeasureKind::Quantity { units } => {
                let value = raw
                    .get("value")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("{} has no numeric value: {raw}", self.key))?;
                let unit = raw
                    .get("unit")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{} has no unit: {raw}", self.key))?;
                let conversion = units.iter().find(|u| u.unit == unit).ok_or_else(|| {
                    format!("{} has unknown unit {unit:?} (expected one of {})", self.key, known_units(units))
                })?;
                Ok(MeasureValue::Number(value * conversion.factor + conversion.offset))
            }
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

    #[test]
    fn glucose_in_either_unit_becomes_mg_dl() {
        let spec = lookup("omh:blood-glucose:4.0").unwrap();
        let glucose = &spec.measures[0];
        let mg = body(json!({"blood_glucose": {"value": 105, "unit": "mg/dL"}}));
        assert_eq!(glucose.read(&mg).unwrap(), MeasureValue::Number(105.0));
        let mmol = body(json!({"blood_glucose": {"value": 5.5, "unit": "mmol/L"}}));
        let MeasureValue::Number(v) = glucose.read(&mmol).unwrap() else { panic!() };
        assert!((v - 99.0858).abs() < 1e-9);
        let odd = body(json!({"blood_glucose": {"value": 5.5, "unit": "g/L"}}));
        assert!(glucose.read(&odd).unwrap_err().contains("unknown unit \"g/L\""));
        assert!(glucose.read(&body(json!({}))).unwrap_err().contains("required"));
    }

    #[test]
    fn optional_categories() {
        let meal = &lookup("omh:blood-glucose:4.0").unwrap().measures[1];
        assert_eq!(meal.read(&body(json!({}))).unwrap(), MeasureValue::Missing);
        assert_eq!(
            meal.read(&body(json!({"temporal_relationship_to_meal": "fasting"}))).unwrap(),
            MeasureValue::Text("fasting")
        );
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
