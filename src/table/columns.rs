//! What every layout shares: the Arrow types of the common columns, the record an
//! observation is appended as, its common columns, and the list of finished columns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, DurationSecondBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::decode::PreparedObservation;
use crate::query::Layout;
use crate::selection::{ColumnSelection, DUPLICATE_UUID, TIMESTAMP};

pub fn utc_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(super) fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub(super) type Dictionary = StringDictionaryBuilder<Int32Type>;

pub(super) fn timestamp_builder(rows: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC")
}

/// A dictionary builder for `rows` keys; its values (units, categories, names) are few.
pub(super) fn dictionary(rows: usize) -> Dictionary {
    Dictionary::with_capacity(rows, 16, 256)
}

/// The rows a table reserves when it cannot know how many it will hold (Arrow's default).
pub(super) const UNKNOWN_ROWS: usize = 1024;

/// A table's columns as they are finished, in order; every one nullable. Names are
/// assigned here, so no two columns share one.
pub(super) struct Columns {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
    names: HashSet<String>,
}

impl Default for Columns {
    fn default() -> Self {
        // Added once the table is finished: kept free for it.
        let names = HashSet::from([super::uuids::DUPLICATE_UUID.to_string()]);
        Self { fields: Vec::new(), arrays: Vec::new(), names }
    }
}

impl Columns {
    /// One of jhe's own columns (a common or catalogued column): its names are fixed and
    /// pushed before any taken from the data.
    pub(super) fn push(&mut self, name: impl Into<String>, data_type: DataType, array: ArrayRef) {
        self.push_field(Field::new(name, data_type, true), array);
    }

    /// A column whose field is not the usual nullable one.
    pub(super) fn push_field(&mut self, field: Field, array: ArrayRef) {
        let fresh = self.names.insert(field.name().clone());
        debug_assert!(fresh, "jhe's own column {} is pushed once", field.name());
        self.fields.push(field);
        self.arrays.push(array);
    }

    /// A column named after the data (a body's key path), under `name`, or when that is
    /// taken (by jhe's own column or an earlier one), `body_{name}`, then `body_{name}_2`,
    /// `body_{name}_3`, ...: the first that is free.
    pub(super) fn push_named_by_data(&mut self, name: String, data_type: DataType, array: ArrayRef) {
        // The origin columns are jhe's even in a table that does not have them.
        let name = if self.names.contains(&name) || ORIGIN_COLUMNS.contains(&name.as_str()) {
            let prefixed = format!("body_{name}");
            (1..)
                .map(|n| if n == 1 { prefixed.clone() } else { format!("{prefixed}_{n}") })
                .find(|candidate| !self.names.contains(candidate))
                .expect("an unbounded range finds a free name")
        } else {
            name
        };
        self.push(name, data_type, array);
    }

    pub(super) fn into_batch(self) -> RecordBatch {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays).expect("columns match their schema")
    }
}

/// What every layout knows about an observation.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Record<'a> {
    pub id: Option<i64>,
    pub patient_id: Option<i64>,
    pub code: Option<&'a str>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub offset: Option<i32>,
    pub last_updated: Option<i64>,
    pub created: Option<i64>,
    pub uuid: Option<&'a str>,
    pub modality: Option<&'a str>,
    pub source_name: Option<&'a str>,
    pub patient_name: Option<&'a str>,
    pub data_source: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub source: Option<&'a str>,
}

impl<'a> Record<'a> {
    pub(super) fn of(observation: &'a PreparedObservation) -> Self {
        let (frame, header) = (observation.frame, &observation.header);
        Self {
            id: observation.id,
            patient_id: observation.patient_id,
            code: observation.code.as_deref(),
            start: frame.map(|frame| frame.start),
            end: frame.and_then(|frame| frame.end),
            offset: frame.and_then(|frame| frame.offset_seconds),
            last_updated: observation.last_updated,
            created: observation.created,
            uuid: header.uuid.as_deref(),
            modality: header.modality.as_deref(),
            source_name: header.acquisition_provenance.as_ref().and_then(|p| p.source_name.as_deref()),
            patient_name: observation.patient_name.as_deref(),
            data_source: observation.data_source.as_deref(),
            resource_id: observation.resource_id.as_deref(),
            source: observation.source.as_deref(),
        }
    }
}

/// What a table is built as: its layout, the columns the user selected (none: every
/// one), and whether records' origins are told apart. A column not selected is not built,
/// but for those the builder itself needs, built and dropped once used ([`Shape::builds`]).
#[derive(Debug, Clone)]
pub struct Shape {
    pub layout: Layout,
    pub columns: Option<ColumnSelection>,
    /// A fetch that reads imported records: each row's `source` and FHIR `resource_id`.
    pub origins: bool,
}

impl Shape {
    /// Every column of `layout`.
    pub fn all(layout: Layout) -> Self {
        Self { layout, columns: None, origins: false }
    }

    /// Whether the user gets the column `name`.
    pub(super) fn keeps(&self, name: &str) -> bool {
        self.columns.as_ref().is_none_or(|columns| columns.keeps(name))
    }

    /// Whether a table builds the column `name`: the user gets it, or the builder needs it
    /// (ids and `last_updated` to sort, and with origins `resource_id` and `effective_start`;
    /// `effective_start` for `timestamp`, uuids for `duplicate_uuid`);
    /// [`super::ObservationTables::keep_selected`] drops the latter.
    pub(super) fn builds(&self, name: &str) -> bool {
        if ORIGIN_COLUMNS.contains(&name) && !self.origins {
            return false;
        }
        let Some(columns) = &self.columns else { return true };
        columns.keeps(name)
            || match name {
                "observation_id" | "last_updated" => true,
                // To sort imported rows (only built with the origins, as checked above).
                RESOURCE_ID => true,
                "effective_start" => self.origins || columns.keeps(TIMESTAMP),
                "uuid" => columns.keeps(DUPLICATE_UUID),
                _ => false,
            }
    }
}

/// A builder's array pushed under `name`, if the table builds that column.
pub(super) fn push_built<B: ArrayBuilder>(out: &mut Columns, name: &str, data_type: DataType, builder: &mut Option<B>) {
    if let Some(builder) = builder {
        out.push(name, data_type, builder.finish());
    }
}

/// The columns every layout has; those a table does not build are `None`, so they cost a
/// branch per row and no memory.
pub(super) struct CommonColumns {
    rows: usize,
    observation_id: Option<Int64Builder>,
    patient_id: Option<Int64Builder>,
    code: Option<Dictionary>,
    effective_start: Option<TimestampMicrosecondBuilder>,
    effective_end: Option<TimestampMicrosecondBuilder>,
    utc_offset: Option<DurationSecondBuilder>,
    last_updated: Option<TimestampMicrosecondBuilder>,
    created: Option<TimestampMicrosecondBuilder>,
    uuid: Option<StringBuilder>,
    modality: Option<Dictionary>,
    source_name: Option<Dictionary>,
    patient_name: Option<StringBuilder>,
    data_source: Option<Dictionary>,
    resource_id: Option<StringBuilder>,
    source: Option<Dictionary>,
}

impl CommonColumns {
    /// Builders sized for `rows`, so a page's chunk allocates once what it holds: the ones
    /// `shape` builds.
    pub(super) fn with_capacity(rows: usize, shape: &Shape) -> Self {
        let build = |name: &str| shape.builds(name);
        Self {
            rows: 0,
            observation_id: build("observation_id").then(|| Int64Builder::with_capacity(rows)),
            patient_id: build("patient_id").then(|| Int64Builder::with_capacity(rows)),
            code: build("code").then(|| dictionary(rows)),
            effective_start: build("effective_start").then(|| timestamp_builder(rows)),
            effective_end: build("effective_end").then(|| timestamp_builder(rows)),
            utc_offset: build("utc_offset").then(|| DurationSecondBuilder::with_capacity(rows)),
            last_updated: build("last_updated").then(|| timestamp_builder(rows)),
            created: build(CREATED).then(|| timestamp_builder(rows)),
            // A canonical uuid is 36 bytes.
            uuid: build("uuid").then(|| StringBuilder::with_capacity(rows, rows * 36)),
            modality: build("modality").then(|| dictionary(rows)),
            source_name: build("source_name").then(|| dictionary(rows)),
            patient_name: build(PATIENT_NAME).then(|| StringBuilder::with_capacity(rows, 0)),
            data_source: build(DATA_SOURCE).then(|| dictionary(rows)),
            resource_id: build(RESOURCE_ID).then(|| StringBuilder::with_capacity(rows, rows * 36)),
            source: build(SOURCE).then(|| dictionary(rows)),
        }
    }

    /// Rows appended so far.
    pub(super) fn len(&self) -> usize {
        self.rows
    }

    pub(super) fn append(&mut self, r: &Record<'_>) {
        self.rows += 1;
        if let Some(b) = &mut self.observation_id {
            b.append_option(r.id);
        }
        if let Some(b) = &mut self.patient_id {
            b.append_option(r.patient_id);
        }
        if let Some(b) = &mut self.code {
            b.append_option(r.code);
        }
        if let Some(b) = &mut self.effective_start {
            b.append_option(r.start);
        }
        if let Some(b) = &mut self.effective_end {
            b.append_option(r.end);
        }
        if let Some(b) = &mut self.utc_offset {
            b.append_option(r.offset.map(i64::from));
        }
        if let Some(b) = &mut self.last_updated {
            b.append_option(r.last_updated);
        }
        if let Some(b) = &mut self.created {
            b.append_option(r.created);
        }
        if let Some(b) = &mut self.uuid {
            b.append_option(r.uuid);
        }
        if let Some(b) = &mut self.modality {
            b.append_option(r.modality);
        }
        if let Some(b) = &mut self.source_name {
            b.append_option(r.source_name);
        }
        if let Some(b) = &mut self.patient_name {
            b.append_option(r.patient_name);
        }
        if let Some(b) = &mut self.data_source {
            b.append_option(r.data_source);
        }
        if let Some(b) = &mut self.resource_id {
            b.append_option(r.resource_id);
        }
        if let Some(b) = &mut self.source {
            b.append_option(r.source);
        }
    }

    /// The columns as a table's chunk holds them (a page's rows, or the rows a builder
    /// appended itself): every common column built, so chunks of one table share a schema,
    /// and no `timestamp`, which [`present`] adds once the chunks are joined. `timestamp` is
    /// kept free for it in the wide layout.
    pub(super) fn finish_chunk(&mut self, wide: bool) -> Columns {
        let mut out = Columns::default();
        if wide {
            out.names.insert(TIMESTAMP.to_string());
        }
        push_built(&mut out, "observation_id", DataType::Int64, &mut self.observation_id);
        push_built(&mut out, "patient_id", DataType::Int64, &mut self.patient_id);
        push_built(&mut out, "code", dictionary_type(), &mut self.code);
        push_built(&mut out, "effective_start", utc_timestamp_type(), &mut self.effective_start);
        push_built(&mut out, "effective_end", utc_timestamp_type(), &mut self.effective_end);
        push_built(&mut out, "utc_offset", DataType::Duration(TimeUnit::Second), &mut self.utc_offset);
        push_built(&mut out, "last_updated", utc_timestamp_type(), &mut self.last_updated);
        push_built(&mut out, CREATED, utc_timestamp_type(), &mut self.created);
        push_built(&mut out, "uuid", DataType::Utf8, &mut self.uuid);
        push_built(&mut out, "modality", dictionary_type(), &mut self.modality);
        push_built(&mut out, "source_name", dictionary_type(), &mut self.source_name);
        push_built(&mut out, PATIENT_NAME, DataType::Utf8, &mut self.patient_name);
        push_built(&mut out, DATA_SOURCE, dictionary_type(), &mut self.data_source);
        push_built(&mut out, RESOURCE_ID, DataType::Utf8, &mut self.resource_id);
        push_built(&mut out, SOURCE, dictionary_type(), &mut self.source);
        out
    }

    /// The columns as the flat layout's table holds them: those of [`Self::finish_chunk`],
    /// the ones the API gave nothing for left out, as [`present`] does, and `created` too
    /// (the official frame has the header's own `creation_date_time` columns).
    pub(super) fn finish(&mut self) -> Columns {
        let mut out = Columns::default();
        let chunk = self.finish_chunk(false);
        for (field, array) in chunk.fields.into_iter().zip(chunk.arrays) {
            let unused = field.name() == CREATED || (OPTIONAL.contains(&field.name().as_str()) && array.null_count() == array.len());
            if !unused {
                out.push_field(field, array);
            }
        }
        out
    }
}

/// When the record was made, by its OMH header (wide and long layouts).
const CREATED: &str = "created";
const PATIENT_NAME: &str = "patient_name";
const DATA_SOURCE: &str = "data_source";
const RESOURCE_ID: &str = "resource_id";
const SOURCE: &str = "source";
/// Built only for a fetch that reads imported records ([`Shape::origins`]).
const ORIGIN_COLUMNS: [&str; 2] = [RESOURCE_ID, SOURCE];
/// Common columns left out of a table when the API gave none of them.
const OPTIONAL: [&str; 2] = [PATIENT_NAME, DATA_SOURCE];

/// A table as the user gets it, from its joined chunks: in the wide layout `timestamp`, the
/// guide's name for `effective_start`, placed after `code` and sharing the same Arrow array
/// (so it costs no memory); patient name and data source left out when the API gave none,
/// unless selected.
pub(super) fn present(batch: RecordBatch, shape: &Shape) -> RecordBatch {
    let wide = shape.layout == Layout::Wide && shape.keeps(TIMESTAMP);
    let selected = |name: &str| shape.columns.as_ref().is_some_and(|columns| columns.keeps(name));
    let (schema, arrays, _) = batch.into_parts();
    let mut fields = Vec::with_capacity(arrays.len() + 1);
    let mut columns = Vec::with_capacity(arrays.len() + 1);
    for (field, array) in schema.fields().iter().zip(arrays) {
        let name = field.name().as_str();
        if OPTIONAL.contains(&name) && array.null_count() == array.len() && !selected(name) {
            continue;
        }
        let start = (wide && name == "effective_start").then(|| array.clone());
        fields.push(field.as_ref().clone());
        columns.push(array);
        if let Some(start) = start {
            // Before `effective_start`, as the guide's frames put it.
            fields.insert(fields.len() - 1, Field::new(TIMESTAMP, utc_timestamp_type(), true));
            columns.insert(columns.len() - 1, start);
        }
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match their schema")
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use super::Shape;
    use crate::decode::PreparedPage;
    use crate::query::Layout;
    use crate::selection::{COMMON_COLUMNS, ColumnSelection};
    use crate::table::test_support::*;
    use crate::table::{ObservationTableBuilder, ObservationTables, PageTables};

    const CODE: &str = "omh:blood-glucose:4.0";

    fn selection(names: &[&str], layout: Layout, codes: &[&str]) -> Option<ColumnSelection> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        Some(ColumnSelection::new(&names, layout, codes).unwrap())
    }

    fn names(batch: &arrow_array::RecordBatch) -> Vec<String> {
        batch.schema().fields().iter().map(|field| field.name().clone()).collect()
    }

    /// Glucose readings, one undecodable and two sharing a uuid, through a builder.
    fn fetched(layout: Layout, codes: &[&str], columns: Option<ColumnSelection>) -> ObservationTables {
        let mut builder = ObservationTableBuilder::new(layout, codes).with_columns(columns);
        for (id, data) in [("1", b64(GLUCOSE)), ("2", b64(GLUCOSE)), ("3", "%%%".into()), ("4", b64(UNKNOWN))] {
            builder.append(&input(id, if id == "4" { "x:mood:1.0" } else { CODE }, &data));
        }
        let mut tables = builder.finish();
        tables.sort_newest_first();
        tables.keep_selected();
        tables
    }

    #[test]
    fn every_column_without_a_selection_in_the_order_the_selection_lists() {
        let tables = fetched(Layout::Long, &[], None);
        let long = names(&tables.tables[0].1);
        // Neither the API's optional columns nor, reading no imported records, their origins.
        let absent = ["patient_name", "data_source", "resource_id", "source"];
        let mut expected: Vec<&str> = COMMON_COLUMNS.iter().copied().filter(|name| !absent.contains(name)).collect();
        expected.insert(expected.iter().position(|name| *name == "uuid").unwrap() + 1, "duplicate_uuid");
        expected.extend(crate::selection::LONG_COLUMNS);
        assert_eq!(long, expected);
    }

    #[test]
    fn a_selection_keeps_its_columns_in_table_order_and_every_row() {
        let all = fetched(Layout::Wide, &[], None);
        let columns = selection(&["glucose_mg_dl", "duplicate_uuid", "timestamp", "patient_name"], Layout::Wide, &[]);
        let some = fetched(Layout::Wide, &[], columns);
        let glucose = table(&some, CODE);
        // patient_name is kept though the API gave none: it was asked for
        assert_eq!(names(glucose), ["timestamp", "duplicate_uuid", "patient_name", "glucose_mg_dl"]);
        assert_eq!(glucose.num_rows(), table(&all, CODE).num_rows());
        assert_eq!(glucose.column_by_name("duplicate_uuid").unwrap().as_boolean().true_count(), 2, "flags from uuids not kept");
        assert_eq!(glucose.column_by_name("glucose_mg_dl").unwrap(), table(&all, CODE).column_by_name("glucose_mg_dl").unwrap());
        assert_eq!(some.errors, all.errors, "the errors table is the same");
        assert_eq!(some.observations, all.observations);
        // the code the catalogue does not know keeps only the common columns selected
        assert_eq!(names(table(&some, "x:mood:1.0")), ["timestamp", "duplicate_uuid", "patient_name"]);
    }

    #[test]
    fn columns_not_selected_are_not_built() {
        let mut page = PreparedPage::default();
        let data = b64(GLUCOSE);
        page.push(&input("1", CODE, &data));
        let shape = Shape { layout: Layout::Wide, columns: selection(&["glucose_unit", "timestamp"], Layout::Wide, &[CODE]), origins: false };
        let built = PageTables::build(page, &shape);
        // what the builder needs to sort and to make `timestamp`, and the one measure column
        assert_eq!(names(&built.chunks[0].rows), ["observation_id", "effective_start", "last_updated", "glucose_unit"]);
        let mut page = PreparedPage::default();
        page.push(&input("1", CODE, &data));
        let shape = Shape { layout: Layout::Long, columns: selection(&["unit", "duplicate_uuid"], Layout::Long, &[]), origins: false };
        assert_eq!(names(&PageTables::build(page, &shape).chunks[0].rows), ["observation_id", "last_updated", "uuid", "unit"]);
    }

    #[test]
    fn the_long_layout_keeps_a_row_per_measure() {
        let all = fetched(Layout::Long, &[], None);
        let some = fetched(Layout::Long, &[], selection(&["value", "measure", "observation_id"], Layout::Long, &[]));
        let (all, some) = (&all.tables[0].1, &some.tables[0].1);
        assert_eq!(names(some), ["observation_id", "measure", "value"]);
        assert_eq!(some.num_rows(), all.num_rows());
        assert_eq!(some.column(0).as_primitive::<Int64Type>(), all.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>());
    }

    #[test]
    fn key_path_columns_are_kept_by_name_for_a_code_the_catalogue_does_not_know() {
        let mood = ["x:mood:1.0"];
        let tables = fetched(Layout::Wide, &mood, selection(&["mood_score", "tags", "observation_id"], Layout::Wide, &mood));
        assert_eq!(names(table(&tables, "x:mood:1.0")), ["observation_id", "mood_score", "tags"]);
        assert_eq!(table(&tables, "x:mood:1.0").num_rows(), 1);
    }
}
