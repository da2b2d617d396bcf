//! Column types for leaves by key path, settled when a table is finished, from what every
//! row holds: the one place a JSON value's column type is chosen. Used for the bodies of
//! codes the catalogue does not know and for the flat layout's columns.

use std::sync::Arc;

use arrow_array::builder::TimestampMicrosecondBuilder;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, StringArray};
use arrow_schema::{DataType, TimeUnit};

use super::columns::{timestamp_builder, utc_timestamp_type};
use crate::decode::flatten::Leaf;
use crate::decode::omh::time::{self, Instant};

/// The type every present cell of a column fits.
enum ColumnType {
    Integer,
    Float,
    Boolean,
    DateTime(Vec<Option<Instant>>),
    Text,
}

/// A body column of a code the catalogue does not know: numbers → float64, booleans →
/// boolean, anything else → text.
pub(super) fn body_array(cells: &[Option<&Leaf>]) -> (DataType, ArrayRef) {
    single_array(cells, column_type(cells, false, false))
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
    let mut utc = timestamp_builder(instants.len());
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
