//! Resources of one FHIR type as one table (`fetch_resources`): `id`, `patient_id` (the
//! Exchange's patient), `source` (`meta.source`), `last_updated`, then a column per key
//! path of the resources, named by it (`code.coding[0].code`, `subject.reference_id`) and
//! typed by what it holds (numbers float64, booleans, else text), at most
//! [`keypaths::MAX_KEY_COLUMNS`] of them, the rest in one JSON column, so nothing is lost.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::RecordBatch;
use arrow_schema::DataType;

use super::columns::{Columns, utc_timestamp_type};
use super::keypaths::KeyPathColumns;
use crate::decode::resource::FlatResource;

/// The resources' table, in their order.
pub fn resource_table(resources: Vec<FlatResource>) -> RecordBatch {
    let rows = resources.len();
    let mut ids = StringBuilder::with_capacity(rows, rows * 36);
    let mut patients = Int64Builder::with_capacity(rows);
    let mut sources = StringBuilder::with_capacity(rows, rows * 48);
    let mut updated = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    let mut leaves = KeyPathColumns::default();
    for resource in resources {
        ids.append_option(resource.id);
        patients.append_option(resource.patient_id);
        sources.append_option(resource.source);
        updated.append_option(resource.last_updated);
        leaves.push_row(resource.leaves);
    }
    let mut out = Columns::default();
    out.push("id", DataType::Utf8, Arc::new(ids.finish()));
    out.push("patient_id", DataType::Int64, Arc::new(patients.finish()));
    out.push("source", DataType::Utf8, Arc::new(sources.finish()));
    out.push("last_updated", utc_timestamp_type(), Arc::new(updated.finish()));
    leaves.finish_with(&mut out, str::to_string);
    out.into_batch()
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;

    use super::*;

    #[test]
    fn each_resource_is_a_row_and_each_key_path_a_column() {
        let texts = [
            r#"{"resourceType":"Condition","id":"a","code":{"coding":[{"code":"1"}]},"subject":{"reference":"Patient/40001"},"meta":{"lastUpdated":"2026-01-01T00:00:00Z"}}"#,
            r#"{"resourceType":"Condition","id":"b","code":{"coding":[{"code":"2"},{"code":"3"}]},"stage":{"value":2.5},
               "extension":[{"url":"https://jupyterhealth.org/fhir/StructureDefinition/patient-id","valueInteger":40002}],
               "meta":{"source":"https://jupyterhealth.org/fhir/fhir-source/9"}}"#,
        ];
        let resources = texts.iter().map(|t| FlatResource::read(t).unwrap()).collect();
        let table = resource_table(resources);
        let names: Vec<&str> = table.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(&names[..4], ["id", "patient_id", "source", "last_updated"]);
        for path in ["code.coding[0].code", "code.coding[1].code", "subject.reference_id", "stage.value", "resourceType"] {
            assert!(names.contains(&path), "{path} in {names:?}");
        }
        assert_eq!(table.num_rows(), 2);
        let patients = table.column_by_name("patient_id").unwrap().as_primitive::<Int64Type>();
        assert_eq!((patients.value(0), patients.value(1)), (40001, 40002));
        let second = table.column_by_name("code.coding[1].code").unwrap().as_string::<i32>();
        assert!(second.is_null(0) && second.value(1) == "3");
        let stage = table.column_by_name("stage.value").unwrap().as_primitive::<Float64Type>();
        assert_eq!(stage.value(1), 2.5);
        assert!(table.column_by_name("last_updated").unwrap().is_null(1));
    }

    #[test]
    fn no_resources_make_the_table_of_the_common_columns() {
        let table = resource_table(Vec::new());
        assert_eq!((table.num_rows(), table.num_columns()), (0, 4));
    }
}
