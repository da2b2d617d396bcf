//! What every layout shares: the Arrow types of the common columns, the record an
//! observation is appended as, its common columns, and the list of finished columns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, DurationSecondBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::decode::PreparedObservation;

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
        let name = if self.names.contains(&name) {
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
        }
    }
}

/// The columns every layout has.
pub(super) struct CommonColumns {
    observation_id: Int64Builder,
    patient_id: Int64Builder,
    code: Dictionary,
    effective_start: TimestampMicrosecondBuilder,
    effective_end: TimestampMicrosecondBuilder,
    utc_offset: DurationSecondBuilder,
    last_updated: TimestampMicrosecondBuilder,
    created: TimestampMicrosecondBuilder,
    uuid: StringBuilder,
    modality: Dictionary,
    source_name: Dictionary,
    patient_name: StringBuilder,
    data_source: Dictionary,
}

impl CommonColumns {
    /// Builders sized for `rows`, so a page's chunk allocates once what it holds.
    pub(super) fn with_capacity(rows: usize) -> Self {
        Self {
            observation_id: Int64Builder::with_capacity(rows),
            patient_id: Int64Builder::with_capacity(rows),
            code: dictionary(rows),
            effective_start: timestamp_builder(rows),
            effective_end: timestamp_builder(rows),
            utc_offset: DurationSecondBuilder::with_capacity(rows),
            last_updated: timestamp_builder(rows),
            created: timestamp_builder(rows),
            // A canonical uuid is 36 bytes.
            uuid: StringBuilder::with_capacity(rows, rows * 36),
            modality: dictionary(rows),
            source_name: dictionary(rows),
            patient_name: StringBuilder::with_capacity(rows, 0),
            data_source: dictionary(rows),
        }
    }

    /// Rows appended so far.
    pub(super) fn len(&self) -> usize {
        self.observation_id.len()
    }

    pub(super) fn append(&mut self, r: &Record<'_>) {
        self.observation_id.append_option(r.id);
        self.patient_id.append_option(r.patient_id);
        self.code.append_option(r.code);
        self.effective_start.append_option(r.start);
        self.effective_end.append_option(r.end);
        self.utc_offset.append_option(r.offset.map(i64::from));
        self.last_updated.append_option(r.last_updated);
        self.created.append_option(r.created);
        self.uuid.append_option(r.uuid);
        self.modality.append_option(r.modality);
        self.source_name.append_option(r.source_name);
        self.patient_name.append_option(r.patient_name);
        self.data_source.append_option(r.data_source);
    }

    /// The columns as a table's chunk holds them (a page's rows, or the rows a builder
    /// appended itself): every common column, so chunks of one table share a schema, and
    /// no `timestamp`, which [`present`] adds once the chunks are joined. `timestamp` is kept
    /// free for it in the wide layout.
    pub(super) fn finish_chunk(&mut self, wide: bool) -> Columns {
        let mut out = Columns::default();
        if wide {
            out.names.insert(TIMESTAMP.to_string());
        }
        out.push("observation_id", DataType::Int64, Arc::new(self.observation_id.finish()));
        out.push("patient_id", DataType::Int64, Arc::new(self.patient_id.finish()));
        out.push("code", dictionary_type(), Arc::new(self.code.finish()));
        out.push("effective_start", utc_timestamp_type(), Arc::new(self.effective_start.finish()));
        out.push("effective_end", utc_timestamp_type(), Arc::new(self.effective_end.finish()));
        out.push("utc_offset", DataType::Duration(TimeUnit::Second), Arc::new(self.utc_offset.finish()));
        out.push("last_updated", utc_timestamp_type(), Arc::new(self.last_updated.finish()));
        out.push(CREATED, utc_timestamp_type(), Arc::new(self.created.finish()));
        out.push("uuid", DataType::Utf8, Arc::new(self.uuid.finish()));
        out.push("modality", dictionary_type(), Arc::new(self.modality.finish()));
        out.push("source_name", dictionary_type(), Arc::new(self.source_name.finish()));
        out.push(PATIENT_NAME, DataType::Utf8, Arc::new(self.patient_name.finish()));
        out.push(DATA_SOURCE, dictionary_type(), Arc::new(self.data_source.finish()));
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

/// The guide's name for `effective_start` (wide layout only).
const TIMESTAMP: &str = "timestamp";
/// When the record was made, by its OMH header (wide and long layouts).
const CREATED: &str = "created";
const PATIENT_NAME: &str = "patient_name";
const DATA_SOURCE: &str = "data_source";
/// Common columns left out of a table when the API gave none of them.
const OPTIONAL: [&str; 2] = [PATIENT_NAME, DATA_SOURCE];

/// A table as the user gets it, from its joined chunks: in the wide layout `timestamp`, the
/// guide's name for `effective_start`, placed after `code` and sharing the same Arrow array
/// (so it costs no memory); patient name and data source left out when the API gave none.
pub(super) fn present(batch: RecordBatch, wide: bool) -> RecordBatch {
    let (schema, arrays, _) = batch.into_parts();
    let mut fields = Vec::with_capacity(arrays.len() + 1);
    let mut columns = Vec::with_capacity(arrays.len() + 1);
    for (field, array) in schema.fields().iter().zip(arrays) {
        if OPTIONAL.contains(&field.name().as_str()) && array.null_count() == array.len() {
            continue;
        }
        let start = (wide && field.name() == "effective_start").then(|| array.clone());
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
