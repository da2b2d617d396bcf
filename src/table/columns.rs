//! What every layout shares: the Arrow types of the common columns, the record an
//! observation is appended as, its common columns, and the list of finished columns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{DurationSecondBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};


pub fn utc_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(super) fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub(super) type Dictionary = StringDictionaryBuilder<Int32Type>;

pub(super) fn timestamp_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

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
    pub uuid: Option<&'a str>,
    pub modality: Option<&'a str>,
    pub source_name: Option<&'a str>,
    pub patient_name: Option<&'a str>,
    pub data_source: Option<&'a str>,
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
    uuid: StringBuilder,
    modality: Dictionary,
    source_name: Dictionary,
    patient_name: StringBuilder,
    data_source: Dictionary,
}

impl CommonColumns {
    pub(super) fn new() -> Self {
        Self {
            observation_id: Int64Builder::new(),
            patient_id: Int64Builder::new(),
            code: Dictionary::new(),
            effective_start: timestamp_builder(),
            effective_end: timestamp_builder(),
            utc_offset: DurationSecondBuilder::new(),
            last_updated: timestamp_builder(),
            uuid: StringBuilder::new(),
            modality: Dictionary::new(),
            source_name: Dictionary::new(),
            patient_name: StringBuilder::new(),
            data_source: Dictionary::new(),
        }
    }

    pub(super) fn append(&mut self, r: &Record<'_>) {
        self.observation_id.append_option(r.id);
        self.patient_id.append_option(r.patient_id);
        self.code.append_option(r.code);
        self.effective_start.append_option(r.start);
        self.effective_end.append_option(r.end);
        self.utc_offset.append_option(r.offset.map(i64::from));
        self.last_updated.append_option(r.last_updated);
        self.uuid.append_option(r.uuid);
        self.modality.append_option(r.modality);
        self.source_name.append_option(r.source_name);
        self.patient_name.append_option(r.patient_name);
        self.data_source.append_option(r.data_source);
    }

    /// `timestamp` is the guide's name for `effective_start` (wide layout only): it shares
    /// the same Arrow array, so it costs no memory. Patient name and data source are left
    /// out when the API gave none.
    pub(super) fn finish(&mut self, with_timestamp: bool) -> Columns {
        let mut out = Columns::default();
        let start: ArrayRef = Arc::new(self.effective_start.finish());
        out.push("observation_id", DataType::Int64, Arc::new(self.observation_id.finish()));
        out.push("patient_id", DataType::Int64, Arc::new(self.patient_id.finish()));
        out.push("code", dictionary_type(), Arc::new(self.code.finish()));
        if with_timestamp {
            out.push("timestamp", utc_timestamp_type(), start.clone());
        }
        out.push("effective_start", utc_timestamp_type(), start);
        out.push("effective_end", utc_timestamp_type(), Arc::new(self.effective_end.finish()));
        out.push("utc_offset", DataType::Duration(TimeUnit::Second), Arc::new(self.utc_offset.finish()));
        out.push("last_updated", utc_timestamp_type(), Arc::new(self.last_updated.finish()));
        out.push("uuid", DataType::Utf8, Arc::new(self.uuid.finish()));
        out.push("modality", dictionary_type(), Arc::new(self.modality.finish()));
        out.push("source_name", dictionary_type(), Arc::new(self.source_name.finish()));
        let patient_name: ArrayRef = Arc::new(self.patient_name.finish());
        if patient_name.null_count() < patient_name.len() {
            out.push("patient_name", DataType::Utf8, patient_name);
        }
        let data_source: ArrayRef = Arc::new(self.data_source.finish());
        if data_source.null_count() < data_source.len() {
            out.push("data_source", dictionary_type(), data_source);
        }
        out
    }
}
