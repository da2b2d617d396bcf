//! The flat layout: the table `jupyterhealth-client` builds with `tidy_observation` and
//! `DataFrame.from_records`, made without a Python dict per observation.
//!
//! In: per observation, its [`FlatRow`] (the FHIR resource as received and its keys,
//! flattened where pages are decoded). Out: one table holding the common columns (so the
//! fetch can filter and sort it like the others), `resource` (the resource's JSON text as
//! received), `shape` and `flat`, a struct of the flattened columns, typed by
//! [`infer::flat_array`]: `*date_time` keys and `meta_lastUpdated` become UTC timestamps,
//! the `_local` twins wall time without a timezone, numbers int64 or float64 as the JSON
//! wrote them; a column of only JSON nulls has the null type.
//!
//! `from_records` orders columns by first appearance, row by row, so the order depends on
//! which rows are kept and in what order, which is only known after filtering, sorting and
//! any limit. Each row therefore records its shape (the columns it has, in its own order);
//! the shapes are listed, as JSON arrays of field indices, in the `flat` field's
//! `jhe.shapes` metadata, and the order is read off the first row of each shape.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, UInt32Array};
use arrow_schema::{DataType, Field, Fields};

use super::columns::{CommonColumns, Record, Shape, UNKNOWN_ROWS};
use super::Layout;
use super::infer::{self, FlatKind};
use crate::decode::flat::{Cell, FlatRow};
use crate::decode::flatten::Leaf;

/// The metadata key of the `flat` field that lists the rows' shapes.
pub const SHAPES_METADATA: &str = "jhe.shapes";

struct FlatColumn {
    name: String,
    kind: FlatKind,
    /// `(row, value)` for the rows that have the key, in row order.
    cells: Vec<(u32, Option<Leaf>)>,
}

/// The flat layout's rows, column by column.
pub struct FlatTable {
    common: CommonColumns,
    resources: StringBuilder,
    columns: Vec<FlatColumn>,
    by_name: HashMap<String, u32>,
    /// Each distinct shape (a row's columns in its own order) and its index.
    shapes: HashMap<Vec<u32>, u32>,
    shape_list: Vec<Vec<u32>>,
    row_shapes: Vec<u32>,
    /// The current row's columns, reused.
    keys: Vec<u32>,
}

impl FlatTable {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::with_capacity(UNKNOWN_ROWS, &Shape::all(Layout::Flat)),
            resources: StringBuilder::new(),
            columns: Vec::new(),
            by_name: HashMap::new(),
            shapes: HashMap::new(),
            shape_list: Vec::new(),
            row_shapes: Vec::new(),
            keys: Vec::new(),
        }
    }

    fn rows(&self) -> u32 {
        self.row_shapes.len() as u32
    }

    fn column(&mut self, name: &str, local: bool) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index as usize;
        }
        let kind = if local {
            FlatKind::Local
        } else if name.ends_with("date_time") || name == "meta_lastUpdated" {
            FlatKind::Utc
        } else {
            FlatKind::Plain
        };
        let index = self.columns.len();
        self.by_name.insert(name.to_string(), index as u32);
        self.columns.push(FlatColumn { name: name.to_string(), kind, cells: Vec::new() });
        index
    }

    pub(super) fn push(&mut self, record: &Record<'_>, row: FlatRow) {
        self.common.append(record);
        self.resources.append_value(&row.resource);
        let at = self.rows();
        self.keys.clear();
        let FlatRow { names, cells, .. } = row;
        for Cell { name: (start, end), leaf, local } in cells {
            let index = self.column(&names[start as usize..end as usize], local);
            let cells = &mut self.columns[index].cells;
            match cells.last_mut() {
                // The same key again in this row: the value is replaced, the place kept.
                Some((last, value)) if *last == at => *value = leaf,
                _ => {
                    cells.push((at, leaf));
                    self.keys.push(index as u32);
                }
            }
        }
        let shape = match self.shapes.get(&self.keys) {
            Some(&shape) => shape,
            None => {
                let shape = self.shape_list.len() as u32;
                self.shape_list.push(self.keys.clone());
                self.shapes.insert(self.keys.clone(), shape);
                shape
            }
        };
        self.row_shapes.push(shape);
    }

    pub fn finish(mut self) -> RecordBatch {
        let rows = self.row_shapes.len();
        let mut out = self.common.finish();
        out.push_field(Field::new("resource", DataType::Utf8, false), Arc::new(self.resources.finish()));
        let shapes: ArrayRef = Arc::new(UInt32Array::from(std::mem::take(&mut self.row_shapes)));
        out.push_field(Field::new("shape", DataType::UInt32, false), shapes);
        let (flat_fields, flat_columns): (Vec<Field>, Vec<ArrayRef>) =
            self.columns.iter().map(|column| finish_column(column, rows)).unzip();
        let flat = if flat_fields.is_empty() {
            StructArray::new_empty_fields(rows, None)
        } else {
            StructArray::new(Fields::from(flat_fields), flat_columns, None)
        };
        let shapes = serde_json::to_string(&self.shape_list).expect("lists of integers serialize");
        let field = Field::new("flat", flat.data_type().clone(), false)
            .with_metadata(HashMap::from([(SHAPES_METADATA.to_string(), shapes)]));
        out.push_field(field, Arc::new(flat));
        out.into_batch()
    }
}

impl Default for FlatTable {
    fn default() -> Self {
        Self::new()
    }
}

fn finish_column(column: &FlatColumn, rows: usize) -> (Field, ArrayRef) {
    let mut cells: Vec<Option<&Leaf>> = vec![None; rows];
    for (row, leaf) in &column.cells {
        cells[*row as usize] = leaf.as_ref();
    }
    let (data_type, array) = infer::flat_array(&cells, column.kind);
    (Field::new(column.name.clone(), data_type, true), array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::flat::tests::{DOCUMENT, RESOURCE, row};
    use crate::table::utc_timestamp_type;
    use arrow_array::cast::AsArray;
    use arrow_schema::TimeUnit;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};

    fn record() -> Record<'static> {
        Record::default()
    }

    fn struct_of(batch: &RecordBatch) -> &StructArray {
        batch.column_by_name("flat").unwrap().as_struct()
    }

    #[test]
    fn columns_are_typed_and_shaped() {
        let mut table = FlatTable::new();
        table.push(&record(), row(RESOURCE, DOCUMENT));
        let other = DOCUMENT.replace(r#""value":61"#, r#""value":61.5"#).replace(r#","tags":["a",null]"#, "");
        let resource = RESOURCE.replace(r#""id":"7","#, r#""id":"8","n":3,"id":"9","#);
        table.push(&record(), row(&resource, &other));
        let batch = table.finish();
        let flat = struct_of(&batch);
        let column = |name: &str| flat.column_by_name(name).unwrap();
        // 61 and 61.5: float64; integers only: int64
        assert_eq!(column("heart_rate_value").as_primitive::<Float64Type>().values().to_vec(), [61.0, 61.5]);
        assert_eq!(column("n").as_primitive::<Int64Type>().value(1), 3);
        assert!(column("n").is_null(0));
        // the same key twice: the last value, in the first place
        assert_eq!(column("id").as_string::<i32>().value(1), "9");
        assert_eq!(column("meta_lastUpdated").data_type(), &utc_timestamp_type());
        assert!(flat.column_by_name("meta_lastUpdated_local").is_none());
        let utc = column("effective_time_frame_date_time").as_primitive::<TimestampMicrosecondType>().value(0);
        let local = column("effective_time_frame_date_time_local");
        assert_eq!(local.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(local.as_primitive::<TimestampMicrosecondType>().value(0), utc + 19_800_000_000);
        assert_eq!(column("tags_1").data_type(), &DataType::Null);
        assert_eq!(column("tags_0").as_string::<i32>().value(0), "a");
        // shapes: each row's columns in its own order
        let shapes = batch.schema().field_with_name("flat").unwrap().metadata()[SHAPES_METADATA].clone();
        let shapes: Vec<Vec<u32>> = serde_json::from_str(&shapes).unwrap();
        let index = |name: &str| flat.fields().iter().position(|f| f.name() == name).unwrap() as u32;
        assert_eq!(shapes.len(), 2);
        assert_eq!(&shapes[1][2..6], [index("meta_lastUpdated"), index("meta_source"), index("id"), index("n")]);
        assert!(!shapes[1].contains(&index("tags_0")));
        let row_shapes = batch.column_by_name("shape").unwrap().as_primitive::<arrow_array::types::UInt32Type>();
        assert_eq!(row_shapes.values().to_vec(), [0, 1]);
        assert_eq!(batch.column_by_name("resource").unwrap().as_string::<i32>().value(1), resource);
        assert!(batch.column_by_name("observation_id").is_some(), "the common columns, to filter and sort by");
    }

    #[test]
    fn mixed_columns_are_text_and_an_empty_table_has_no_columns() {
        let mut table = FlatTable::new();
        table.push(&record(), row(r#"{"x":4}"#, "{}"));
        table.push(&record(), row(r#"{"x":"high"}"#, "{}"));
        table.push(&record(), row(r#"{"x":true}"#, "{}"));
        let batch = table.finish();
        let x = struct_of(&batch).column_by_name("x").unwrap().as_string::<i32>();
        assert_eq!((x.value(0), x.value(1), x.value(2)), ("4", "high", "true"));
        let empty = FlatTable::new().finish();
        assert_eq!(empty.num_rows(), 0);
        assert_eq!(struct_of(&empty).num_columns(), 0);
    }

    #[test]
    fn the_fhir_reader_hands_resources_only_to_the_flat_layout() {
        use crate::decode::PreparedPage;
        use crate::source::AdapterKind;
        use crate::table::{Layout, ObservationTableBuilder};
        let bytes = include_bytes!("../../tests/reference/samples/fhir_observation_bundle_study30001_page1.json");
        let page_url = url::Url::parse("http://localhost:8000/FHIR/R5/Observation?_count=2").unwrap();
        let origin = url::Url::parse("https://jhe.example/").unwrap();
        assert!(!ObservationTableBuilder::new(Layout::Long, &[]).page_options().resources);
        // pages are prepared apart from the builder, and carry the resources too
        let mut builder = ObservationTableBuilder::new(Layout::Flat, &[]);
        assert!(builder.page_options().resources);
        let (_, page) = PreparedPage::read(AdapterKind::Fhir, bytes, &page_url, &origin, builder.page_options()).unwrap();
        assert!(page.observations.iter().all(|observation| observation.flat.is_some()));
        builder.append_page(page);
        // without the flat layout, no resource is carried
        let (_, plain) = PreparedPage::read(AdapterKind::Fhir, bytes, &page_url, &origin, Default::default()).unwrap();
        assert!(plain.observations.iter().all(|observation| observation.flat.is_none()));
        let mut tables = builder.finish();
        tables.sort_newest_first();
        assert_eq!(tables.errors.num_rows(), 0, "{:?}", tables.errors);
        let batch = &tables.tables[0].1;
        let bundle: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let resources = batch.column_by_name("resource").unwrap().as_string::<i32>();
        for (i, entry) in bundle["entry"].as_array().unwrap().iter().enumerate() {
            assert_eq!(serde_json::from_str::<serde_json::Value>(resources.value(i)).unwrap(), entry["resource"]);
        }
        let flat = struct_of(batch);
        let names: Vec<&str> = flat.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(&names[..4], ["resource_type", "code", "meta_lastUpdated", "meta_source"]);
        for name in ["subject_identifier_value", "code_coding_0_display", "schema_id_namespace", "systolic_blood_pressure_value", "source_creation_date_time_local"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("valueAttachment")));
        // the header's times are the official frame's own columns; no `created` beside them
        assert!(batch.column_by_name("created").is_none());
        // the two share a uuid: flagged, as in every layout
        assert_eq!(batch.column_by_name("duplicate_uuid").unwrap().as_boolean().true_count(), 2);
    }

    #[test]
    fn damaged_payloads_keep_their_resource_keys_and_are_reported() {
        use crate::source::{ObservationInput, Payload};
        use crate::table::test_support::Append as _;
        use crate::table::{Layout, ObservationTableBuilder};
        let mut builder = ObservationTableBuilder::new(Layout::Flat, &[]);
        let resource = r#"{"id":"1","valueAttachment":{"data":"%%%"}}"#;
        builder.append(&ObservationInput {
            patient_id: Some(1),
            resource: Some(resource),
            ..ObservationInput::new("1", Some("omh:heart-rate:2.0"), Payload::Base64(b"%%%"))
        });
        let tables = builder.finish();
        assert_eq!(tables.errors.num_rows(), 1);
        let flat = struct_of(&tables.tables[0].1);
        let names: Vec<&str> = flat.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["resource_type", "code", "id"]);
    }
}
