//! The wide layout: one table per code, one row per observation, with the catalogue's
//! typed columns per measure, or, for a code the catalogue does not know, columns by key
//! path ([`super::keypaths`]).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::DataType;

use super::columns::{Columns, CommonColumns, Dictionary, Record, Shape, UNKNOWN_ROWS, dictionary, dictionary_type};
use super::keypaths::KeyPathColumns;
use crate::decode::PreparedBody;
use crate::decode::omh::catalog::{self, CodeSpec, Measure, MeasureKind, MeasureValue};

/// The builder of one column of a catalogue measure in the wide layout, by what it takes
/// from the measure's value.
enum MeasureBuilder {
    /// A quantity's canonical value, or a bare number.
    Float(Float64Builder),
    /// A quantity's value and unit as written (`{stated}_value`, `{stated}_unit`).
    StatedValue(Float64Builder),
    StatedUnit(Dictionary),
    AmountValue(Float64Builder),
    AmountUnit(Dictionary),
    Count(Int64Builder),
    Category(Dictionary),
    Text(StringBuilder),
    Boolean(BooleanBuilder),
}

/// One column of a catalogue measure: which measure (its index in the code's spec), its
/// name and its builder.
struct MeasureColumn {
    measure: usize,
    name: String,
    builder: MeasureBuilder,
}

impl MeasureColumn {
    /// The columns of `spec`'s measures that `shape` builds, in table order.
    fn of(spec: &'static CodeSpec, rows: usize, shape: &Shape) -> Vec<Self> {
        let mut columns = Vec::new();
        for (index, measure) in spec.measures.iter().enumerate() {
            for (part, name) in measure.wide_columns().into_iter().enumerate() {
                if shape.builds(&name) {
                    columns.push(Self { measure: index, name, builder: builder(measure, part, rows) });
                }
            }
        }
        columns
    }

    fn append(&mut self, value: &MeasureValue<'_>) {
        use MeasureBuilder as B;
        use MeasureValue as V;
        match (&mut self.builder, value) {
            (B::Float(b), V::Quantity { canonical, .. }) => b.append_option(*canonical),
            (B::Float(b), V::Number(n)) => b.append_value(*n),
            (B::Float(b), _) => b.append_null(),
            (B::StatedValue(b), V::Quantity { value, .. }) => b.append_value(*value),
            (B::StatedValue(b), _) => b.append_null(),
            (B::StatedUnit(b), V::Quantity { unit, .. }) => {
                b.append_value(unit);
            }
            (B::StatedUnit(b), _) => b.append_null(),
            (B::AmountValue(b), V::Amount { value, .. }) => b.append_value(*value),
            (B::AmountValue(b), _) => b.append_null(),
            (B::AmountUnit(b), V::Amount { unit, .. }) => b.append_option(unit.as_deref()),
            (B::AmountUnit(b), _) => b.append_null(),
            (B::Count(b), V::Count(n)) => b.append_value(*n),
            (B::Count(b), _) => b.append_null(),
            (B::Category(b), V::Text(t)) => {
                b.append_value(t);
            }
            (B::Category(b), _) => b.append_null(),
            (B::Text(b), V::Text(t)) => b.append_value(t),
            (B::Text(b), _) => b.append_null(),
            (B::Boolean(b), V::Bool(v)) => b.append_value(*v),
            (B::Boolean(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self, out: &mut Columns) {
        use MeasureBuilder as B;
        let (data_type, array): (DataType, ArrayRef) = match &mut self.builder {
            B::Float(b) | B::StatedValue(b) | B::AmountValue(b) => (DataType::Float64, Arc::new(b.finish())),
            B::StatedUnit(b) | B::AmountUnit(b) | B::Category(b) => (dictionary_type(), Arc::new(b.finish())),
            B::Count(b) => (DataType::Int64, Arc::new(b.finish())),
            B::Text(b) => (DataType::Utf8, Arc::new(b.finish())),
            B::Boolean(b) => (DataType::Boolean, Arc::new(b.finish())),
        };
        out.push(std::mem::take(&mut self.name), data_type, array);
    }
}

/// The builder of a measure's `part`th column, in the order of [`Measure::wide_columns`].
fn builder(measure: &Measure, part: usize, rows: usize) -> MeasureBuilder {
    use MeasureBuilder as B;
    let float = || Float64Builder::with_capacity(rows);
    match (&measure.kind, part) {
        (MeasureKind::Quantity { stated: Some(_), .. }, 1) => B::StatedValue(float()),
        (MeasureKind::Quantity { stated: Some(_), .. }, 2) => B::StatedUnit(dictionary(rows)),
        (MeasureKind::Quantity { .. } | MeasureKind::Number, _) => B::Float(float()),
        (MeasureKind::Amount, 0) => B::AmountValue(float()),
        (MeasureKind::Amount, _) => B::AmountUnit(dictionary(rows)),
        (MeasureKind::Count { .. }, _) => B::Count(Int64Builder::with_capacity(rows)),
        (MeasureKind::Category, _) => B::Category(dictionary(rows)),
        (MeasureKind::Text, _) => B::Text(StringBuilder::with_capacity(rows, rows * 16)),
        (MeasureKind::Boolean, _) => B::Boolean(BooleanBuilder::with_capacity(rows)),
    }
}

/// One code's table in the wide layout.
pub(super) struct WideTable {
    common: CommonColumns,
    kind: WideKind,
}

enum WideKind {
    /// The catalogued columns built, in table order.
    Catalogued(Vec<MeasureColumn>),
    /// Leaves by key path; column types are settled when the table is finished (and
    /// columns not selected dropped then: their names are known only once typed).
    Flattened(KeyPathColumns),
}

impl WideTable {
    /// A table for `code` whose row count is not known in advance.
    pub(super) fn new(code: &str, shape: &Shape) -> Self {
        Self::with_capacity(code, UNKNOWN_ROWS, shape)
    }

    /// A table for `code` sized for `rows`, of the columns `shape` builds.
    pub(super) fn with_capacity(code: &str, rows: usize, shape: &Shape) -> Self {
        let kind = match catalog::lookup(code) {
            Some(spec) => WideKind::Catalogued(MeasureColumn::of(spec, rows, shape)),
            None => WideKind::Flattened(KeyPathColumns::default()),
        };
        Self { common: CommonColumns::with_capacity(rows, shape), kind }
    }

    /// One row: the catalogued measures read from the body, or its leaves for an unknown code.
    pub(super) fn append(&mut self, record: &Record<'_>, body: PreparedBody) {
        self.common.append(record);
        match (&mut self.kind, body) {
            (WideKind::Catalogued(columns), PreparedBody::Measures(values)) => {
                for column in columns.iter_mut() {
                    column.append(values.get(column.measure).unwrap_or(&MeasureValue::Missing));
                }
            }
            (WideKind::Catalogued(columns), _) => columns.iter_mut().for_each(|column| column.append(&MeasureValue::Missing)),
            (WideKind::Flattened(columns), PreparedBody::Leaves(leaves)) => columns.push_row(leaves),
            (WideKind::Flattened(columns), _) => columns.push_row(Vec::new()),
        }
    }

    /// Rows appended so far.
    pub(super) fn len(&self) -> usize {
        self.common.len()
    }

    /// The rows as a chunk of the code's table ([`CommonColumns::finish_chunk`]).
    pub(super) fn finish(mut self) -> RecordBatch {
        let mut out = self.common.finish_chunk(true);
        match self.kind {
            WideKind::Catalogued(mut columns) => {
                for column in &mut columns {
                    column.finish(&mut out);
                }
            }
            WideKind::Flattened(columns) => columns.finish(&mut out),
        }
        out.into_batch()
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{DurationSecondType, Float64Type, TimestampMicrosecondType};
    use arrow_schema::DataType;

    use crate::table::test_support::*;
    use crate::table::{Layout, ObservationTableBuilder};

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
    fn created_follows_last_updated_in_the_wide_and_long_layouts() {
        let made = |header: &str| b64(&HEART.replace(r#"{"uuid":"u2"}"#, header));
        let source = made(r#"{"uuid":"a","source_creation_date_time":"2024-05-02T15:29:00Z","creation_date_time":"2024-05-02T15:31:00Z"}"#);
        let stored = made(r#"{"uuid":"b","creation_date_time":"2024-05-02T15:31:00Z"}"#);
        let (neither, bad) = (made(r#"{"uuid":"c"}"#), made(r#"{"uuid":"d","source_creation_date_time":"soon"}"#));
        for layout in [Layout::Wide, Layout::Long] {
            let mut builder = ObservationTableBuilder::new(layout, &[]);
            for (id, data) in [("1", &source), ("2", &stored), ("3", &neither), ("4", &bad)] {
                builder.append(&input(id, "omh:heart-rate:2.0", data));
            }
            let tables = builder.finish();
            let batch = &tables.tables[0].1;
            let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
            let at = names.iter().position(|n| *n == "last_updated").unwrap();
            assert_eq!(names[at + 1], "created", "{layout:?} {names:?}");
            assert_eq!(batch.schema().field_with_name("created").unwrap().data_type(), &crate::table::utc_timestamp_type());
            let created = batch.column_by_name("created").unwrap().as_primitive::<TimestampMicrosecondType>();
            let got: Vec<Option<i64>> = created.iter().collect();
            let minute = 60_000_000;
            assert_eq!(got, [Some(1_714_663_800_000_000 - minute), Some(1_714_663_800_000_000 + minute), None, None], "{layout:?}");
            // the bad time is reported, its row kept
            assert_eq!(tables.errors.num_rows(), 1);
            let reason = tables.errors.column_by_name("reason").unwrap().as_string::<i32>().value(0);
            assert!(reason.contains("header.source_creation_date_time"), "{reason}");
        }
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
    fn body_keys_that_collide_with_jhe_columns_get_names_of_their_own() {
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let body = r#"{"header":{"uuid":"u"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"observation_id":"theirs","timestamp":"then","duplicate_uuid":"no","body_timestamp":1}}"#;
        builder.append(&input("7", "x:odd:1.0", &b64(body)));
        let tables = builder.finish();
        let odd = table(&tables, "x:odd:1.0");
        let names: Vec<&str> = odd.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let text = |name: &str| odd.column_by_name(name).unwrap().as_string::<i32>().value(0).to_string();
        assert_eq!(odd.column_by_name("observation_id").unwrap().as_primitive::<arrow_array::types::Int64Type>().value(0), 7);
        assert_eq!((text("body_observation_id"), text("body_duplicate_uuid")), ("theirs".into(), "no".into()));
        // sorted by key path: `body_timestamp` takes its own name first, `timestamp` the next free
        assert_eq!(odd.column_by_name("body_timestamp").unwrap().as_primitive::<Float64Type>().value(0), 1.0);
        assert_eq!(text("body_timestamp_2"), "then");
        assert_eq!(odd.column_by_name("duplicate_uuid").unwrap().data_type(), &DataType::Boolean);
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
