//! Arrow building: each observation is decoded once, as it arrives, into the layout asked
//! for. Wide: one table per code, one row per observation, with the catalogue's typed
//! columns (or, for a code the catalogue does not know, columns by key path). Long: one
//! tidy table, one row per observation and measure. A record that cannot be (fully)
//! decoded keeps its row with what could be read and is also listed in an errors table:
//! nothing is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, DurationSecondBuilder, Float64Builder, Int64Builder, StringBuilder,
    StringDictionaryBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_ord::sort::{SortColumn, SortOptions, lexsort_to_indices};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow_select::filter::filter_record_batch;
use serde_json::{Map, Value};

use crate::omh::catalog::{self, CodeSpec, Measure, MeasureKind, MeasureValue};
use crate::omh::{self, time};

/// The OMH payload as an API hands it over.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// FHIR `valueAttachment.data` (base64 text, as bytes).
    Base64(&'a [u8]),
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
    /// Where the API gives them (REST): the patient's name and the data source's name.
    pub patient_name: Option<&'a str>,
    pub data_source: Option<&'a str>,
    /// FHIR `meta.source`, and the resource's `identifier` list as JSON text: only read
    /// into columns by a builder made [`ObservationTableBuilder::with_extras`].
    pub meta_source: Option<&'a str>,
    pub identifier: Option<&'a str>,
}

impl<'a> ObservationInput<'a> {
    pub fn new(observation_id: &'a str, code: Option<&'a str>, payload: Payload<'a>) -> Self {
        Self {
            observation_id,
            patient_id: None,
            code,
            last_updated: None,
            payload,
            patient_name: None,
            data_source: None,
            meta_source: None,
            identifier: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Row,
    /// The same observation id was already received (pages shifted under us).
    Duplicate,
}

pub use crate::query::Layout;

pub fn utc_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

type Dictionary = StringDictionaryBuilder<Int32Type>;

fn timestamp_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// What every layout knows about an observation.
#[derive(Debug, Default, Clone, Copy)]
struct Record<'a> {
    id: Option<i64>,
    patient_id: Option<i64>,
    code: Option<&'a str>,
    start: Option<i64>,
    end: Option<i64>,
    offset: Option<i32>,
    last_updated: Option<i64>,
    uuid: Option<&'a str>,
    modality: Option<&'a str>,
    source_name: Option<&'a str>,
    patient_name: Option<&'a str>,
    data_source: Option<&'a str>,
    /// With extras: the observation's index in the builder's extras rows.
    extras: Option<u32>,
}

/// The columns every layout has.
struct CommonColumns {
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
    /// Per row, the observation's index in the extras rows (only with extras).
    extras: Vec<u32>,
}

impl CommonColumns {
    fn new() -> Self {
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
            extras: Vec::new(),
        }
    }

    fn append(&mut self, r: &Record<'_>) {
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
        if let Some(index) = r.extras {
            self.extras.push(index);
        }
    }

    /// The extras columns of these rows (nothing without extras).
    fn finish_extras(&self, extras: Option<&[Vec<(String, Leaf)>]>, fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
        if let Some(extras) = extras {
            let rows: Vec<&[(String, Leaf)]> = self.extras.iter().map(|&i| extras[i as usize].as_slice()).collect();
            finish_extras(&rows, fields, columns);
        }
    }

    /// `timestamp` is the guide's name for `effective_start` (wide layout only): it shares
    /// the same Arrow array, so it costs no memory. Patient name and data source are left
    /// out when the API gave none.
    fn finish(&mut self, with_timestamp: bool) -> (Vec<Field>, Vec<ArrayRef>) {
        let start: ArrayRef = Arc::new(self.effective_start.finish());
        let mut columns: Vec<(Field, ArrayRef)> = vec![
            (Field::new("observation_id", DataType::Int64, true), Arc::new(self.observation_id.finish())),
            (Field::new("patient_id", DataType::Int64, true), Arc::new(self.patient_id.finish())),
            (Field::new("code", dictionary_type(), true), Arc::new(self.code.finish())),
        ];
        if with_timestamp {
            columns.push((Field::new("timestamp", utc_timestamp_type(), true), start.clone()));
        }
        columns.extend([
            (Field::new("effective_start", utc_timestamp_type(), true), start),
            (Field::new("effective_end", utc_timestamp_type(), true), Arc::new(self.effective_end.finish()) as ArrayRef),
            (
                Field::new("utc_offset", DataType::Duration(TimeUnit::Second), true),
                Arc::new(self.utc_offset.finish()),
            ),
            (Field::new("last_updated", utc_timestamp_type(), true), Arc::new(self.last_updated.finish())),
            (Field::new("uuid", DataType::Utf8, true), Arc::new(self.uuid.finish())),
            (Field::new("modality", dictionary_type(), true), Arc::new(self.modality.finish())),
            (Field::new("source_name", dictionary_type(), true), Arc::new(self.source_name.finish())),
        ]);
        let patient_name: ArrayRef = Arc::new(self.patient_name.finish());
        if patient_name.null_count() < patient_name.len() {
            columns.push((Field::new("patient_name", DataType::Utf8, true), patient_name));
        }
        let data_source: ArrayRef = Arc::new(self.data_source.finish());
        if data_source.null_count() < data_source.len() {
            columns.push((Field::new("data_source", dictionary_type(), true), data_source));
        }
        columns.into_iter().unzip()
    }
}

/// The builders of one catalogue measure in the wide layout.
enum MeasureBuilders {
    Float(Float64Builder),
    /// Canonical value, then the value and unit as written.
    QuantityStated(Float64Builder, Float64Builder, Dictionary),
    Amount(Float64Builder, Dictionary),
    Count(Int64Builder),
    Category(Dictionary),
    Text(StringBuilder),
    Boolean(BooleanBuilder),
}

struct MeasureColumns {
    measure: &'static Measure,
    builders: MeasureBuilders,
}

impl MeasureColumns {
    fn new(measure: &'static Measure) -> Self {
        let builders = match &measure.kind {
            MeasureKind::Quantity { stated: None, .. } | MeasureKind::Number => MeasureBuilders::Float(Float64Builder::new()),
            MeasureKind::Quantity { stated: Some(_), .. } => {
                MeasureBuilders::QuantityStated(Float64Builder::new(), Float64Builder::new(), Dictionary::new())
            }
            MeasureKind::Amount => MeasureBuilders::Amount(Float64Builder::new(), Dictionary::new()),
            MeasureKind::Count { .. } => MeasureBuilders::Count(Int64Builder::new()),
            MeasureKind::Category => MeasureBuilders::Category(Dictionary::new()),
            MeasureKind::Text => MeasureBuilders::Text(StringBuilder::new()),
            MeasureKind::Boolean => MeasureBuilders::Boolean(BooleanBuilder::new()),
        };
        Self { measure, builders }
    }

    fn append(&mut self, value: &MeasureValue<'_>) {
        use MeasureValue as V;
        match (&mut self.builders, value) {
            (MeasureBuilders::Float(b), V::Quantity { canonical, .. }) => b.append_option(*canonical),
            (MeasureBuilders::Float(b), V::Number(n)) => b.append_value(*n),
            (MeasureBuilders::Float(b), _) => b.append_null(),
            (MeasureBuilders::QuantityStated(canonical, stated, unit), V::Quantity { value, unit: u, canonical: c }) => {
                canonical.append_option(*c);
                stated.append_value(*value);
                unit.append_value(u);
            }
            (MeasureBuilders::QuantityStated(a, b, c), _) => {
                a.append_null();
                b.append_null();
                c.append_null();
            }
            (MeasureBuilders::Amount(v, u), V::Amount { value, unit }) => {
                v.append_value(*value);
                u.append_option(*unit);
            }
            (MeasureBuilders::Amount(v, u), _) => {
                v.append_null();
                u.append_null();
            }
            (MeasureBuilders::Count(b), V::Count(n)) => b.append_value(*n),
            (MeasureBuilders::Count(b), _) => b.append_null(),
            (MeasureBuilders::Category(b), V::Text(t)) => {
                b.append_value(t);
            }
            (MeasureBuilders::Category(b), _) => b.append_null(),
            (MeasureBuilders::Text(b), V::Text(t)) => b.append_value(t),
            (MeasureBuilders::Text(b), _) => b.append_null(),
            (MeasureBuilders::Boolean(b), V::Bool(v)) => b.append_value(*v),
            (MeasureBuilders::Boolean(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self, fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
        let column = self.measure.column;
        let mut push = |name: String, data_type: DataType, array: ArrayRef| {
            fields.push(Field::new(name, data_type, true));
            columns.push(array);
        };
        match &mut self.builders {
            MeasureBuilders::Float(b) => push(column.into(), DataType::Float64, Arc::new(b.finish())),
            MeasureBuilders::QuantityStated(canonical, stated, unit) => {
                let stem = match self.measure.kind {
                    MeasureKind::Quantity { stated: Some(stem), .. } => stem,
                    _ => column,
                };
                push(column.into(), DataType::Float64, Arc::new(canonical.finish()));
                push(format!("{stem}_value"), DataType::Float64, Arc::new(stated.finish()));
                push(format!("{stem}_unit"), dictionary_type(), Arc::new(unit.finish()));
            }
            MeasureBuilders::Amount(value, unit) => {
                push(format!("{column}_value"), DataType::Float64, Arc::new(value.finish()));
                push(format!("{column}_unit"), dictionary_type(), Arc::new(unit.finish()));
            }
            MeasureBuilders::Count(b) => push(column.into(), DataType::Int64, Arc::new(b.finish())),
            MeasureBuilders::Category(b) => push(column.into(), dictionary_type(), Arc::new(b.finish())),
            MeasureBuilders::Text(b) => push(column.into(), DataType::Utf8, Arc::new(b.finish())),
            MeasureBuilders::Boolean(b) => push(column.into(), DataType::Boolean, Arc::new(b.finish())),
        }
    }
}

/// A leaf of a body the catalogue does not know, by key path.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    /// Kept as JSON wrote it, so text columns show `4`, not `4.0`.
    Number(serde_json::Number),
    /// `{value, unit}`, the OMH shape of a measurement.
    Quantity(serde_json::Number, Option<String>),
    Text(String),
    Bool(bool),
    /// An array, kept as JSON text: it does not flatten into columns.
    Json(String),
}

/// Flatten a body into `(key path, leaf)` pairs; nested objects join their keys with `.`.
fn flatten(body: &Map<String, Value>, prefix: &str, out: &mut Vec<(String, Leaf)>) {
    for (key, value) in body {
        if prefix.is_empty() && key == "effective_time_frame" {
            continue;
        }
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Null => {}
            Value::Bool(b) => out.push((path, Leaf::Bool(*b))),
            Value::Number(n) => out.push((path, Leaf::Number(n.clone()))),
            Value::String(s) => out.push((path, Leaf::Text(s.clone()))),
            Value::Array(_) => out.push((path, Leaf::Json(value.to_string()))),
            Value::Object(map) => match quantity(map) {
                Some((number, unit)) => out.push((path, Leaf::Quantity(number, unit))),
                None => flatten(map, &path, out),
            },
        }
    }
}

/// `{value: <number>, unit: <string>?}` and nothing else.
fn quantity(map: &Map<String, Value>) -> Option<(serde_json::Number, Option<String>)> {
    let Value::Number(number) = map.get("value")? else { return None };
    let unit = match map.get("unit") {
        None => None,
        Some(Value::String(unit)) => Some(unit.clone()),
        Some(_) => return None,
    };
    (map.len() == 1 + usize::from(unit.is_some())).then(|| (number.clone(), unit))
}

/// One code's table in the wide layout.
struct WideTable {
    code: String,
    common: CommonColumns,
    kind: WideKind,
}

enum WideKind {
    Catalogued(Vec<MeasureColumns>),
    /// Leaves per row; column types are settled when the table is finished.
    Flattened(Vec<Vec<(String, Leaf)>>),
}

impl WideTable {
    fn new(code: &str) -> Self {
        let kind = match catalog::lookup(code) {
            Some(spec) => WideKind::Catalogued(spec.measures.iter().map(MeasureColumns::new).collect()),
            None => WideKind::Flattened(Vec::new()),
        };
        Self {
            code: code.to_string(),
            common: CommonColumns::new(),
            kind,
        }
    }

    fn finish(mut self, extras: Option<&[Vec<(String, Leaf)>]>) -> RecordBatch {
        let (mut fields, mut columns) = self.common.finish(true);
        match &mut self.kind {
            WideKind::Catalogued(measures) => {
                for measure in measures {
                    measure.finish(&mut fields, &mut columns);
                }
            }
            WideKind::Flattened(rows) => finish_flattened(rows, &mut fields, &mut columns),
        }
        self.common.finish_extras(extras, &mut fields, &mut columns);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match their schema")
    }
}

/// Columns by key path, typed by what every row holds: all numbers → float64, all
/// booleans → boolean, anything else → text (numbers and booleans written as JSON).
fn finish_flattened(rows: &[Vec<(String, Leaf)>], fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
    // A quantity becomes two columns, `{path}_value` and `{path}_unit`.
    let expanded: Vec<Vec<(String, Leaf)>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .flat_map(|(path, leaf)| match leaf {
                    Leaf::Quantity(number, unit) => {
                        let mut parts = vec![(format!("{path}_value"), Leaf::Number(number.clone()))];
                        parts.extend(unit.clone().map(|u| (format!("{path}_unit"), Leaf::Text(u))));
                        parts
                    }
                    other => vec![(path.clone(), other.clone())],
                })
                .collect()
        })
        .collect();
    let rows = &expanded;
    let mut paths: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    for row in rows {
        for (path, _) in row {
            if seen.insert(path.as_str()) {
                paths.push(path);
            }
        }
    }
    paths.sort_unstable();
    for path in paths {
        let cells: Vec<Option<&Leaf>> = rows.iter().map(|row| row.iter().find(|(p, _)| p == path).map(|(_, l)| l)).collect();
        let column = path.replace('.', "_");
        if cells.iter().flatten().all(|l| matches!(l, Leaf::Number(_))) {
            let values: Float64Builder = cells.iter().fold(Float64Builder::new(), |mut b, cell| {
                b.append_option(match cell {
                    Some(Leaf::Number(n)) => n.as_f64(),
                    _ => None,
                });
                b
            });
            let mut values = values;
            fields.push(Field::new(column, DataType::Float64, true));
            columns.push(Arc::new(values.finish()));
        } else if cells.iter().flatten().all(|l| matches!(l, Leaf::Bool(_))) {
            let mut values = BooleanBuilder::new();
            for cell in &cells {
                values.append_option(match cell {
                    Some(Leaf::Bool(b)) => Some(*b),
                    _ => None,
                });
            }
            fields.push(Field::new(column, DataType::Boolean, true));
            columns.push(Arc::new(values.finish()));
        } else {
            let mut values = StringBuilder::new();
            for cell in &cells {
                values.append_option(cell.map(leaf_text));
            }
            fields.push(Field::new(column, DataType::Utf8, true));
            columns.push(Arc::new(values.finish()));
        }
    }
}

/// Only an OMH document's header and its body's `effective_time_frame`, whole, as written
/// (for extras). A document without `body` is its own body.
#[derive(serde::Deserialize)]
struct RawHeader {
    header: Option<Value>,
    body: Option<Value>,
    effective_time_frame: Option<Value>,
}

/// Every scalar of a JSON value by key path, arrays by index (`identifier.0.system`);
/// nulls are left out.
fn flatten_all(value: &Value, path: String, out: &mut Vec<(String, Leaf)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((path, Leaf::Bool(*b))),
        Value::Number(n) => out.push((path, Leaf::Number(n.clone()))),
        Value::String(s) => out.push((path, Leaf::Text(s.clone()))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_all(item, format!("{path}.{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                flatten_all(item, format!("{path}.{key}"), out);
            }
        }
    }
}

/// Extras columns, named by key path (sorted), typed by what every row holds: integers →
/// int64, numbers → float64, booleans → boolean, date-times (a key ending in `date_time`,
/// every value readable) → UTC timestamp plus `{path}:local`, anything else → text.
fn finish_extras(rows: &[&[(String, Leaf)]], fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
    let mut paths: Vec<&str> = rows.iter().flat_map(|row| row.iter().map(|(p, _)| p.as_str())).collect::<HashSet<_>>().into_iter().collect();
    paths.sort_unstable();
    let mut push = |name: String, data_type: DataType, array: ArrayRef| {
        fields.push(Field::new(name, data_type, true));
        columns.push(array);
    };
    for path in paths {
        let cells: Vec<Option<&Leaf>> = rows.iter().map(|row| row.iter().find(|(p, _)| p == path).map(|(_, l)| l)).collect();
        let present = || cells.iter().flatten();
        if present().all(|l| matches!(l, Leaf::Number(n) if n.is_i64())) {
            let array: arrow_array::Int64Array = cells.iter().map(|c| match c {
                Some(Leaf::Number(n)) => n.as_i64(),
                _ => None,
            }).collect();
            push(path.to_string(), DataType::Int64, Arc::new(array));
        } else if present().all(|l| matches!(l, Leaf::Number(_))) {
            let array: arrow_array::Float64Array = cells.iter().map(|c| match c {
                Some(Leaf::Number(n)) => n.as_f64(),
                _ => None,
            }).collect();
            push(path.to_string(), DataType::Float64, Arc::new(array));
        } else if present().all(|l| matches!(l, Leaf::Bool(_))) {
            let array: BooleanArray = cells.iter().map(|c| match c {
                Some(Leaf::Bool(b)) => Some(*b),
                _ => None,
            }).collect();
            push(path.to_string(), DataType::Boolean, Arc::new(array));
        } else {
            let instants: Option<Vec<Option<time::Instant>>> = path.ends_with("date_time").then(|| {
                cells.iter().map(|c| match c {
                    Some(Leaf::Text(t)) => time::parse_date_time(t).ok().map(Some),
                    Some(_) => None,
                    None => Some(None),
                }).collect::<Option<Vec<_>>>()
            }).flatten();
            if let Some(instants) = instants {
                let mut utc = timestamp_builder();
                let mut local = TimestampMicrosecondBuilder::new();
                for instant in &instants {
                    utc.append_option(instant.map(|i| i.utc_micros));
                    local.append_option(instant.map(|i| i.utc_micros + i64::from(i.offset_seconds.unwrap_or(0)) * 1_000_000));
                }
                push(path.to_string(), utc_timestamp_type(), Arc::new(utc.finish()));
                push(format!("{path}:local"), DataType::Timestamp(TimeUnit::Microsecond, None), Arc::new(local.finish()));
            } else {
                let array: arrow_array::StringArray = cells.iter().map(|c| c.map(leaf_text)).collect();
                push(path.to_string(), DataType::Utf8, Arc::new(array));
            }
        }
    }
}

fn leaf_text(leaf: &Leaf) -> String {
    match leaf {
        Leaf::Number(n) => n.to_string(),
        Leaf::Text(t) => t.clone(),
        Leaf::Bool(b) => b.to_string(),
        Leaf::Json(j) => j.clone(),
        Leaf::Quantity(n, unit) => format!("{n} {}", unit.as_deref().unwrap_or("")).trim_end().to_string(),
    }
}

/// The long layout: one row per observation and measure.
struct LongTable {
    common: CommonColumns,
    measure: Dictionary,
    value: Float64Builder,
    unit: Dictionary,
    canonical_value: Float64Builder,
    canonical_unit: Dictionary,
    text: Dictionary,
    /// Arrival order, so sorting keeps each observation's measures in catalogue order.
    sequence: UInt64Builder,
}

impl LongTable {
    fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            measure: Dictionary::new(),
            value: Float64Builder::new(),
            unit: Dictionary::new(),
            canonical_value: Float64Builder::new(),
            canonical_unit: Dictionary::new(),
            text: Dictionary::new(),
            sequence: UInt64Builder::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        record: &Record<'_>,
        measure: Option<&str>,
        value: Option<f64>,
        unit: Option<&str>,
        canonical: Option<(f64, &str)>,
        text: Option<&str>,
    ) {
        self.common.append(record);
        self.measure.append_option(measure);
        self.value.append_option(value);
        self.unit.append_option(unit);
        self.canonical_value.append_option(canonical.map(|c| c.0));
        self.canonical_unit.append_option(canonical.map(|c| c.1));
        self.text.append_option(text);
        self.sequence.append_value(self.sequence.len() as u64);
    }

    fn push_measure(&mut self, record: &Record<'_>, measure: &Measure, value: &MeasureValue<'_>) -> bool {
        let path = measure.dotted_path();
        let name = Some(path.as_str());
        match value {
            MeasureValue::Missing => return false,
            MeasureValue::Quantity { value, unit, canonical } => {
                let canonical = canonical.zip(measure.canonical_unit());
                self.push(record, name, Some(*value), Some(unit), canonical, None)
            }
            MeasureValue::Amount { value, unit } => self.push(record, name, Some(*value), *unit, None, None),
            MeasureValue::Number(n) => self.push(record, name, Some(*n), None, None, None),
            MeasureValue::Count(n) => {
                let unit = match measure.kind {
                    MeasureKind::Count { unit } => unit,
                    _ => None,
                };
                self.push(record, name, Some(*n as f64), unit, None, None)
            }
            MeasureValue::Text(t) => self.push(record, name, None, None, None, Some(t)),
            MeasureValue::Bool(b) => {
                self.push(record, name, Some(if *b { 1.0 } else { 0.0 }), None, None, Some(if *b { "true" } else { "false" }))
            }
        }
        true
    }

    fn push_leaf(&mut self, record: &Record<'_>, path: &str, leaf: &Leaf) {
        match leaf {
            Leaf::Number(n) => self.push(record, Some(path), n.as_f64(), None, None, None),
            Leaf::Bool(b) => {
                self.push(record, Some(path), Some(if *b { 1.0 } else { 0.0 }), None, None, Some(if *b { "true" } else { "false" }))
            }
            Leaf::Text(t) | Leaf::Json(t) => self.push(record, Some(path), None, None, None, Some(t)),
            Leaf::Quantity(n, unit) => self.push(record, Some(path), n.as_f64(), unit.as_deref(), None, None),
        }
    }

    fn finish(mut self, extras: Option<&[Vec<(String, Leaf)>]>) -> RecordBatch {
        let (mut fields, mut columns) = self.common.finish(false);
        self.common.finish_extras(extras, &mut fields, &mut columns);
        let mut add = |name: &str, data_type: DataType, array: ArrayRef| {
            fields.push(Field::new(name, data_type, true));
            columns.push(array);
        };
        add("measure", dictionary_type(), Arc::new(self.measure.finish()));
        add("value", DataType::Float64, Arc::new(self.value.finish()));
        add("unit", dictionary_type(), Arc::new(self.unit.finish()));
        add("canonical_value", DataType::Float64, Arc::new(self.canonical_value.finish()));
        add("canonical_unit", dictionary_type(), Arc::new(self.canonical_unit.finish()));
        add("text", dictionary_type(), Arc::new(self.text.finish()));
        add("sequence", DataType::UInt64, Arc::new(self.sequence.finish()));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match their schema")
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

/// The payload text the errors table shows for a record with problems.
#[derive(Debug)]
enum RawPayload {
    /// The decoded OMH JSON (its document was readable).
    Decoded(Vec<u8>),
    /// The payload as the server sent it (it could not be decoded or read).
    AsSent(String),
}

/// One observation decoded as far as it can be without a builder: ids and times parsed,
/// the payload base64-decoded and its OMH document and time frame read. This is most of
/// the work, and needs no shared state, so pages are prepared on several threads and then
/// appended in order ([`ObservationTableBuilder::append_prepared`]).
#[derive(Debug)]
pub struct PreparedObservation {
    id: Option<i64>,
    patient_id: Option<i64>,
    /// A catalogued code is borrowed from the catalogue: no allocation per row.
    code: Option<std::borrow::Cow<'static, str>>,
    last_updated: Option<i64>,
    patient_name: Option<String>,
    data_source: Option<String>,
    json: RawPayload,
    document: Result<omh::OmhDocument, String>,
    frame: Option<time::TimeFrame>,
    extras: Option<Vec<(String, Leaf)>>,
    /// Problems found so far, in the order the errors table reports them.
    problems: Vec<String>,
}

impl PreparedObservation {
    /// Decode `input`; with `extras`, also collect what
    /// [`ObservationTableBuilder::with_extras`] carries.
    pub fn new(input: &ObservationInput<'_>, extras: bool) -> Self {
        let id = input.observation_id.trim().parse::<i64>().ok();
        let mut problems: Vec<String> = Vec::new();
        if id.is_none() {
            problems.push(format!("observation id {:?} is not an integer", input.observation_id));
        }
        if input.patient_id.is_none() {
            problems.push("the observation names no patient".into());
        }
        if input.code.is_none() {
            problems.push("the observation has no code".into());
        }
        let last_updated = input.last_updated.and_then(|text| match time::parse_date_time(text) {
            Ok(instant) => Some(instant.utc_micros),
            Err(reason) => {
                problems.push(format!("lastUpdated: {reason}"));
                None
            }
        });
        let mut decoded = Vec::new();
        let json: Result<&[u8], String> = match input.payload {
            Payload::Base64(data) => omh::decode_base64(data, &mut decoded).map(|()| decoded.as_slice()),
            Payload::Json(bytes) => Ok(bytes),
            Payload::Missing => Err("the observation carries no OMH payload".into()),
        };
        let extras = extras.then(|| {
            let mut leaves = Vec::new();
            if let Some(source) = input.meta_source {
                leaves.push(("meta.source".to_string(), Leaf::Text(source.to_string())));
            }
            if let Some(Ok(value)) = input.identifier.map(serde_json::from_str::<Value>) {
                flatten_all(&value, "identifier".to_string(), &mut leaves);
            }
            if let Ok(bytes) = &json {
                if let Ok(raw) = serde_json::from_slice::<RawHeader>(bytes) {
                    if let Some(header) = &raw.header {
                        flatten_all(header, "header".to_string(), &mut leaves);
                    }
                    let frame = match &raw.body {
                        Some(body) => body.get("effective_time_frame"),
                        None => raw.effective_time_frame.as_ref(),
                    };
                    if let Some(frame) = frame {
                        flatten_all(frame, "body.effective_time_frame".to_string(), &mut leaves);
                    }
                }
            }
            leaves
        });
        let document = json.and_then(omh::parse_document);
        let mut frame = None;
        match &document {
            Ok(document) => {
                let body = document.body.as_ref().expect("parse_document checks the body");
                match body.get("effective_time_frame") {
                    Some(value) => match time::parse_time_frame(value) {
                        Ok(parsed) => frame = Some(parsed),
                        Err(reason) => problems.push(format!("effective_time_frame: {reason}")),
                    },
                    None => problems.push("the body has no effective_time_frame".into()),
                }
            }
            Err(reason) => problems.push(reason.clone()),
        }
        let json = match (&document, input.payload) {
            (Ok(_), Payload::Base64(_)) => RawPayload::Decoded(decoded),
            (Ok(_), Payload::Json(bytes)) => RawPayload::Decoded(bytes.to_vec()),
            (Ok(_), Payload::Missing) => unreachable!("a missing payload has no document"),
            (Err(_), payload) => RawPayload::AsSent(payload_as_sent(&payload)),
        };
        let code = input.code.map(|code| match catalog::lookup(code) {
            Some(spec) if spec.code == code => std::borrow::Cow::Borrowed(spec.code),
            _ => std::borrow::Cow::Owned(code.to_string()),
        });
        Self {
            id,
            patient_id: input.patient_id,
            code,
            last_updated,
            patient_name: input.patient_name.map(str::to_string),
            data_source: input.data_source.map(str::to_string),
            json,
            document,
            frame,
            extras,
            problems,
        }
    }
}

/// Where an API adapter puts the observations it reads off a page.
pub trait ObservationSink {
    fn accept(&mut self, input: &ObservationInput<'_>) -> Appended;
}

impl ObservationSink for ObservationTableBuilder {
    fn accept(&mut self, input: &ObservationInput<'_>) -> Appended {
        self.append(input)
    }
}

/// A page's observations prepared for appending later ([`PreparedObservation`]).
#[derive(Debug, Default)]
pub struct PreparedPage {
    pub observations: Vec<PreparedObservation>,
    extras: bool,
}

impl PreparedPage {
    pub fn new(extras: bool) -> Self {
        Self { observations: Vec::new(), extras }
    }
}

impl ObservationSink for PreparedPage {
    /// Duplicates are only known when appended, so every row is accepted here.
    fn accept(&mut self, input: &ObservationInput<'_>) -> Appended {
        self.observations.push(PreparedObservation::new(input, self.extras));
        Appended::Row
    }
}

/// The finished tables of one fetch.
#[derive(Debug)]
pub struct ObservationTables {
    pub layout: Layout,
    /// Wide: one table per code (catalogue order, then first appearance). Long: one table,
    /// with no code.
    pub tables: Vec<(Option<String>, RecordBatch)>,
    pub errors: RecordBatch,
    /// Rows received twice and skipped.
    pub duplicates: u64,
    /// Observations whose OMH uuid another observation also carries (flagged, not merged).
    pub duplicate_uuids: u64,
    /// Distinct observations.
    pub observations: u64,
}

pub struct ObservationTableBuilder {
    layout: Layout,
    wide: Vec<WideTable>,
    wide_index: HashMap<String, usize>,
    long: LongTable,
    rows: usize,
    /// Observation ids received: a compressed bitmap (ids are mostly dense database ids; a
    /// million take well under a megabyte; a hash set of them takes about 19 MB: 2^21 buckets).
    seen_ids: roaring::RoaringTreemap,
    duplicates: u64,
    /// Every observation's OMH uuid, to find the ones carried more than once at the end.
    uuids: UuidList,
    newest_last_updated: Option<i64>,
    /// The same, since [`Self::start_page`]: a snapshot bound is per search, not global.
    page_newest_last_updated: Option<i64>,
    errors: ErrorsBuilder,
    /// Reused for flattening bodies of unknown codes.
    leaves: Vec<(String, Leaf)>,
    /// With extras: per observation, its OMH header, `meta.source`, `identifier` and
    /// `body.effective_time_frame` leaves.
    extras: Option<Vec<Vec<(String, Leaf)>>>,
}

impl ObservationTableBuilder {
    /// `expected_codes` get their wide tables even when no row arrives, so an empty result
    /// still has the columns a caller will index.
    pub fn new(layout: Layout, expected_codes: &[&str]) -> Self {
        let mut builder = Self {
            layout,
            wide: Vec::new(),
            wide_index: HashMap::new(),
            long: LongTable::new(),
            rows: 0,
            seen_ids: roaring::RoaringTreemap::new(),
            duplicates: 0,
            uuids: UuidList::default(),
            newest_last_updated: None,
            page_newest_last_updated: None,
            errors: ErrorsBuilder::default(),
            leaves: Vec::new(),
            extras: None,
        };
        if layout == Layout::Wide {
            for code in expected_codes {
                builder.wide_table(code);
            }
        }
        builder
    }

    /// Also carry, as extra columns, every observation's whole OMH header by key path
    /// (`header.schema_id.name`, ...), the FHIR `meta.source` and the resource's
    /// `identifier` list (`identifier.0.system`, ...) and the body's `effective_time_frame`
    /// as written (`body.effective_time_frame.time_interval.duration.value`, ...). Leaves
    /// under a key ending in `date_time` that all parse become UTC timestamps, with a `{path}:local` twin (wall
    /// time in the offset written, no timezone).
    pub fn with_extras(mut self) -> Self {
        self.extras = Some(Vec::new());
        self
    }

    /// Distinct observations so far.
    pub fn rows(&self) -> usize {
        self.rows
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

    fn wide_table(&mut self, code: &str) -> usize {
        if let Some(&index) = self.wide_index.get(code) {
            return index;
        }
        self.wide.push(WideTable::new(code));
        self.wide_index.insert(code.to_string(), self.wide.len() - 1);
        self.wide.len() - 1
    }

    /// Whether [`Self::with_extras`] was asked for (prepared observations must carry them).
    pub fn wants_extras(&self) -> bool {
        self.extras.is_some()
    }

    pub fn append(&mut self, input: &ObservationInput<'_>) -> Appended {
        // Skip a duplicate before decoding it.
        if let Ok(id) = input.observation_id.trim().parse::<i64>() {
            if self.seen_ids.contains(id as u64) {
                self.duplicates += 1;
                return Appended::Duplicate;
            }
        }
        let prepared = PreparedObservation::new(input, self.extras.is_some());
        self.append_prepared(prepared)
    }

    /// Add an observation decoded by [`PreparedObservation::new`] (possibly on another
    /// thread). Observations must be appended in the order the server sent them.
    pub fn append_prepared(&mut self, prepared: PreparedObservation) -> Appended {
        let PreparedObservation { id, patient_id, code, last_updated, patient_name, data_source, json, document, frame, extras, mut problems } =
            prepared;
        if let Some(id) = id {
            // `as u64` is a bijection, so negative ids stay distinct.
            if !self.seen_ids.insert(id as u64) {
                self.duplicates += 1;
                return Appended::Duplicate;
            }
        }
        if let Some(at) = last_updated {
            self.newest_last_updated = Some(self.newest_last_updated.map_or(at, |newest| newest.max(at)));
            self.page_newest_last_updated = Some(self.page_newest_last_updated.map_or(at, |newest| newest.max(at)));
        }
        if let Some(all) = &mut self.extras {
            all.push(extras.unwrap_or_default());
        }
        let code = code.as_deref();
        let mut record = Record {
            id,
            patient_id,
            code,
            last_updated,
            patient_name: patient_name.as_deref(),
            data_source: data_source.as_deref(),
            extras: self.extras.as_ref().map(|e| (e.len() - 1) as u32),
            ..Record::default()
        };
        if let Some(frame) = frame {
            record.start = Some(frame.start);
            record.end = frame.end;
            record.offset = frame.offset_seconds;
        }
        let body = match &document {
            Ok(document) => {
                record.uuid = document.header.uuid.as_deref();
                record.modality = document.header.modality.as_deref();
                record.source_name =
                    document.header.acquisition_provenance.as_ref().and_then(|p| p.source_name.as_deref());
                document.body.as_ref()
            }
            Err(_) => None,
        };
        if let Some(uuid) = record.uuid {
            self.uuids.push(uuid);
        }
        let spec: Option<&'static CodeSpec> = code.and_then(catalog::lookup);
        match self.layout {
            Layout::Wide => {
                // A record without a code still gets a row, in the table of code "".
                let index = self.wide_table(code.unwrap_or(""));
                let table = &mut self.wide[index];
                table.common.append(&record);
                match &mut table.kind {
                    WideKind::Catalogued(measures) => {
                        for column in measures.iter_mut() {
                            let reading = match body {
                                Some(body) => column.measure.read(body),
                                None => catalog::Reading { value: MeasureValue::Missing, problem: None },
                            };
                            if let Some(problem) = reading.problem {
                                problems.push(problem);
                            }
                            column.append(&reading.value);
                        }
                    }
                    WideKind::Flattened(rows) => {
                        let mut leaves = Vec::new();
                        if let Some(body) = body {
                            flatten(body, "", &mut leaves);
                        }
                        rows.push(leaves);
                    }
                }
            }
            Layout::Long => {
                let mut pushed = false;
                match (spec, body) {
                    (Some(spec), Some(body)) => {
                        for measure in spec.measures {
                            let reading = measure.read(body);
                            if let Some(problem) = reading.problem {
                                problems.push(problem);
                            }
                            pushed |= self.long.push_measure(&record, measure, &reading.value);
                        }
                    }
                    (None, Some(body)) => {
                        let mut leaves = std::mem::take(&mut self.leaves);
                        leaves.clear();
                        flatten(body, "", &mut leaves);
                        for (path, leaf) in &leaves {
                            self.long.push_leaf(&record, path, leaf);
                            pushed = true;
                        }
                        self.leaves = leaves;
                    }
                    _ => {}
                }
                if !pushed {
                    // No measure could be read: one row still stands for the observation.
                    self.long.push(&record, None, None, None, None, None);
                }
            }
        }
        if !problems.is_empty() {
            let raw = match (&document, json) {
                (Ok(_), RawPayload::Decoded(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                (_, RawPayload::Decoded(_)) => unreachable!("an unreadable document keeps its payload as sent"),
                (_, RawPayload::AsSent(text)) => text,
            };
            self.errors.push(id, code, &problems.join("; "), &raw);
        }
        self.rows += 1;
        Appended::Row
    }

    pub fn finish(mut self) -> ObservationTables {
        let (repeated_uuids, duplicate_uuids) = std::mem::take(&mut self.uuids).repeated();
        let tables: Vec<(Option<String>, RecordBatch)> = match self.layout {
            Layout::Wide => {
                // Catalogue order first, then codes in order of appearance.
                let rank = |code: &str| {
                    catalog::CATALOG.iter().position(|spec| spec.code == code).unwrap_or(usize::MAX)
                };
                let mut wide = std::mem::take(&mut self.wide);
                wide.sort_by_key(|table| rank(&table.code));
                let extras = self.extras.as_deref();
                wide.into_iter()
                    .map(|table| (Some(table.code.clone()), table.finish(extras)))
                    .collect()
            }
            Layout::Long => {
                let long = std::mem::replace(&mut self.long, LongTable::new());
                vec![(None, long.finish(self.extras.as_deref()))]
            }
        };
        let tables = tables
            .into_iter()
            .map(|(code, batch)| (code, with_duplicate_uuid_flags(batch, &repeated_uuids)))
            .collect();
        ObservationTables {
            layout: self.layout,
            tables,
            errors: self.errors.finish(),
            duplicates: self.duplicates,
            duplicate_uuids,
            observations: self.rows as u64,
        }
    }
}

/// An OMH uuid as a map key: a canonical uuid as its 128 bits (no allocation per
/// observation: a million of them as strings cost about 70 MB more), anything else as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum UuidKey {
    Canonical(u128),
    Other(Box<str>),
}

impl UuidKey {
    fn of(text: &str) -> Self {
        // 8-4-4-4-12 lowercase hex digits (other spellings are different texts: kept apart).
        if text.len() == 36 {
            let mut bits: u128 = 0;
            let canonical = text.bytes().enumerate().all(|(i, b)| match (i, b) {
                (8 | 13 | 18 | 23, b'-') => true,
                (8 | 13 | 18 | 23, _) => false,
                (_, b'0'..=b'9') => {
                    bits = bits << 4 | u128::from(b - b'0');
                    true
                }
                (_, b'a'..=b'f') => {
                    bits = bits << 4 | u128::from(b - b'a' + 10);
                    true
                }
                _ => false,
            });
            if canonical {
                return Self::Canonical(bits);
            }
        }
        Self::Other(text.into())
    }
}

/// The uuids of all observations so far: 16 bytes each for canonical ones (a map of counts
/// took about 100 MB for a million observations; this takes 16 MB).
#[derive(Debug, Default)]
struct UuidList {
    canonical: Vec<u128>,
    other: Vec<Box<str>>,
}

impl UuidList {
    fn push(&mut self, uuid: &str) {
        match UuidKey::of(uuid) {
            UuidKey::Canonical(bits) => self.canonical.push(bits),
            UuidKey::Other(text) => self.other.push(text),
        }
    }

    /// The uuids carried by more than one observation, and how many observations carry one.
    fn repeated(self) -> (HashSet<UuidKey>, u64) {
        fn runs<T: Ord>(mut keys: Vec<T>, mut found: impl FnMut(T, usize)) {
            keys.sort_unstable();
            let mut keys = keys.into_iter().peekable();
            while let Some(key) = keys.next() {
                let mut n = 1;
                while keys.next_if(|next| *next == key).is_some() {
                    n += 1;
                }
                if n > 1 {
                    found(key, n);
                }
            }
        }
        let mut repeated = HashSet::new();
        let mut observations = 0;
        runs(self.canonical, |bits, n| {
            repeated.insert(UuidKey::Canonical(bits));
            observations += n as u64;
        });
        runs(self.other, |text, n| {
            repeated.insert(UuidKey::Other(text));
            observations += n as u64;
        });
        (repeated, observations)
    }
}

/// Add `duplicate_uuid`: true where another observation carries the same OMH uuid.
fn with_duplicate_uuid_flags(batch: RecordBatch, repeated: &HashSet<UuidKey>) -> RecordBatch {
    let uuids = batch.column_by_name("uuid").expect("common column").as_string::<i32>();
    let flags: BooleanArray = (0..uuids.len())
        .map(|i| Some(uuids.is_valid(i) && !repeated.is_empty() && repeated.contains(&UuidKey::of(uuids.value(i)))))
        .collect();
    let index = batch.schema().index_of("uuid").expect("common column") + 1;
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    fields.insert(index, Field::new("duplicate_uuid", DataType::Boolean, false));
    columns.insert(index, Arc::new(flags));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one more column of the same length")
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

    /// Rows to keep. A row whose time or code could not be read is kept: it is in the
    /// errors table, and dropping it would lose it silently.
    fn mask(&self, batch: &RecordBatch) -> BooleanArray {
        let start = batch.column_by_name("effective_start").expect("common column").as_primitive::<TimestampMicrosecondType>();
        let updated = batch.column_by_name("last_updated").expect("common column").as_primitive::<TimestampMicrosecondType>();
        let codes = batch.column_by_name("code").expect("common column").as_dictionary::<Int32Type>();
        let code_values = codes.values().as_string::<i32>();
        let wanted_code: Vec<bool> = (0..code_values.len())
            .map(|i| self.codes.is_empty() || self.codes.iter().any(|c| c == code_values.value(i)))
            .collect();
        (0..batch.num_rows())
            .map(|row| {
                let in_time = start.is_null(row) || {
                    let t = start.value(row);
                    self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
                };
                let fresh = updated.is_null(row) || self.updated_since.is_none_or(|s| updated.value(row) >= s);
                let code_ok = codes.is_null(row) || wanted_code[codes.keys().value(row) as usize];
                Some(in_time && fresh && code_ok)
            })
            .collect()
    }
}

impl ObservationTables {
    /// Keep rows matching `filter`, in every table.
    pub fn retain(&mut self, filter: &ClientFilter) {
        if filter.is_empty() {
            return;
        }
        for (_, batch) in &mut self.tables {
            *batch = filter_record_batch(batch, &filter.mask(batch)).expect("a mask of the batch's length");
        }
        if !filter.codes.is_empty() {
            self.tables.retain(|(code, _)| code.as_ref().is_none_or(|c| filter.codes.contains(c)));
        }
    }

    /// Newest first (`last_updated`, then id, both descending): the servers' order, made
    /// deterministic whatever order pages arrived in. The long layout keeps each
    /// observation's measures in catalogue order, then drops its arrival counter.
    pub fn sort_newest_first(&mut self) {
        let descending = Some(SortOptions { descending: true, nulls_first: false });
        for (_, batch) in &mut self.tables {
            let mut keys = vec![
                SortColumn { values: batch.column_by_name("last_updated").expect("common column").clone(), options: descending },
                SortColumn { values: batch.column_by_name("observation_id").expect("common column").clone(), options: descending },
            ];
            if let Some(sequence) = batch.column_by_name("sequence") {
                keys.push(SortColumn { values: sequence.clone(), options: None });
            }
            let order = lexsort_to_indices(&keys, None).expect("sortable columns");
            drop(keys);
            let already_sorted = order.values().iter().enumerate().all(|(i, &j)| i as u32 == j);
            let mut sorted = if already_sorted {
                batch.clone()
            } else {
                // Column by column, each source column freed as soon as it is reordered:
                // the peak is the table plus one column, not two tables.
                let (schema, columns, _) = std::mem::replace(batch, RecordBatch::new_empty(Arc::new(Schema::empty()))).into_parts();
                let columns = columns
                    .into_iter()
                    .map(|column| arrow_select::take::take(&column, &order, None).expect("indices within the batch"))
                    .collect();
                RecordBatch::try_new(schema, columns).expect("the same schema, reordered")
            };
            if let Ok(index) = sorted.schema().index_of("sequence") {
                sorted.remove_column(index);
            }
            *batch = sorted;
        }
    }
}

/// The payload as the server sent it, for the errors table.
fn payload_as_sent(payload: &Payload<'_>) -> String {
    match payload {
        Payload::Base64(data) => String::from_utf8_lossy(data).into_owned(),
        Payload::Json(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Payload::Missing => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::{DurationSecondType, Float64Type, Int64Type};
    use base64::Engine as _;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn input<'a>(id: &'a str, code: &'a str, data: &'a str) -> ObservationInput<'a> {
        ObservationInput {
            patient_id: Some(40001),
            last_updated: Some("2026-11-26T06:47:52.169870Z"),
            ..ObservationInput::new(id, Some(code), Payload::Base64(data.as_bytes()))
        }
    }

    const GLUCOSE: &str = r#"{"header":{"uuid":"u1","modality":"sensed"},"body":{"effective_time_frame":{"date_time":"2024-05-02T08:30:00-07:00"},"blood_glucose":{"value":105,"unit":"mg/dL"},"temporal_relationship_to_meal":"fasting"}}"#;
    const HEART: &str = r#"{"header":{"uuid":"u2"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"heart_rate":{"value":61.5,"unit":"beats/min"}}}"#;
    const UNKNOWN: &str = r#"{"header":{"uuid":"u3"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"mood":{"score":4,"label":"good"},"tags":["a","b"],"ok":true,"level":{"value":55.5,"unit":"dB"}}}"#;

    fn table<'a>(tables: &'a ObservationTables, code: &str) -> &'a RecordBatch {
        &tables.tables.iter().find(|(c, _)| c.as_deref() == Some(code)).unwrap().1
    }

    #[test]
    fn wide_tables_per_code_with_typed_columns() {
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let (g, h) = (b64(GLUCOSE), b64(HEART));
        builder.append(&input("1", "omh:heart-rate:2.0", &h));
        builder.append(&input("2", "omh:blood-glucose:4.0", &g));
        let tables = builder.finish();
        assert_eq!(tables.errors.num_rows(), 0);
        let codes: Vec<_> = tables.tables.iter().map(|(c, _)| c.clone().unwrap()).collect();
        assert_eq!(codes, ["omh:blood-glucose:4.0", "omh:heart-rate:2.0"], "catalogue order");
        let glucose = table(&tables, "omh:blood-glucose:4.0");
        let names: Vec<_> = glucose.schema().fields().iter().map(|f| f.name().clone()).collect();
        for name in ["timestamp", "effective_start", "utc_offset", "glucose_mg_dl", "glucose_value", "glucose_unit", "meal_context", "duplicate_uuid"] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert!(!names.contains(&"patient_name".to_string()), "FHIR gives no patient name");
        assert_eq!(glucose.column_by_name("glucose_mg_dl").unwrap().as_primitive::<Float64Type>().value(0), 105.0);
        let offset = glucose.column_by_name("utc_offset").unwrap().as_primitive::<DurationSecondType>();
        assert_eq!(offset.value(0), -7 * 3600);
        let start = glucose.column_by_name("effective_start").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(start.value(0), 1_714_663_800_000_000);
        let heart = table(&tables, "omh:heart-rate:2.0");
        assert_eq!(heart.column_by_name("heart_rate_bpm").unwrap().as_primitive::<Float64Type>().value(0), 61.5);
        assert!(heart.column_by_name("glucose_mg_dl").is_none());
    }

    #[test]
    fn long_layout_one_row_per_measure_and_unknown_codes_flattened() {
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]);
        let (g, u) = (b64(GLUCOSE), b64(UNKNOWN));
        builder.append(&input("1", "omh:blood-glucose:4.0", &g));
        let mut named = input("2", "x:mood:1.0", &u);
        named.patient_name = Some("Ada Lovelace");
        builder.append(&named);
        builder.append(&input("3", "omh:heart-rate:2.0", "%%%"));
        let mut tables = builder.finish();
        tables.sort_newest_first();
        let long = &tables.tables[0].1;
        let measures: Vec<String> = (0..long.num_rows())
            .map(|i| {
                let m = long.column_by_name("measure").unwrap().as_dictionary::<Int32Type>();
                if m.is_null(i) { "-".into() } else { m.values().as_string::<i32>().value(m.keys().value(i) as usize).to_string() }
            })
            .collect();
        // newest first by id (same lastUpdated); catalogue order within an observation; the
        // undecodable observation keeps one row; unknown keys sorted by path
        assert_eq!(measures, ["-", "level", "mood.label", "mood.score", "ok", "tags", "blood_glucose", "temporal_relationship_to_meal"]);
        let value = long.column_by_name("value").unwrap().as_primitive::<Float64Type>();
        assert_eq!(value.value(6), 105.0);
        assert_eq!(value.value(3), 4.0);
        assert_eq!(value.value(1), 55.5);
        let unit = long.column_by_name("unit").unwrap().as_dictionary::<Int32Type>();
        assert_eq!(unit.values().as_string::<i32>().value(unit.keys().value(1) as usize), "dB");
        assert!(long.column_by_name("patient_name").is_some());
        assert!(long.column_by_name("sequence").is_none());
        assert_eq!(tables.errors.num_rows(), 1);
    }

    #[test]
    fn unknown_codes_in_wide_layout_get_columns_by_key_path() {
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let u = b64(UNKNOWN);
        builder.append(&input("1", "x:mood:1.0", &u));
        let other = b64(&UNKNOWN.replace(r#""score":4"#, r#""score":"high""#));
        builder.append(&input("2", "x:mood:1.0", &other));
        let tables = builder.finish();
        let mood = table(&tables, "x:mood:1.0");
        assert_eq!(mood.schema().field_with_name("ok").unwrap().data_type(), &DataType::Boolean);
        assert_eq!(mood.schema().field_with_name("tags").unwrap().data_type(), &DataType::Utf8);
        // a number in one row and text in another: text, nothing lost
        let score = mood.column_by_name("mood_score").unwrap().as_string::<i32>();
        assert_eq!((score.value(0), score.value(1)), ("4", "high"));
        assert_eq!(mood.schema().field_with_name("level_value").unwrap().data_type(), &DataType::Float64);
        assert_eq!(mood.column_by_name("level_unit").unwrap().as_string::<i32>().value(0), "dB");
    }

    #[test]
    fn bad_records_are_kept_and_reported_duplicates_skipped_and_uuids_flagged() {
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &["omh:blood-glucose:4.0"]);
        let good = b64(GLUCOSE);
        let no_unit = b64(r#"{"header":{"uuid":"u1"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"blood_glucose":{"value":5}}}"#);
        assert_eq!(builder.append(&input("1", "omh:blood-glucose:4.0", &good)), Appended::Row);
        assert_eq!(builder.append(&input("1", "omh:blood-glucose:4.0", &good)), Appended::Duplicate);
        builder.append(&input("2", "omh:blood-glucose:4.0", "%%%not-base64"));
        builder.append(&input("3", "omh:blood-glucose:4.0", &no_unit));
        builder.append(&input("4", "omh:blood-glucose:4.0", &b64("{\"header\":")));
        let tables = builder.finish();
        let glucose = table(&tables, "omh:blood-glucose:4.0");
        assert_eq!(glucose.num_rows(), 4);
        assert_eq!(tables.duplicates, 1);
        let errors = &tables.errors;
        assert_eq!(errors.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![2, 3, 4]);
        let reasons = errors.column(2).as_string::<i32>();
        assert!(reasons.value(0).contains("base64"));
        assert!(reasons.value(1).contains("no unit"));
        assert!(reasons.value(2).contains("not a valid OMH JSON"));
        // observations 1 and 3 share uuid u1: both flagged, neither merged
        let flags = glucose.column_by_name("duplicate_uuid").unwrap().as_boolean();
        assert_eq!((0..4).map(|i| flags.value(i)).collect::<Vec<_>>(), vec![true, false, true, false]);
        assert_eq!(tables.duplicate_uuids, 2);
    }

    #[test]
    fn client_side_filters_keep_unreadable_rows_and_sorting_is_newest_first() {
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]);
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
        let ids = tables.tables[0].1.column(0).as_primitive::<Int64Type>().values().to_vec();
        // 1 is too early, 4 is another code; 3 has no readable time and is kept
        assert_eq!(ids, vec![3, 2]);
    }

    #[test]
    fn extras_carry_the_header_meta_source_and_identifier_typed() {
        let doc = r#"{"header":{"uuid":"u9","schema_id":{"name":"blood-glucose","version":"4.0"},"source_creation_date_time":"2024-05-02T08:29:00-07:00","external_datasheets":[{"datasheet_type":"manufacturer"}],"n":3},"body":{"effective_time_frame":{"date_time":"2024-05-02T08:30:00-07:00"},"blood_glucose":{"value":105,"unit":"mg/dL"}}}"#;
        let data = b64(doc);
        for layout in [Layout::Long, Layout::Wide] {
            // off by default: the normal layouts are unchanged
            let mut plain = ObservationTableBuilder::new(layout, &[]);
            plain.append(&input("1", "omh:blood-glucose:4.0", &data));
            assert!(plain.finish().tables[0].1.column_by_name("header.uuid").is_none());
            let mut builder = ObservationTableBuilder::new(layout, &[]).with_extras();
            let mut row = input("1", "omh:blood-glucose:4.0", &data);
            row.meta_source = Some("urn:src");
            row.identifier = Some(r#"[{"system":"urn:sys","value":"ih-1"}]"#);
            builder.append(&row);
            builder.append(&input("2", "omh:blood-glucose:4.0", &b64(GLUCOSE)));
            let tables = builder.finish();
            let batch = &tables.tables[0].1;
            let text = |name: &str, i: usize| batch.column_by_name(name).unwrap().as_string::<i32>().value(i).to_string();
            assert_eq!(text("meta.source", 0), "urn:src");
            assert_eq!(text("identifier.0.value", 0), "ih-1");
            assert_eq!(text("header.schema_id.version", 0), "4.0");
            assert_eq!(text("header.external_datasheets.0.datasheet_type", 0), "manufacturer");
            assert!(batch.column_by_name("meta.source").unwrap().is_null(batch.num_rows() - 1));
            assert_eq!(batch.column_by_name("header.n").unwrap().data_type(), &DataType::Int64);
            let utc = batch.column_by_name("header.source_creation_date_time").unwrap().as_primitive::<TimestampMicrosecondType>();
            assert_eq!(utc.value(0), 1_714_663_740_000_000);
            let local = batch.column_by_name("header.source_creation_date_time:local").unwrap();
            assert_eq!(local.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, None));
            assert_eq!(local.as_primitive::<TimestampMicrosecondType>().value(0), 1_714_663_740_000_000 - 7 * 3_600_000_000);
            let frame = batch.column_by_name("body.effective_time_frame.date_time").unwrap().as_primitive::<TimestampMicrosecondType>();
            assert_eq!(frame.value(0), 1_714_663_800_000_000);
            assert!(batch.column_by_name("body.effective_time_frame.date_time:local").is_some());
        }
        // an interval as written: start + duration, date + part_of_day
        let doc = r#"{"header":{"uuid":"u8"},"body":{"effective_time_frame":{"time_interval":{"start_date_time":"2024-05-02T08:00:00+02:00","duration":{"value":30,"unit":"min"}}},"step_count":{"value":10,"unit":"steps"}}}"#;
        let other = r#"{"header":{"uuid":"u7"},"body":{"effective_time_frame":{"time_interval":{"date":"2024-05-02","part_of_day":"morning"}},"step_count":{"value":5,"unit":"steps"}}}"#;
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]).with_extras();
        builder.append(&input("1", "omh:step-count:2.0", &b64(doc)));
        builder.append(&input("2", "omh:step-count:2.0", &b64(other)));
        let tables = builder.finish();
        let batch = &tables.tables[0].1;
        let duration = batch.column_by_name("body.effective_time_frame.time_interval.duration.value").unwrap();
        assert_eq!(duration.data_type(), &DataType::Int64);
        let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().iter().flatten().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(text("body.effective_time_frame.time_interval.duration.unit"), ["min"]);
        assert_eq!(text("body.effective_time_frame.time_interval.part_of_day"), ["morning"]);
        assert_eq!(text("body.effective_time_frame.time_interval.date"), ["2024-05-02"]);
        let start = batch.column_by_name("body.effective_time_frame.time_interval.start_date_time").unwrap();
        assert_eq!(start.data_type(), &utc_timestamp_type());
        assert!(batch.column_by_name("body.effective_time_frame.time_interval.end_date_time").is_none());
    }

    #[test]
    fn uuid_keys_keep_every_distinct_text_apart() {
        let a = "c665a711-ce43-43a5-a2b5-a149125e5f48";
        assert_eq!(UuidKey::of(a), UuidKey::of(a));
        assert_eq!(UuidKey::of(a), UuidKey::Canonical(0xc665a711_ce43_43a5_a2b5_a149125e5f48));
        assert_ne!(UuidKey::of(a), UuidKey::of("c665a711-ce43-43a5-a2b5-a149125e5f49"));
        // Another spelling of the same bits is another text, as a String key would have it.
        assert_eq!(UuidKey::of(&a.to_uppercase()), UuidKey::Other(a.to_uppercase().into()));
        assert_eq!(UuidKey::of("not-a-uuid"), UuidKey::Other("not-a-uuid".into()));
        assert_eq!(UuidKey::of("c665a711ce4343a5a2b5a149125e5f48xxxx"), UuidKey::Other("c665a711ce4343a5a2b5a149125e5f48xxxx".into()));
        let mut list = UuidList::default();
        for uuid in [a, "x", a, "y", "x", a, "c665a711-ce43-43a5-a2b5-a149125e5f49"] {
            list.push(uuid);
        }
        let (repeated, observations) = list.repeated();
        assert_eq!(repeated, HashSet::from([UuidKey::of(a), UuidKey::of("x")]));
        assert_eq!(observations, 5);
    }

    #[test]
    fn requested_codes_have_their_columns_without_rows() {
        let tables = ObservationTableBuilder::new(Layout::Wide, &["omh:blood-pressure:4.0"]).finish();
        let schema = tables.tables[0].1.schema();
        assert!(schema.field_with_name("systolic_mmhg").is_ok());
        assert!(schema.field_with_name("diastolic_mmhg").is_ok());
        assert_eq!(tables.tables[0].1.num_rows(), 0);
    }
}
