//! Column types for leaves by key path, settled when a table is finished, from what every
//! row holds: the one place a JSON value's column type is chosen. Used for the bodies of
//! codes the catalogue does not know, for the extras and for the flat layout's columns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::TimestampMicrosecondBuilder;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, StringArray};
use arrow_schema::{DataType, TimeUnit};

use super::columns::{Columns, timestamp_builder, utc_timestamp_type};
use crate::decode::flatten::{Leaf, Leaves};
use crate::decode::omh::time::{self, Instant};

/// How a set of rows' leaves become columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typing {
    /// A body: numbers → float64, booleans → boolean, anything else → text; a column is
    /// named by its path with `_` for `.`.
    Body,
    /// Extras: integers → int64 too, and date-times (a key ending in `date_time`, every
    /// value readable) → UTC timestamp plus `{path}:local` (wall time in the offset written,
    /// no timezone); a column is named by its path as is.
    Extras,
}

/// The type every present cell of a column fits.
enum ColumnType {
    Integer,
    Float,
    Boolean,
    DateTime(Vec<Option<Instant>>),
    Text,
}

/// Columns for the bodies of an unknown code, one row of leaves per observation. A quantity
/// becomes two columns, `{path}_value` and `{path}_unit`.
pub(super) fn body_columns(rows: &[Leaves], out: &mut Columns) {
    let expanded: Vec<Leaves> = rows.iter().map(|row| row.iter().flat_map(expand_quantity).collect()).collect();
    let rows: Vec<&[(String, Leaf)]> = expanded.iter().map(Vec::as_slice).collect();
    typed_columns(&rows, Typing::Body, out);
}

/// The extras columns, one row of leaves per observation.
pub(super) fn extras_columns(rows: &[&[(String, Leaf)]], out: &mut Columns) {
    typed_columns(rows, Typing::Extras, out);
}

fn expand_quantity((path, leaf): &(String, Leaf)) -> Vec<(String, Leaf)> {
    match leaf {
        Leaf::Quantity(number, unit) => {
            let mut parts = vec![(format!("{path}_value"), Leaf::Number(number.clone()))];
            parts.extend(unit.clone().map(|u| (format!("{path}_unit"), Leaf::Text(u))));
            parts
        }
        other => vec![(path.clone(), other.clone())],
    }
}

/// One column per key path any row has, sorted by path.
fn typed_columns(rows: &[&[(String, Leaf)]], typing: Typing, out: &mut Columns) {
    let mut paths: Vec<&str> =
        rows.iter().flat_map(|row| row.iter().map(|(p, _)| p.as_str())).collect::<HashSet<_>>().into_iter().collect();
    paths.sort_unstable();
    for path in paths {
        let cells: Vec<Option<&Leaf>> = rows.iter().map(|row| row.iter().find(|(p, _)| p == path).map(|(_, l)| l)).collect();
        let name = match typing {
            Typing::Body => path.replace('.', "_"),
            Typing::Extras => path.to_string(),
        };
        let extras = typing == Typing::Extras;
        push_column(name, &cells, column_type(&cells, extras, extras && path.ends_with("date_time")), out);
    }
}

/// `integers`: int64 for integers only; `date_times`: timestamps if every text parses.
fn column_type(cells: &[Option<&Leaf>], integers: bool, date_times: bool) -> ColumnType {
    let present = || cells.iter().flatten();
    if integers && present().all(|l| matches!(l, Leaf::Number(n) if n.is_i64())) {
        return ColumnType::Integer;
    }
    if present().all(|l| matches!(l, Leaf::Number(_))) {
        return ColumnType::Float;
    }
    if present().all(|l| matches!(l, Leaf::Bool(_))) {
        return ColumnType::Boolean;
    }
    if date_times {
        let instants: Option<Vec<Option<Instant>>> = cells
            .iter()
            .map(|c| match c {
                Some(Leaf::Text(t)) => time::parse_date_time(t).ok().map(Some),
                Some(_) => None,
                None => Some(None),
            })
            .collect();
        if let Some(instants) = instants {
            return ColumnType::DateTime(instants);
        }
    }
    ColumnType::Text
}

fn push_column(name: String, cells: &[Option<&Leaf>], column_type: ColumnType, out: &mut Columns) {
    match column_type {
        ColumnType::DateTime(instants) => {
            let local_name = format!("{name}:local");
            out.push(name, utc_timestamp_type(), utc_array(&instants));
            out.push(local_name, DataType::Timestamp(TimeUnit::Microsecond, None), local_array(&instants));
        }
        other => {
            let (data_type, array) = single_array(cells, other);
            out.push(name, data_type, array);
        }
    }
}

/// How the flat layout types one of its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlatKind {
    Plain,
    /// `*date_time` and `meta_lastUpdated`: UTC timestamps when every text parses.
    Utc,
    /// `*_date_time_local`: wall time in the offset written, no timezone.
    Local,
}

/// A flat-layout column: integers → int64, numbers → float64, booleans → boolean, a date-
/// time column whose texts all parse → timestamps, anything else → text; only JSON nulls →
/// the null type.
pub(super) fn flat_array(cells: &[Option<&Leaf>], kind: FlatKind) -> (DataType, ArrayRef) {
    if cells.iter().all(Option::is_none) {
        return (DataType::Null, Arc::new(NullArray::new(cells.len())));
    }
    match column_type(cells, true, kind != FlatKind::Plain) {
        ColumnType::DateTime(instants) if kind == FlatKind::Local => {
            (DataType::Timestamp(TimeUnit::Microsecond, None), local_array(&instants))
        }
        ColumnType::DateTime(instants) => (utc_timestamp_type(), utc_array(&instants)),
        other => single_array(cells, other),
    }
}

fn utc_array(instants: &[Option<Instant>]) -> ArrayRef {
    let mut utc = timestamp_builder();
    for instant in instants {
        utc.append_option(instant.map(|i| i.utc_micros));
    }
    Arc::new(utc.finish())
}

fn local_array(instants: &[Option<Instant>]) -> ArrayRef {
    let mut local = TimestampMicrosecondBuilder::new();
    for instant in instants {
        local.append_option(instant.map(|i| i.utc_micros + i64::from(i.offset_seconds.unwrap_or(0)) * 1_000_000));
    }
    Arc::new(local.finish())
}

/// A column of one array (any type but a date-time's pair).
fn single_array(cells: &[Option<&Leaf>], column_type: ColumnType) -> (DataType, ArrayRef) {
    fn number<'l>(cell: &Option<&'l Leaf>) -> Option<&'l serde_json::Number> {
        match cell {
            Some(Leaf::Number(n)) => Some(n),
            _ => None,
        }
    }
    match column_type {
        ColumnType::Integer => {
            let array: Int64Array = cells.iter().map(|c| number(c).and_then(|n| n.as_i64())).collect();
            (DataType::Int64, Arc::new(array))
        }
        ColumnType::Float => {
            let array: Float64Array = cells.iter().map(|c| number(c).and_then(|n| n.as_f64())).collect();
            (DataType::Float64, Arc::new(array))
        }
        ColumnType::Boolean => {
            let array: BooleanArray = cells
                .iter()
                .map(|c| match c {
                    Some(Leaf::Bool(b)) => Some(*b),
                    _ => None,
                })
                .collect();
            (DataType::Boolean, Arc::new(array))
        }
        ColumnType::DateTime(_) | ColumnType::Text => {
            let array: StringArray = cells.iter().map(|c| c.map(Leaf::text)).collect();
            (DataType::Utf8, Arc::new(array))
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    use arrow_schema::{DataType, TimeUnit};

    use crate::table::test_support::*;
    use crate::table::{Layout, ObservationTableBuilder, utc_timestamp_type};

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
}
