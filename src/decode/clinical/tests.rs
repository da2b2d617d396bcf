//! Clinical Observations through the FHIR adapter, the decoder and the tables: every value
//! form, components, times, and what cannot be read, reported with the row kept.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use url::Url;

use crate::decode::PreparedPage;
use crate::source::AdapterKind;
use crate::table::{Layout, ObservationTableBuilder, ObservationTables};

const SOURCE: &str = "https://jupyterhealth.org/fhir/fhir-source/90001";

/// An imported Observation as the Exchange serves one: `code`, then `rest` (its elements).
fn observation(id: &str, code: &str, rest: &str) -> String {
    format!(
        r#"{{"resourceType":"Observation","id":"{id}","meta":{{"source":"{SOURCE}"}},
        "extension":[{{"url":"https://jupyterhealth.org/fhir/StructureDefinition/patient-id","valueInteger":40001}}],
        "subject":{{"reference":"Patient/eM5CWtq15N0WJeuCet5bJlQ3"}},"status":"final",
        "code":{{"coding":[{{"system":"urn:oid:1.2.840.114350","code":"LOCAL"}},{{"system":"http://loinc.org","code":"{code}","display":"Shown"}}],"text":"Text"}},
        {rest}}}"#
    )
}

fn fetched(layout: Layout, observations: &[String]) -> ObservationTables {
    let page = format!(r#"{{"resourceType":"Bundle","total":{},"entry":[{}]}}"#, observations.len(), observations.iter().map(|o| format!(r#"{{"resource":{o}}}"#)).collect::<Vec<_>>().join(","));
    let origin = Url::parse("https://jhe.example/").unwrap();
    let mut builder = ObservationTableBuilder::new(layout, &[]).with_origins(true);
    let (_, prepared) = PreparedPage::read(AdapterKind::Fhir, page.as_bytes(), &origin, &origin, Default::default()).unwrap();
    builder.append_page(prepared);
    let mut tables = builder.finish();
    tables.sort_newest_first();
    tables.keep_selected();
    tables
}

fn table<'a>(tables: &'a ObservationTables, code: &str) -> &'a RecordBatch {
    &tables.tables.iter().find(|(c, _)| c.as_deref() == Some(code)).unwrap_or_else(|| panic!("no table {code}: {:?}", tables.tables.iter().map(|t| &t.0).collect::<Vec<_>>())).1
}

fn float(batch: &RecordBatch, column: &str) -> Option<f64> {
    let array = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
    let array = array.as_primitive::<Float64Type>();
    (!array.is_null(0)).then(|| array.value(0))
}

fn text(batch: &RecordBatch, column: &str) -> Option<String> {
    let array = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
    if array.is_null(0) {
        return None;
    }
    Some(match array.data_type() {
        arrow_schema::DataType::Dictionary(..) => {
            let d = array.as_dictionary::<Int32Type>();
            d.values().as_string::<i32>().value(d.keys().value(0) as usize).to_string()
        }
        _ => array.as_string::<i32>().value(0).to_string(),
    })
}

fn reasons(tables: &ObservationTables) -> Vec<String> {
    let reason = tables.errors.column_by_name("reason").unwrap().as_string::<i32>();
    (0..reason.len()).map(|i| reason.value(i).to_string()).collect()
}

const HBA1C: &str = r#""category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
    "effectiveDateTime":"2025-03-04T08:15:00-05:00","issued":"2025-03-04T09:00:00Z",
    "valueQuantity":{"value":7.2,"unit":"%","system":"http://unitsofmeasure.org","code":"%"},
    "interpretation":[{"coding":[{"code":"H","display":"High"}]}],
    "referenceRange":[{"low":{"value":4.0,"unit":"%"},"high":{"value":5.6,"unit":"%"}}]"#;

#[test]
fn a_quantity_becomes_typed_columns_with_its_ucum_code_and_canonical_value() {
    let tables = fetched(Layout::Wide, &[observation("0b5d-uuid", "4548-4", HBA1C)]);
    let hba1c = table(&tables, "4548-4");
    assert_eq!(float(hba1c, "hba1c_percent"), Some(7.2));
    assert_eq!(float(hba1c, "hba1c_value"), Some(7.2));
    assert_eq!(text(hba1c, "hba1c_unit").as_deref(), Some("%"));
    assert_eq!(text(hba1c, "hba1c_ucum").as_deref(), Some("%"));
    assert_eq!(text(hba1c, "status").as_deref(), Some("final"));
    assert_eq!(text(hba1c, "category").as_deref(), Some("laboratory"));
    assert_eq!(text(hba1c, "interpretation").as_deref(), Some("H"));
    assert_eq!((float(hba1c, "reference_low"), float(hba1c, "reference_high")), (Some(4.0), Some(5.6)));
    assert_eq!(text(hba1c, "code_display").as_deref(), Some("Shown"), "the LOINC coding's display, not the EHR's own code");
    assert_eq!(text(hba1c, "resource_id").as_deref(), Some("0b5d-uuid"));
    assert_eq!(text(hba1c, "source").as_deref(), Some(SOURCE));
    assert!(hba1c.column_by_name("observation_id").unwrap().is_null(0), "a FHIR id is not the Exchange's");
    assert_eq!(hba1c.column_by_name("patient_id").unwrap().as_primitive::<Int64Type>().value(0), 40001);
    // effectiveDateTime, not issued; its offset kept
    let start = hba1c.column_by_name("effective_start").unwrap().as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(0);
    assert_eq!(start, 1_741_094_100_000_000);
    assert_eq!(hba1c.column_by_name("utc_offset").unwrap().as_primitive::<arrow_array::types::DurationSecondType>().value(0), -5 * 3600);
    assert_eq!(tables.errors.num_rows(), 0, "{:?}", reasons(&tables));
}

#[test]
fn units_convert_by_ucum_code_then_by_unit_text_and_an_unknown_one_is_kept_and_reported() {
    let weight = |id: &str, quantity: &str| observation(id, "29463-7", &format!(r#""effectiveDateTime":"2025-03-04T08:15:00Z","valueQuantity":{quantity}"#));
    let pounds = weight("a", r#"{"value":150,"unit":"lb","system":"http://unitsofmeasure.org","code":"[lb_av]"}"#);
    let bare = weight("b", r#"{"value":150,"unit":"lbs"}"#);
    let stone = weight("c", r#"{"value":11,"unit":"st"}"#);
    for (quantity, kg) in [(pounds, Some(68.0388555)), (bare, Some(68.0388555)), (stone, None)] {
        let tables = fetched(Layout::Wide, &[quantity]);
        let row = table(&tables, "29463-7");
        assert_eq!(float(row, "body_weight_kg").map(|v| (v * 1e7).round() / 1e7), kg);
        assert!(float(row, "body_weight_value").is_some(), "the value as written is kept");
        let reasons = reasons(&tables);
        assert_eq!(reasons.len(), usize::from(kg.is_none()), "{reasons:?}");
        if kg.is_none() {
            assert!(reasons[0].contains(r#"body_weight: unknown unit "st""#), "{reasons:?}");
        }
    }
    // HbA1c in IFCC mmol/mol, by the NGSP master equation
    let ifcc = observation("d", "4548-4", r#""effectiveDateTime":"2025-03-04T08:15:00Z","valueQuantity":{"value":53,"unit":"mmol/mol","system":"http://unitsofmeasure.org","code":"mmol/mol"}"#);
    let tables = fetched(Layout::Wide, &[ifcc]);
    let percent = float(table(&tables, "4548-4"), "hba1c_percent").unwrap();
    assert!((percent - (0.09148 * 53.0 + 2.152)).abs() < 1e-9);
}

#[test]
fn a_blood_pressure_panel_is_systolic_and_diastolic_from_its_components() {
    let component = |code: &str, value: i64| {
        format!(r#"{{"code":{{"coding":[{{"system":"http://loinc.org","code":"{code}"}}]}},"valueQuantity":{{"value":{value},"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}}"#)
    };
    let panel = observation("bp", "85354-9", &format!(r#""effectiveDateTime":"2025-03-04T08:15:00Z","component":[{},{}]"#, component("8462-4", 81), component("8480-6", 128)));
    let tables = fetched(Layout::Wide, &[panel]);
    let bp = table(&tables, "85354-9");
    assert_eq!((float(bp, "systolic_mmhg"), float(bp, "diastolic_mmhg")), (Some(128.0), Some(81.0)));
    assert_eq!(text(bp, "systolic_unit").as_deref(), Some("mmHg"));
    assert_eq!(tables.errors.num_rows(), 0, "{:?}", reasons(&tables));
    // one component missing: the row stays, the missing one is reported
    let half = observation("bp2", "85354-9", &format!(r#""effectiveDateTime":"2025-03-04T08:15:00Z","component":[{}]"#, component("8480-6", 128)));
    let tables = fetched(Layout::Wide, &[half]);
    assert_eq!(float(table(&tables, "85354-9"), "systolic_mmhg"), Some(128.0));
    assert_eq!(reasons(&tables), ["required diastolic is missing"]);
}

#[test]
fn every_other_value_form_has_its_typed_column() {
    let at = r#""effectiveDateTime":"2025-03-04T08:15:00Z""#;
    let smoking = observation("s", "72166-2", &format!(r#"{at},"valueCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"8517006","display":"Ex-smoker"}}],"text":"Former smoker"}}"#));
    let urine = observation("u", "5778-6", &format!(r#"{at},"valueString":"Straw""#));
    let fasting = observation("f", "49541-6", &format!(r#"{at},"valueBoolean":false"#));
    let pain = observation("p", "72514-3", &format!(r#"{at},"valueInteger":4"#));
    let sleep = observation("z", "93832-4", &format!(r#"{at},"valuePeriod":{{"start":"2025-03-03T23:00:00Z","end":"2025-03-04T06:30:00Z"}}"#));
    let tables = fetched(Layout::Wide, &[smoking, urine, fasting, pain, sleep]);
    let smoking = table(&tables, "72166-2");
    assert_eq!((text(smoking, "smoking_status").as_deref(), text(smoking, "smoking_status_display").as_deref()), (Some("8517006"), Some("Former smoker")));
    assert_eq!(text(table(&tables, "5778-6"), "urine_color").as_deref(), Some("Straw"));
    let fasting = table(&tables, "49541-6").column_by_name("fasting").unwrap().as_boolean().clone();
    assert!(!fasting.value(0) && fasting.is_valid(0));
    assert_eq!(table(&tables, "72514-3").column_by_name("pain_score").unwrap().as_primitive::<Int64Type>().value(0), 4);
    let sleep = table(&tables, "93832-4");
    assert_eq!(float(sleep, "sleep_duration_h"), Some(7.5));
    assert!(sleep.column_by_name("sleep_start").is_none(), "no time kept as text");
    assert_eq!(tables.errors.num_rows(), 0, "{:?}", reasons(&tables));
}

#[test]
fn the_effective_time_is_the_date_time_the_period_or_else_when_it_was_issued() {
    let glucose = r#""valueQuantity":{"value":101,"unit":"mg/dL"}"#;
    let period = observation("p", "2339-0", &format!(r#""effectivePeriod":{{"start":"2025-03-04T08:00:00Z","end":"2025-03-04T10:00:00Z"}},{glucose}"#));
    let issued = observation("i", "2345-7", &format!(r#""issued":"2025-03-04T09:45:00Z",{glucose}"#));
    let neither = observation("n", "2160-0", r#""valueQuantity":{"value":1.1,"unit":"mg/dL"}"#);
    let tables = fetched(Layout::Wide, &[period, issued, neither]);
    let micros = |batch: &RecordBatch, column: &str| {
        let array = batch.column_by_name(column).unwrap().as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        (!array.is_null(0)).then(|| array.value(0))
    };
    let period = table(&tables, "2339-0");
    assert_eq!((micros(period, "effective_start"), micros(period, "effective_end")), (Some(1_741_075_200_000_000), Some(1_741_082_400_000_000)));
    assert_eq!(micros(table(&tables, "2345-7"), "effective_start"), Some(1_741_081_500_000_000));
    assert_eq!(micros(table(&tables, "2160-0"), "effective_start"), None, "kept, with no time");
    assert_eq!(reasons(&tables), ["the observation has no effectiveDateTime, effectivePeriod or issued"]);
}

#[test]
fn an_unknown_code_is_kept_flattened_and_unreadable_elements_are_reported() {
    let unknown = observation("x", "11111-1", r#""effectiveDateTime":"2025-03-04T08:15:00Z","valueQuantity":{"value":3,"unit":"g"},"interpretation":[{"coding":[{"code":"N"}]}]"#);
    let broken = observation("y", "2345-7", r#""effectiveDateTime":"2025-03-04T08:15:00Z","valueQuantity":"high""#);
    let tables = fetched(Layout::Wide, &[unknown, broken]);
    let unknown = table(&tables, "11111-1");
    let names: Vec<String> = unknown.schema().fields().iter().map(|f| f.name().clone()).collect();
    let flattened = &names[names.iter().position(|n| n == "source").unwrap() + 1..];
    assert_eq!(flattened, ["interpretation[0]_coding[0]_code", "status", "valueQuantity_unit", "valueQuantity_value"], "the time is in the common columns");
    assert_eq!(text(unknown, "interpretation[0]_coding[0]_code").as_deref(), Some("N"));
    let broken_row = table(&tables, "2345-7");
    assert_eq!(float(broken_row, "glucose_mg_dl"), None);
    let reasons = reasons(&tables);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("valueQuantity is not of its FHIR type") && reasons[0].contains("required glucose is missing"), "{reasons:?}");
    let raw = tables.errors.column_by_name("raw").unwrap().as_string::<i32>().value(0).to_string();
    assert!(raw.contains(r#""id":"y""#) && raw.contains(r#""valueQuantity":"high""#), "{raw}");
    serde_json::from_str::<serde_json::Value>(&raw).expect("the errors table's text is JSON");
}

#[test]
fn a_record_repeated_by_its_fhir_id_is_skipped_and_an_imported_12_is_not_observation_12() {
    let one = observation("12", "2345-7", r#""issued":"2025-03-04T09:45:00Z","valueQuantity":{"value":101,"unit":"mg/dL"}"#);
    let tables = fetched(Layout::Long, &[one.clone(), one]);
    assert_eq!((tables.observations, tables.duplicates), (1, 1));
    let long = &tables.tables[0].1;
    assert!(long.column_by_name("observation_id").unwrap().is_null(0));
    let measures = long.column_by_name("measure").unwrap().as_dictionary::<Int32Type>();
    let names: Vec<&str> = (0..long.num_rows()).map(|i| measures.values().as_string::<i32>().value(measures.keys().value(i) as usize)).collect();
    assert_eq!(names, ["glucose", "status", "code_display"], "the long layout's rows: what was present");
}

#[test]
fn the_exchanges_own_records_have_no_origin_columns_unless_imported_ones_are_read() {
    let origin = Url::parse("https://jhe.example/").unwrap();
    let page = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/samples/fhir_observation_bundle_study30001_page1.json")).unwrap();
    for origins in [false, true] {
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]).with_origins(origins);
        builder.append_page(PreparedPage::read(AdapterKind::Fhir, &page, &origin, &origin, Default::default()).unwrap().1);
        let tables = builder.finish();
        let long = &tables.tables[0].1;
        assert_eq!(long.column_by_name("source").is_some(), origins);
        if origins {
            assert_eq!(long.column_by_name("source").unwrap().null_count(), 0, "the Exchange's own source");
        }
    }
}

#[test]
fn imported_rows_come_newest_effective_time_first_then_by_fhir_id() {
    let at = |id: &str, time: &str| observation(id, "2345-7", &format!(r#""effectiveDateTime":"{time}","valueQuantity":{{"value":101,"unit":"mg/dL"}}"#));
    let rows = [at("a", "2025-03-01T08:00:00Z"), at("c", "2025-03-03T08:00:00Z"), at("b", "2025-03-03T08:00:00Z"), at("d", "2025-03-02T08:00:00Z")];
    for layout in [Layout::Wide, Layout::Long] {
        let tables = fetched(layout, &rows);
        let ids = tables.tables[0].1.column_by_name("resource_id").unwrap().as_string::<i32>().iter().map(|id| id.unwrap().to_string()).collect::<Vec<_>>();
        let mut distinct = ids.clone();
        distinct.dedup();
        assert_eq!(distinct, ["c", "b", "d", "a"], "{layout:?}");
    }
}

mod fuzz {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::String),
            prop::sample::select(vec!["2025-03-04T08:15:00Z", "mg/dL", "%", "8480-6", "final", "http://unitsofmeasure.org"]).prop_map(|s| Value::String(s.into())),
        ];
        let keys = prop::sample::select(vec!["value", "unit", "code", "system", "coding", "text", "start", "end", "low", "high", "valueQuantity", "display"]);
        leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    const ELEMENTS: [&str; 14] = [
        "status", "category", "effectiveDateTime", "effectivePeriod", "issued", "valueQuantity", "valueCodeableConcept", "valueString",
        "valueBoolean", "valueInteger", "valuePeriod", "component", "interpretation", "referenceRange",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever an EHR puts in an Observation's elements, each record is a row, reported
        /// when it cannot be read whole, and its errors text is JSON: no panic, nothing lost.
        #[test]
        fn any_elements_give_a_row_each_and_never_panic(
            records in prop::collection::vec((prop::sample::select(vec!["4548-4", "85354-9", "72166-2", "93832-4", "49541-6", "11111-1"]), prop::collection::vec((0..ELEMENTS.len(), json_value()), 0..6)), 1..6),
            long in any::<bool>(),
        ) {
            let observations: Vec<String> = records.iter().enumerate().map(|(i, (code, elements))| {
                let mut resource: serde_json::Map<String, Value> = serde_json::from_str(&observation(&format!("r{i}"), code, r#""issued":"2025-03-04T09:45:00Z""#)).unwrap();
                for (slot, value) in elements {
                    resource.insert(ELEMENTS[*slot].to_string(), value.clone());
                }
                Value::Object(resource).to_string()
            }).collect();
            let tables = fetched(if long { Layout::Long } else { Layout::Wide }, &observations);
            prop_assert_eq!(tables.observations as usize, records.len());
            let raw = tables.errors.column_by_name("raw").unwrap().as_string::<i32>();
            for text in raw.iter().flatten() {
                prop_assert!(serde_json::from_str::<Value>(text).is_ok(), "{}", text);
            }
        }
    }
}

#[test]
fn an_omh_record_without_its_payload_is_reported_as_one_and_a_clinical_one_without_a_value_too() {
    // An OMH code with no system and no attachment: still the Exchange's own, not clinical.
    let bare = r#"{"resourceType":"Observation","id":"7","subject":{"reference":"Patient/40001"},
        "meta":{"lastUpdated":"2026-11-26T06:47:52Z"},"code":{"coding":[{"code":"omh:heart-rate:2.0"}]}}"#;
    let tables = fetched(Layout::Long, &[bare.to_string()]);
    assert_eq!(reasons(&tables), ["the observation carries no OMH payload"]);
    assert!(tables.tables[0].1.column_by_name("observation_id").unwrap().is_valid(0), "its integer id is kept");
    let empty = observation("x", "11111-1", r#""issued":"2025-03-04T09:45:00Z""#);
    let tables = fetched(Layout::Wide, &[empty]);
    assert_eq!(reasons(&tables), ["the observation has no value[x] or component"]);
    assert_eq!(tables.observations, 1);
}
