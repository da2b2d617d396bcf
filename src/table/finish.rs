//! The filters an older server ignores, applied on our side as rows are appended, and the
//! finishing step applied to whole tables: the servers' newest-first order, made
//! deterministic.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{RecordBatch, UInt64Array};
use arrow_ord::sort::{SortColumn, SortOptions, lexsort_to_indices};
use arrow_schema::{DataType, Field, Schema};

use super::ObservationTables;
use crate::query::ObservationQuery;

/// The filters an older server ignores (time bounds; codes, which it matches with `LIKE`),
/// applied to each observation as it is appended, so the tables, and every count of them,
/// hold only what was asked for. A row whose time or code could not be read is kept: it is
/// in the errors table, and dropping it would lose it silently.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    since: Option<i64>,
    until: Option<i64>,
    updated_since: Option<i64>,
    codes: Vec<String>,
}

impl ClientFilter {
    /// `query`'s time bounds and codes; `None` when it has none.
    pub fn new(query: &ObservationQuery) -> Option<Self> {
        let micros = |bound: Option<crate::query::TimeBound>| bound.map(|b| b.utc_micros);
        let filter = Self {
            since: micros(query.since),
            until: micros(query.until),
            updated_since: micros(query.updated_since),
            codes: query.code_names().into_iter().map(str::to_string).collect(),
        };
        let filters_anything =
            filter.since.is_some() || filter.until.is_some() || filter.updated_since.is_some() || !filter.codes.is_empty();
        filters_anything.then_some(filter)
    }

    /// Whether an observation starting at `start`, stored at `last_updated`, of `code`, is
    /// one the query asks for (or one that cannot be told).
    pub(super) fn admits(&self, start: Option<i64>, last_updated: Option<i64>, code: Option<&str>) -> bool {
        let in_time = start.is_none_or(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u));
        let fresh = last_updated.is_none_or(|t| self.updated_since.is_none_or(|s| t >= s));
        let code_ok = self.codes.is_empty() || code.is_none_or(|c| self.codes.iter().any(|wanted| wanted == c));
        in_time && fresh && code_ok
    }
}

/// `batch` with a `sequence` column numbering its rows in arrival order, so sorting keeps
/// each observation's measures in catalogue order (the long layout's; dropped once sorted).
pub(super) fn with_arrival_order(batch: RecordBatch) -> RecordBatch {
    let (schema, mut columns, _) = batch.into_parts();
    let rows = columns.first().map_or(0, |column| column.len()) as u64;
    let mut fields: Vec<Field> = schema.fields().iter().map(|field| field.as_ref().clone()).collect();
    fields.push(Field::new("sequence", DataType::UInt64, false));
    columns.push(Arc::new(UInt64Array::from_iter_values(0..rows)));
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns).expect("one more column of the same length")
}

/// `(observation id, last_updated)` of each observation in `tables` stored at or after `at`
/// (µs), once each, in no order: what a reading of changes delivered that the next one,
/// overlapping it from `at`, will read again. Tables whose `columns=` left either out
/// cannot tell: an error, not an empty answer.
pub fn delivered_since(tables: &[(Option<String>, RecordBatch)], at: i64) -> crate::Result<Vec<(i64, i64)>> {
    let mut delivered = Vec::new();
    for (_, batch) in tables {
        let (Some(ids), Some(times)) = (batch.column_by_name("observation_id"), batch.column_by_name("last_updated")) else {
            return Err(crate::JheError::Config("what was delivered needs the observation_id and last_updated columns; add them to columns=".into()));
        };
        let ids = ids.as_primitive::<Int64Type>();
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let rows = ids.iter().zip(times.iter()).filter_map(|pair| match pair {
            (Some(id), Some(time)) if time >= at => Some((id, time)),
            _ => None,
        });
        delivered.extend(rows);
    }
    // The long layout has a row per measure.
    delivered.sort_unstable();
    delivered.dedup();
    Ok(delivered)
}

impl ObservationTables {
    /// Each table reduced to the columns the user selected, in the table's order: the ones
    /// built only for the builder's own use (ids and `last_updated` to sort, uuids for
    /// `duplicate_uuid`, `effective_start` for `timestamp`) and key-path columns not selected
    /// are dropped. Rows are untouched. Call it once sorted.
    pub fn keep_selected(&mut self) {
        let Some(selection) = &self.columns else { return };
        for (_, batch) in &mut self.tables {
            let kept: Vec<usize> = (0..batch.num_columns()).filter(|&i| selection.keeps(batch.schema_ref().field(i).name())).collect();
            *batch = batch.project(&kept).expect("indices of the batch's own columns");
        }
    }

    /// Newest first (`last_updated`, then id, both descending): the servers' order, made
    /// deterministic whatever order pages arrived in. Imported records, which have neither,
    /// follow, newest effective time first, then by FHIR id. The long layout keeps each
    /// observation's measures in catalogue order, then drops its arrival counter.
    pub fn sort_newest_first(&mut self) {
        let descending = Some(SortOptions { descending: true, nulls_first: false });
        for (_, batch) in &mut self.tables {
            let mut keys = vec![
                SortColumn { values: batch.column_by_name("last_updated").expect("common column").clone(), options: descending },
                SortColumn { values: batch.column_by_name("observation_id").expect("common column").clone(), options: descending },
            ];
            // Both are built with the origins (`Shape::builds`).
            if let (Some(start), Some(ids)) = (batch.column_by_name("effective_start"), batch.column_by_name("resource_id")) {
                keys.push(SortColumn { values: start.clone(), options: descending });
                keys.push(SortColumn { values: ids.clone(), options: descending });
            }
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

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use super::*;
    use crate::decode::omh::time;
    use crate::query::TimeBound;
    use crate::table::test_support::*;
    use crate::table::{Layout, ObservationTableBuilder};

    #[test]
    fn client_side_filters_keep_unreadable_rows_count_what_they_keep_and_sorting_is_newest_first() {
        let mut query = ObservationQuery::new(None, None, &["omh:heart-rate:2.0".into()]).unwrap();
        query.since = Some(TimeBound::parse("since", "2024-05-02T00:00:00Z").unwrap());
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]).with_filter(ClientFilter::new(&query).unwrap());
        let heart = |t: &str| b64(&HEART.replace("2024-05-02T15:30:00Z", t));
        let (early, late) = (heart("2024-05-01T00:00:00Z"), heart("2024-05-03T00:00:00Z"));
        let mut row = input("1", "omh:heart-rate:2.0", &early);
        row.last_updated = Some("2024-05-04T00:00:00Z");
        assert_eq!(builder.append(&row), crate::table::Appended::Filtered);
        let mut row = input("2", "omh:heart-rate:2.0", &late);
        row.last_updated = Some("2024-05-05T00:00:00Z");
        builder.append(&row);
        builder.append(&input("3", "omh:heart-rate:2.0", "%%%"));
        builder.append(&input("4", "omh:blood-glucose:4.0", &b64(GLUCOSE)));
        builder.append(&input("5", "omh:blood-pressure:4.0", "%%%"));
        assert_eq!(builder.append(&input("1", "omh:heart-rate:2.0", &early)), crate::table::Appended::Duplicate);
        assert_eq!(builder.newest_last_updated(), Some(time::parse_date_time("2026-11-26T06:47:52.169870Z").unwrap().utc_micros));
        assert_eq!(builder.received(), 5, "every distinct row the server sent, for the reconciliation");
        let mut tables = builder.finish();
        tables.sort_newest_first();
        let ids = tables.tables[0].1.column(0).as_primitive::<Int64Type>().values().to_vec();
        // 1 is too early, 4 and 5 are other codes; 3 has no readable time and is kept
        assert_eq!(ids, vec![3, 2]);
        assert_eq!(tables.observations, 2, "the count is of the rows kept");
        let error_ids = tables.errors.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(error_ids, vec![3], "no error for a row that was not kept");
    }
}
