//! Arrow building: each observation becomes one row as it arrives, with typed measure
//! columns from the catalogue. A record that cannot be decoded keeps its row (with what
//! could be read) and is also reported in a separate errors table: nothing is dropped.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder,
    Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_ord::sort::{SortColumn, SortOptions, lexsort_to_indices};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow_select::filter::filter_record_batch;
use arrow_select::take::take_record_batch;

use crate::omh::catalog::{self, CodeSpec, Measure, MeasureKind, MeasureValue};
use crate::omh::{self, time};

/// The OMH payload as an API hands it over.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// FHIR `valueAttachment.data`.
    Base64(&'a str),
    /// REST `omhData`: the JSON text of the document.
    Json(&'a [u8]),
    Missing,
}

/// One observation as read off an API page, before decoding.
#[derive(Debug, Clone, Copy)]
pub struct ObservationInput<'a> {
    pub observation_id: &'a str,
    pub patient_id: Option<i64>,
    pub code: Option<&'a str>,
    pub last_updated: Option<&'a str>,
    pub payload: Payload<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Row,
    /// The same observation id was already received (pages shifted under us).
    Duplicate,
}

enum ColumnBuilder {
    Number(Float64Builder),
    Category(StringDictionaryBuilder<Int32Type>),
}

struct MeasureColumn {
    measure: &'static Measure,
    /// Position in the catalogue, so the schema is the same whatever order rows arrive in.
    rank: (usize, usize),
    builder: ColumnBuilder,
}

impl MeasureColumn {
    fn new(measure: &'static Measure, rank: (usize, usize), rows_so_far: usize) -> Self {
        let builder = match measure.kind {
            MeasureKind::Quantity { .. } => {
                let mut b = Float64Builder::new();
                b.append_nulls(rows_so_far);
                ColumnBuilder::Number(b)
            }
            MeasureKind::Category => {
                let mut b = StringDictionaryBuilder::new();
                b.append_nulls(rows_so_far);
                ColumnBuilder::Category(b)
            }
        };
        Self { measure, rank, builder }
    }

    fn len(&self) -> usize {
        match &self.builder {
            ColumnBuilder::Number(b) => b.len(),
            ColumnBuilder::Category(b) => b.len(),
        }
    }

    fn append(&mut self, value: &MeasureValue<'_>) {
        match (&mut self.builder, value) {
            (ColumnBuilder::Number(b), MeasureValue::Number(v)) => b.append_value(*v),
            (ColumnBuilder::Category(b), MeasureValue::Text(t)) => {
                b.append_value(t);
            }
            (ColumnBuilder::Number(b), _) => b.append_null(),
            (ColumnBuilder::Category(b), _) => b.append_null(),
        }
    }

    fn pad_to(&mut self, rows: usize) {
        let missing = rows - self.len();
        match &mut self.builder {
            ColumnBuilder::Number(b) => b.append_nulls(missing),
            ColumnBuilder::Category(b) => b.append_nulls(missing),
        }
    }

    fn field(&self) -> Field {
        let data_type = match self.builder {
            ColumnBuilder::Number(_) => DataType::Float64,
            ColumnBuilder::Category(_) => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
        };
        Field::new(self.measure.column, data_type, true)
    }

    fn finish(&mut self) -> ArrayRef {
        match &mut self.builder {
            ColumnBuilder::Number(b) => Arc::new(b.finish()),
            ColumnBuilder::Category(b) => Arc::new(b.finish()),
        }
    }
}

/// Records that could not be (fully) decoded.
#[derive(Default)]
struct ErrorsBuilder {
    observation_id: Int64Builder,
    code: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
}

impl ErrorsBuilder {
    fn push(&mut self, id: Option<i64>, code: Option<&str>, reason: &str, raw: &str) {
        self.observation_id.append_option(id);
        self.code.append_option(code);
        self.reason.append_value(reason);
        self.raw.append_value(raw);
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("observation_id", DataType::Int64, true),
            Field::new("code", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ]))
    }

    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.observation_id.finish()),
            Arc::new(self.code.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("errors columns match their schema")
    }
}

pub fn utc_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The finished tables of one fetch.
#[derive(Debug)]
pub struct ObservationTables {
    pub observations: RecordBatch,
    pub errors: RecordBatch,
    pub duplicates: u64,
}

pub struct ObservationTableBuilder {
    observation_id: Int64Builder,
    patient_id: Int64Builder,
    code: StringDictionaryBuilder<Int32Type>,
    timestamp: TimestampMicrosecondBuilder,
    effective_end: TimestampMicrosecondBuilder,
    last_updated: TimestampMicrosecondBuilder,
    uuid: StringBuilder,
    modality: StringDictionaryBuilder<Int32Type>,
    source_name: StringDictionaryBuilder<Int32Type>,
    measures: Vec<MeasureColumn>,
    rows: usize,
    seen_ids: HashSet<i64>,
    duplicates: u64,
    newest_last_updated: Option<i64>,
    /// The same, since [`Self::start_page`]: a snapshot bound is per search, not global.
    page_newest_last_updated: Option<i64>,
    errors: ErrorsBuilder,
    /// Reused base64 output buffer: one allocation for the whole fetch.
    scratch: Vec<u8>,
}

impl ObservationTableBuilder {
    /// `expected_codes` get their measure columns even when no row arrives, so an empty
    /// result still has the columns a caller will index.
    pub fn new(expected_codes: &[&str]) -> Self {
        let timestamp = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut builder = Self {
            observation_id: Int64Builder::new(),
            patient_id: Int64Builder::new(),
            code: StringDictionaryBuilder::new(),
            timestamp: timestamp(),
            effective_end: timestamp(),
            last_updated: timestamp(),
            uuid: StringBuilder::new(),
            modality: StringDictionaryBuilder::new(),
            source_name: StringDictionaryBuilder::new(),
            measures: Vec::new(),
            rows: 0,
            seen_ids: HashSet::new(),
            duplicates: 0,
            newest_last_updated: None,
            page_newest_last_updated: None,
            errors: ErrorsBuilder::default(),
            scratch: Vec::new(),
        };
        for code in expected_codes {
            if let Some((rank, spec)) = catalog_entry(code) {
                builder.ensure_columns(rank, spec);
            }
        }
        builder
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn ensure_columns(&mut self, code_rank: usize, spec: &'static CodeSpec) -> Vec<usize> {
        spec.measures
            .iter()
            .enumerate()
            .map(|(measure_rank, measure)| {
                match self.measures.iter().position(|c| std::ptr::eq(c.measure, measure)) {
                    Some(index) => index,
                    None => {
                        self.measures
                            .push(MeasureColumn::new(measure, (code_rank, measure_rank), self.rows));
                        self.measures.len() - 1
                    }
                }
            })
            .collect()
    }

    pub fn append(&mut self, input: &ObservationInput<'_>) -> Appended {
        let id = input.observation_id.trim().parse::<i64>().ok();
        if let Some(id) = id {
            if !self.seen_ids.insert(id) {
                self.duplicates += 1;
                return Appended::Duplicate;
            }
        }
        // Every problem with this record, reported once it is written.
        let mut problems: Vec<String> = Vec::new();
        if id.is_none() {
            problems.push(format!("observation id {:?} is not an integer", input.observation_id));
        }
        self.observation_id.append_option(id);
        self.patient_id.append_option(input.patient_id);
        if input.patient_id.is_none() {
            problems.push("the observation names no patient".into());
        }
        match input.code {
            Some(code) => {
                self.code.append_value(code);
            }
            None => {
                self.code.append_null();
                problems.push("the observation has no code".into());
            }
        }
        let last_updated = input.last_updated.and_then(|text| match time::parse_date_time(text) {
            Ok(instant) => Some(instant.utc_micros),
            Err(reason) => {
                problems.push(format!("lastUpdated: {reason}"));
                None
            }
        });
        self.last_updated.append_option(last_updated);
        if let Some(at) = last_updated {
            self.newest_last_updated = Some(self.newest_last_updated.map_or(at, |newest| newest.max(at)));
            self.page_newest_last_updated = Some(self.page_newest_last_updated.map_or(at, |newest| newest.max(at)));
        }

        let spec = input.code.and_then(catalog_entry);
        let columns = spec.map(|(rank, spec)| self.ensure_columns(rank, spec)).unwrap_or_default();

        let mut scratch = std::mem::take(&mut self.scratch);
        let json: Result<&[u8], String> = match input.payload {
            Payload::Base64(data) => omh::decode_base64(data, &mut scratch).map(|()| scratch.as_slice()),
            Payload::Json(bytes) => Ok(bytes),
            Payload::Missing => Err("the observation carries no OMH payload".into()),
        };
        let document = json.and_then(omh::parse_document);
        let (mut start, mut end, mut uuid, mut modality, mut source) = (None, None, None, None, None);
        match &document {
            Ok(document) => {
                let body = document.body.as_ref().expect("parse_document checks the body");
                uuid = document.header.uuid.as_deref();
                modality = document.header.modality.as_deref();
                source = document
                    .header
                    .acquisition_provenance
                    .as_ref()
                    .and_then(|p| p.source_name.as_deref());
                match body.get("effective_time_frame") {
                    Some(frame) => match time::parse_time_frame(frame) {
                        Ok(frame) => {
                            start = Some(frame.start);
                            end = frame.end;
                        }
                        Err(reason) => problems.push(format!("effective_time_frame: {reason}")),
                    },
                    None => problems.push("the body has no effective_time_frame".into()),
                }
                if let Some((_, spec)) = spec {
                    for (measure, &column) in spec.measures.iter().zip(&columns) {
                        let value = measure.read(body).unwrap_or_else(|reason| {
                            problems.push(reason);
                            MeasureValue::Missing
                        });
                        self.measures[column].append(&value);
                    }
                }
            }
            Err(reason) => problems.push(reason.clone()),
        }
        self.timestamp.append_option(start);
        self.effective_end.append_option(end);
        self.uuid.append_option(uuid);
        self.modality.append_option(modality);
        self.source_name.append_option(source);
        if !problems.is_empty() {
            let raw = raw_payload_text(&input.payload, &document.is_ok(), &scratch);
            self.errors.push(id, input.code, &problems.join("; "), &raw);
        }
        drop(document);
        self.scratch = scratch;

        self.rows += 1;
        for column in &mut self.measures {
            column.pad_to(self.rows);
        }
        Appended::Row
    }

    pub fn error_count(&self) -> usize {
        self.errors.reason.len()
    }

    /// The latest `lastUpdated` among the rows so far.
    pub fn newest_last_updated(&self) -> Option<i64> {
        self.newest_last_updated
    }

    /// Start tracking the newest `lastUpdated` of one page.
    pub fn start_page(&mut self) {
        self.page_newest_last_updated = None;
    }

    /// The latest `lastUpdated` among rows appended since [`Self::start_page`].
    pub fn page_newest_last_updated(&self) -> Option<i64> {
        self.page_newest_last_updated
    }

    pub fn finish(mut self) -> ObservationTables {
        self.measures.sort_by_key(|c| c.rank);
        let dictionary = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut fields = vec![
            Field::new("observation_id", DataType::Int64, true),
            Field::new("patient_id", DataType::Int64, true),
            Field::new("code", dictionary(), true),
            Field::new("timestamp", utc_timestamp_type(), true),
            Field::new("effective_end", utc_timestamp_type(), true),
            Field::new("last_updated", utc_timestamp_type(), true),
            Field::new("uuid", DataType::Utf8, true),
            Field::new("modality", dictionary(), true),
            Field::new("source_name", dictionary(), true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.observation_id.finish()),
            Arc::new(self.patient_id.finish()),
            Arc::new(self.code.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.effective_end.finish()),
            Arc::new(self.last_updated.finish()),
            Arc::new(self.uuid.finish()),
            Arc::new(self.modality.finish()),
            Arc::new(self.source_name.finish()),
        ];
        for column in &mut self.measures {
            fields.push(column.field());
            columns.push(column.finish());
        }
        let schema = Arc::new(Schema::new(fields));
        ObservationTables {
            observations: RecordBatch::try_new(schema, columns).expect("columns match their schema"),
            errors: self.errors.finish(),
            duplicates: self.duplicates,
        }
    }
}

/// Filters applied on our side when a server ignores them (older API generation).
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub updated_since: Option<i64>,
    pub codes: Vec<String>,
}

impl ClientFilter {
    pub fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.updated_since.is_none() && self.codes.is_empty()
    }
}

impl ObservationTables {
    /// Keep rows matching `filter`. A row whose time or code could not be read is kept:
    /// it is in the errors table, and dropping it would lose it silently.
    pub fn retain(&mut self, filter: &ClientFilter) {
        if filter.is_empty() {
            return;
        }
        let batch = &self.observations;
        let timestamp = batch.column_by_name("timestamp").expect("common column").as_primitive::<TimestampMicrosecondType>();
        let updated = batch.column_by_name("last_updated").expect("common column").as_primitive::<TimestampMicrosecondType>();
        let codes = batch.column_by_name("code").expect("common column").as_dictionary::<Int32Type>();
        let code_values = codes.values().as_string::<i32>();
        let wanted_code: Vec<bool> = (0..code_values.len())
            .map(|i| filter.codes.is_empty() || filter.codes.iter().any(|c| c == code_values.value(i)))
            .collect();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|row| {
                let in_time = timestamp.is_null(row) || {
                    let t = timestamp.value(row);
                    filter.since.is_none_or(|s| t >= s) && filter.until.is_none_or(|u| t < u)
                };
                let fresh = updated.is_null(row) || filter.updated_since.is_none_or(|s| updated.value(row) >= s);
                let code_ok = codes.is_null(row) || wanted_code[codes.keys().value(row) as usize];
                Some(in_time && fresh && code_ok)
            })
            .collect();
        self.observations = filter_record_batch(batch, &keep).expect("a mask of the batch's length");
    }

    /// Newest first (`last_updated`, then id, both descending): the servers' order, made
    /// deterministic whatever order pages arrived in.
    pub fn sort_newest_first(&mut self) {
        let batch = &self.observations;
        let descending = Some(SortOptions { descending: true, nulls_first: false });
        let columns = [
            SortColumn { values: batch.column_by_name("last_updated").expect("common column").clone(), options: descending },
            SortColumn { values: batch.column_by_name("observation_id").expect("common column").clone(), options: descending },
        ];
        let order = lexsort_to_indices(&columns, None).expect("sortable columns");
        self.observations = take_record_batch(batch, &order).expect("indices within the batch");
    }
}

fn catalog_entry(code: &str) -> Option<(usize, &'static CodeSpec)> {
    catalog::CATALOG.iter().enumerate().find(|(_, spec)| spec.code == code)
}

/// The payload as text for the errors table: decoded JSON when it was readable, else as sent.
fn raw_payload_text(payload: &Payload<'_>, decoded: &bool, scratch: &[u8]) -> String {
    match payload {
        Payload::Base64(data) => match (decoded, std::str::from_utf8(scratch)) {
            (true, Ok(text)) => text.to_string(),
            _ => data.to_string(),
        },
        Payload::Json(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Payload::Missing => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::{Float64Type, Int64Type};
    use base64::Engine as _;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn input<'a>(id: &'a str, code: &'a str, data: &'a str) -> ObservationInput<'a> {
        ObservationInput {
            observation_id: id,
            patient_id: Some(40001),
            code: Some(code),
            last_updated: Some("2026-11-26T06:47:52.169870Z"),
            payload: Payload::Base64(data),
        }
    }

    const GLUCOSE: &str = r#"{"header":{"uuid":"u1","modality":"sensed"},"body":{"effective_time_frame":{"date_time":"2024-05-02T08:30:00-07:00"},"blood_glucose":{"value":105,"unit":"mg/dL"},"temporal_relationship_to_meal":"fasting"}}"#;
    const HEART: &str = r#"{"header":{"uuid":"u2"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"heart_rate":{"value":61.5,"unit":"beats/min"}}}"#;

    #[test]
    fn typed_columns_for_mixed_codes_with_nulls_elsewhere() {
        let mut builder = ObservationTableBuilder::new(&[]);
        let (g, h) = (b64(GLUCOSE), b64(HEART));
        builder.append(&input("1", "omh:heart-rate:2.0", &h));
        builder.append(&input("2", "omh:blood-glucose:4.0", &g));
        let tables = builder.finish();
        let batch = &tables.observations;
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(tables.errors.num_rows(), 0);
        // catalogue order, not arrival order
        let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        let tail: Vec<_> = names.iter().skip(9).map(String::as_str).collect();
        assert_eq!(tail, ["glucose_mg_dl", "meal_context", "heart_rate_bpm"]);
        let glucose = batch.column_by_name("glucose_mg_dl").unwrap().as_primitive::<Float64Type>();
        assert!(glucose.is_null(0));
        assert_eq!(glucose.value(1), 105.0);
        let hr = batch.column_by_name("heart_rate_bpm").unwrap().as_primitive::<Float64Type>();
        assert_eq!(hr.value(0), 61.5);
        assert!(hr.is_null(1));
        let ts = batch.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(1), 1_714_663_800_000_000);
        assert_eq!(
            batch.schema().field_with_name("timestamp").unwrap().data_type(),
            &utc_timestamp_type()
        );
    }

    #[test]
    fn bad_records_are_kept_and_reported_and_duplicates_skipped() {
        let mut builder = ObservationTableBuilder::new(&["omh:blood-glucose:4.0"]);
        let good = b64(GLUCOSE);
        let no_unit = b64(r#"{"header":{},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"blood_glucose":{"value":5}}}"#);
        assert_eq!(builder.append(&input("1", "omh:blood-glucose:4.0", &good)), Appended::Row);
        assert_eq!(builder.append(&input("1", "omh:blood-glucose:4.0", &good)), Appended::Duplicate);
        builder.append(&input("2", "omh:blood-glucose:4.0", "%%%not-base64"));
        builder.append(&input("3", "omh:blood-glucose:4.0", &no_unit));
        builder.append(&input("4", "omh:blood-glucose:4.0", &b64("{\"header\":")));
        let tables = builder.finish();
        assert_eq!(tables.observations.num_rows(), 4);
        assert_eq!(tables.duplicates, 1);
        let errors = &tables.errors;
        assert_eq!(errors.num_rows(), 3);
        let ids = errors.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![2, 3, 4]);
        let reasons = errors.column(2).as_string::<i32>();
        assert!(reasons.value(0).contains("base64"));
        assert!(reasons.value(1).contains("no unit"));
        assert!(reasons.value(2).contains("not a valid OMH JSON"));
        // the row with a readable time keeps it
        let ts = tables.observations.column_by_name("timestamp").unwrap();
        assert!(ts.is_valid(2) && ts.is_null(1));
    }

    #[test]
    fn client_side_filters_keep_unreadable_rows_and_sorting_is_newest_first() {
        let mut builder = ObservationTableBuilder::new(&[]);
        let heart = |t: &str| b64(&HEART.replace("2024-05-02T15:30:00Z", t));
        let (early, late) = (heart("2024-05-01T00:00:00Z"), heart("2024-05-03T00:00:00Z"));
        let mut row = input("1", "omh:heart-rate:2.0", &early);
        row.last_updated = Some("2024-05-04T00:00:00Z");
        builder.append(&row);
        let mut row = input("2", "omh:heart-rate:2.0", &late);
        row.last_updated = Some("2024-05-05T00:00:00Z");
        builder.append(&row);
        builder.append(&input("3", "omh:heart-rate:2.0", "%%%"));
        builder.append(&input("4", "omh:blood-glucose:4.0", &b64(GLUCOSE)));
        assert_eq!(builder.newest_last_updated(), Some(time::parse_date_time("2026-11-26T06:47:52.169870Z").unwrap().utc_micros));
        let mut tables = builder.finish();
        let since = time::parse_date_time("2024-05-02T00:00:00Z").unwrap().utc_micros;
        tables.retain(&ClientFilter { since: Some(since), codes: vec!["omh:heart-rate:2.0".into()], ..Default::default() });
        tables.sort_newest_first();
        let ids = tables.observations.column(0).as_primitive::<Int64Type>().values().to_vec();
        // 1 is too early, 4 is another code; 3 has no readable time and is kept
        assert_eq!(ids, vec![3, 2]);
    }

    #[test]
    fn requested_code_columns_exist_without_rows() {
        let tables = ObservationTableBuilder::new(&["omh:blood-pressure:4.0"]).finish();
        let schema = tables.observations.schema();
        assert!(schema.field_with_name("systolic_mmhg").is_ok());
        assert!(schema.field_with_name("diastolic_mmhg").is_ok());
        assert_eq!(tables.observations.num_rows(), 0);
    }
}
