//! The finishing steps applied to whole tables: the filters an older server ignores,
//! applied on our side, and the servers' newest-first order, made deterministic.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_ord::sort::{SortColumn, SortOptions, lexsort_to_indices};
use arrow_schema::Schema;
use arrow_select::filter::filter_record_batch;

use super::ObservationTables;
use crate::query::ObservationQuery;

/// Whether the client has anything to apply for `query`: its time bounds and codes.
fn filters_anything(query: &ObservationQuery) -> bool {
    query.since.is_some() || query.until.is_some() || query.updated_since.is_some() || !query.codes.is_empty()
}

/// Rows of `batch` that `query` asks for. A row whose time or code could not be read is
/// kept: it is in the errors table, and dropping it would lose it silently.
fn mask(batch: &RecordBatch, query: &ObservationQuery, codes: &[&str]) -> BooleanArray {
    let micros = |bound: Option<crate::query::TimeBound>| bound.map(|b| b.utc_micros);
    let (since, until, updated_since) = (micros(query.since), micros(query.until), micros(query.updated_since));
    let start = batch.column_by_name("effective_start").expect("common column").as_primitive::<TimestampMicrosecondType>();
    let updated = batch.column_by_name("last_updated").expect("common column").as_primitive::<TimestampMicrosecondType>();
    let code_column = batch.column_by_name("code").expect("common column").as_dictionary::<Int32Type>();
    let code_values = code_column.values().as_string::<i32>();
    let wanted_code: Vec<bool> =
        (0..code_values.len()).map(|i| codes.is_empty() || codes.contains(&code_values.value(i))).collect();
    (0..batch.num_rows())
        .map(|row| {
            let in_time = start.is_null(row) || {
                let t = start.value(row);
                since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
            };
            let fresh = updated.is_null(row) || updated_since.is_none_or(|s| updated.value(row) >= s);
            let code_ok = code_column.is_null(row) || wanted_code[code_column.keys().value(row) as usize];
            Some(in_time && fresh && code_ok)
        })
        .collect()
}

impl ObservationTables {
    /// Keep the rows `query`'s time bounds and codes ask for, in every table: for servers
    /// that ignore those filters (the older API generation).
    pub fn retain(&mut self, query: &ObservationQuery) {
        if !filters_anything(query) {
            return;
        }
        let codes = query.code_names();
        for (_, batch) in &mut self.tables {
            *batch = filter_record_batch(batch, &mask(batch, query, &codes)).expect("a mask of the batch's length");
        }
        if !codes.is_empty() {
            self.tables.retain(|(code, _)| code.as_deref().is_none_or(|c| codes.contains(&c)));
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

#[cfg(test)]
mod tests {
    use arrow_array::types::Int64Type;

    use super::*;
    use crate::decode::omh::time;
    use crate::query::TimeBound;
    use crate::table::test_support::*;
    use crate::table::{Layout, ObservationTableBuilder};

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
        let mut query = ObservationQuery::new(None, None, &["omh:heart-rate:2.0".into()]).unwrap();
        query.since = Some(TimeBound::parse("since", "2024-05-02T00:00:00Z").unwrap());
        tables.retain(&query);
        tables.sort_newest_first();
        let ids = tables.tables[0].1.column(0).as_primitive::<Int64Type>().values().to_vec();
        // 1 is too early, 4 is another code; 3 has no readable time and is kept
        assert_eq!(ids, vec![3, 2]);
    }
}
