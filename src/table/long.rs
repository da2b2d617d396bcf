//! The long layout: one tidy table, one row per observation and measure (`measure`,
//! `value`, `unit`, canonical value and unit, `text`), measures in catalogue order.
//! Built in chunks (a page's rows each), which the builder joins.

use arrow_array::RecordBatch;
use arrow_array::builder::Float64Builder;
use arrow_schema::DataType;

use super::columns::{CommonColumns, Dictionary, Record, Shape, UNKNOWN_ROWS, dictionary, dictionary_type, push_built};
use crate::decode::PreparedBody;
use crate::decode::flatten::Leaf;
use crate::decode::omh::catalog::{CodeSpec, Measure, MeasureKind, MeasureValue};

/// The long layout: one row per observation and measure.
/// Columns the table does not build are `None`.
pub(super) struct LongTable {
    common: CommonColumns,
    measure: Option<Dictionary>,
    value: Option<Float64Builder>,
    unit: Option<Dictionary>,
    canonical_value: Option<Float64Builder>,
    canonical_unit: Option<Dictionary>,
    text: Option<Dictionary>,
}

impl LongTable {
    /// A table whose row count is not known in advance.
    pub(super) fn new(shape: &Shape) -> Self {
        Self::with_capacity(UNKNOWN_ROWS, shape)
    }

    /// A table sized for `rows`, of the columns `shape` builds.
    pub(super) fn with_capacity(rows: usize, shape: &Shape) -> Self {
        let build = |name: &str| shape.builds(name);
        Self {
            common: CommonColumns::with_capacity(rows, shape),
            measure: build("measure").then(|| dictionary(rows)),
            value: build("value").then(|| Float64Builder::with_capacity(rows)),
            unit: build("unit").then(|| dictionary(rows)),
            canonical_value: build("canonical_value").then(|| Float64Builder::with_capacity(rows)),
            canonical_unit: build("canonical_unit").then(|| dictionary(rows)),
            text: build("text").then(|| dictionary(rows)),
        }
    }

    /// Rows appended so far.
    pub(super) fn len(&self) -> usize {
        self.common.len()
    }

    /// One row per measure read from the body (`spec`'s, in its order), or per leaf of the
    /// body of an unknown code; one row with no measure when none could be read.
    pub(super) fn append(&mut self, record: &Record<'_>, spec: Option<&'static CodeSpec>, body: PreparedBody) {
        let mut pushed = false;
        match (spec, body) {
            (Some(spec), PreparedBody::Measures(values)) => {
                for (measure, value) in spec.measures.iter().zip(&values) {
                    pushed |= self.push_measure(record, measure, value);
                }
            }
            (None, PreparedBody::Leaves(leaves)) => {
                for (path, leaf) in &leaves {
                    self.push_leaf(record, path, leaf);
                    pushed = true;
                }
            }
            _ => {}
        }
        if !pushed {
            // No measure could be read: one row still stands for the observation.
            self.push(record, None, None, None, None, None);
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
        if let Some(b) = &mut self.measure {
            b.append_option(measure);
        }
        if let Some(b) = &mut self.value {
            b.append_option(value);
        }
        if let Some(b) = &mut self.unit {
            b.append_option(unit);
        }
        if let Some(b) = &mut self.canonical_value {
            b.append_option(canonical.map(|c| c.0));
        }
        if let Some(b) = &mut self.canonical_unit {
            b.append_option(canonical.map(|c| c.1));
        }
        if let Some(b) = &mut self.text {
            b.append_option(text);
        }
    }

    fn push_measure(&mut self, record: &Record<'_>, measure: &Measure, value: &MeasureValue<'_>) -> bool {
        let path = measure.dotted_path();
        let name = Some(path.as_ref());
        match value {
            MeasureValue::Missing => return false,
            MeasureValue::Quantity { value, unit, canonical } => {
                let canonical = canonical.zip(measure.canonical_unit());
                self.push(record, name, Some(*value), Some(unit.as_ref()), canonical, None)
            }
            MeasureValue::Amount { value, unit } => self.push(record, name, Some(*value), unit.as_deref(), None, None),
            MeasureValue::Number(n) => self.push(record, name, Some(*n), None, None, None),
            MeasureValue::Count(n) => {
                let unit = match measure.kind {
                    MeasureKind::Count { unit } => unit,
                    _ => None,
                };
                self.push(record, name, Some(*n as f64), unit, None, None)
            }
            MeasureValue::Text(t) => self.push(record, name, None, None, None, Some(t.as_ref())),
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

    /// The rows as a chunk of the table ([`CommonColumns::finish_chunk`]).
    pub(super) fn finish(mut self) -> RecordBatch {
        let mut out = self.common.finish_chunk(false);
        push_built(&mut out, "measure", dictionary_type(), &mut self.measure);
        push_built(&mut out, "value", DataType::Float64, &mut self.value);
        push_built(&mut out, "unit", dictionary_type(), &mut self.unit);
        push_built(&mut out, "canonical_value", DataType::Float64, &mut self.canonical_value);
        push_built(&mut out, "canonical_unit", dictionary_type(), &mut self.canonical_unit);
        push_built(&mut out, "text", dictionary_type(), &mut self.text);
        out.into_batch()
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type};

    use crate::table::test_support::*;
    use crate::table::{Layout, ObservationTableBuilder};

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
}
