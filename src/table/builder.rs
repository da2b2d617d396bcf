//! The builder: pages taken in the order the server sent them, each observation once (a
//! repeated observation id is skipped), into the layout asked for; uuids carried twice
//! flagged when the tables are finished.
//!
//! Here is decided where each record goes, so none is dropped silently: a row of the data
//! tables, with any problems also in the errors table; or, where the tables have no place
//! for it, a row of the errors table alone. That is a page entry that is not an
//! observation, an observation of a code not asked for (when codes were asked for and the
//! server matches them exactly), and, in the wide layout, an observation without a code
//! (its tables are per code).
//!
//! Most rows arrive already built, in chunks made where their page was decoded
//! ([`PageTables`]): the builder only masks the ones it does not keep and joins the chunks
//! when the tables are finished ([`super::chunks`]).

use std::collections::{HashMap, HashSet};

use arrow_array::{BooleanArray, RecordBatch};

use super::chunks::join;
use super::columns::{Record, Shape, present};
use super::errors::ErrorsBuilder;
use super::finish::ClientFilter;
use super::flat::FlatTable;
use super::long::LongTable;
use super::page::{PageChunk, PageEntry, PageTables, RowFacts};
use super::uuids::{DUPLICATE_UUID, UuidList, with_duplicate_uuid_flags};
use super::wide::WideTable;
use super::{Appended, Layout, ObservationTables};
use crate::decode::omh::catalog;
use crate::decode::{PageOptions, PreparedObservation, PreparedPage, RawPayload};
use crate::selection::ColumnSelection;

/// Rows of page chunks joined into one segment while the fetch still runs.
const SEGMENT_ROWS: usize = 1 << 17;

/// One data table so far: its chunks, in page order, and (wide layout) the rows the builder
/// appended itself.
///
/// Page chunks are joined into segments of about [`SEGMENT_ROWS`] as they arrive, while
/// the decode threads that allocated them still run: their memory is then reused for the
/// next pages. Kept to the end, the small chunks were still held (freed on another thread,
/// not yet reclaimed) while the table was joined, and the peak was two tables
/// (benchmarks/PROFILE.md).
struct TableParts {
    code: Option<String>,
    segments: Vec<RecordBatch>,
    chunks: Vec<RecordBatch>,
    chunk_rows: usize,
    own: Option<WideTable>,
}

impl TableParts {
    fn new(code: Option<String>) -> Self {
        Self { code, segments: Vec::new(), chunks: Vec::new(), chunk_rows: 0, own: None }
    }

    fn push(&mut self, chunk: RecordBatch) {
        self.chunk_rows += chunk.num_rows();
        self.chunks.push(chunk);
        if self.chunk_rows >= SEGMENT_ROWS {
            self.segments.push(join(std::mem::take(&mut self.chunks)));
            self.chunk_rows = 0;
        }
    }

    /// The table as the user gets it.
    fn finish(mut self, shape: &Shape) -> RecordBatch {
        let mut parts = self.segments;
        parts.append(&mut self.chunks);
        parts.extend(self.own.take().map(WideTable::finish));
        if parts.is_empty() {
            // No rows: the columns a caller will index, all the same.
            parts.push(match &self.code {
                Some(code) => WideTable::new(code, shape).finish(),
                None => LongTable::new(shape).finish(),
            });
        }
        let table = present(join(parts), shape);
        match shape.layout {
            Layout::Long => super::finish::with_arrival_order(table),
            _ => table,
        }
    }
}

/// What tells one observation from another: the Exchange's id, or a clinical record's FHIR id.
#[derive(Clone, Copy)]
struct RowKey<'a> {
    id: Option<i64>,
    resource_id: Option<&'a str>,
}

pub struct ObservationTableBuilder {
    shape: Shape,
    /// Wide: one table per code, in order of first appearance.
    wide: Vec<TableParts>,
    wide_index: HashMap<String, usize>,
    long: TableParts,
    /// Rows in the tables.
    rows: usize,
    /// Distinct observations received, kept or not: what the server's count counts.
    received: usize,
    /// What an older server left unfiltered; rows outside it are received but not kept.
    filter: Option<ClientFilter>,
    /// Observation ids received: a compressed bitmap, as ids are mostly dense database ids
    /// (a hash set would hold a bucket per id; benchmarks/PROFILE.md).
    seen_ids: roaring::RoaringTreemap,
    /// The FHIR ids of clinical records received (text: they are not the Exchange's ids).
    seen_resource_ids: HashSet<String>,
    duplicates: u64,
    /// Page entries that were not observations (in the errors table only).
    not_observations: usize,
    /// Every observation's OMH uuid, to find the ones carried more than once at the end.
    uuids: UuidList,
    newest_last_updated: Option<i64>,
    errors: ErrorsBuilder,
    /// The flat layout's table (empty in the others).
    flat: FlatTable,
    /// The codes asked for (empty: every code).
    asked: Vec<String>,
    /// `(id, last_updated)` of rows delivered before (a reading of changes): not kept again.
    delivered: HashSet<(i64, i64)>,
    /// Rows read again unchanged that [`Self::delivered`] skipped.
    redelivered: u64,
    /// Whether a row of another code is reported rather than kept (see
    /// [`Self::with_loose_code_matching`]).
    report_other_codes: bool,
}

impl ObservationTableBuilder {
    /// `expected_codes` are the codes asked for (none: every code). They get their wide
    /// tables even when no row arrives, so an empty result still has the columns a caller
    /// will index; a row of another code is reported, not kept.
    pub fn new(layout: Layout, expected_codes: &[&str]) -> Self {
        let mut builder = Self {
            shape: Shape::all(layout),
            wide: Vec::new(),
            wide_index: HashMap::new(),
            long: TableParts::new(None),
            rows: 0,
            received: 0,
            filter: None,
            seen_ids: roaring::RoaringTreemap::new(),
            seen_resource_ids: HashSet::new(),
            duplicates: 0,
            not_observations: 0,
            uuids: UuidList::default(),
            newest_last_updated: None,
            errors: ErrorsBuilder::default(),
            flat: FlatTable::new(),
            asked: expected_codes.iter().map(|code| code.to_string()).collect(),
            delivered: HashSet::new(),
            redelivered: 0,
            report_other_codes: true,
        };
        if layout == Layout::Wide {
            for code in expected_codes {
                builder.wide_table(code);
            }
        }
        builder
    }

    /// For a server that matches codes loosely (the older generation's SQL `LIKE`): rows
    /// of other codes are left to the [`ClientFilter`], not reported.
    pub fn with_loose_code_matching(mut self) -> Self {
        self.report_other_codes = false;
        self
    }

    /// Keep only the rows `filter` admits (for a server that ignores those filters). Rows
    /// outside it still count as received, the way the server counts them.
    pub fn with_filter(mut self, filter: ClientFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Skip rows delivered before, as `(observation id, last_updated µs)`, when they come
    /// again unchanged (a reading of changes overlaps the one before). Like filtered rows,
    /// they still count as received.
    pub fn with_delivered(mut self, delivered: &[(i64, i64)]) -> Self {
        self.delivered = delivered.iter().copied().collect();
        self
    }

    /// Tell each row's origin (`source`, and a clinical record's `resource_id`): a fetch
    /// that reads imported records. Set before any page is built.
    pub fn with_origins(mut self, origins: bool) -> Self {
        self.shape.origins = origins;
        self
    }

    /// Keep only the columns `columns` selects (none: every one); the others are not built.
    /// Set before any page is built, so every chunk of a table has the same columns.
    pub fn with_columns(mut self, columns: Option<ColumnSelection>) -> Self {
        self.shape.columns = columns;
        self
    }

    /// The layout pages are built in.
    pub fn layout(&self) -> Layout {
        self.shape.layout
    }

    /// The layout and columns pages are built in ([`PageTables::build`]).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// What pages prepared for this builder must carry: (flat layout) the FHIR resources
    /// as received.
    pub fn page_options(&self) -> PageOptions {
        PageOptions { resources: self.shape.layout == Layout::Flat }
    }

    /// Rows kept in the tables so far (what the user gets).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Distinct observations received so far: kept, filtered out or only in the errors
    /// table (what the server's total counts).
    pub fn received(&self) -> usize {
        self.received
    }

    /// Page entries so far that were not observations: not among [`Self::received`].
    pub fn not_observations(&self) -> usize {
        self.not_observations
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// The latest `lastUpdated` among the rows so far.
    pub fn newest_last_updated(&self) -> Option<i64> {
        self.newest_last_updated
    }

    fn wide_table(&mut self, code: &str) -> &mut TableParts {
        let index = self.wide_index(code);
        &mut self.wide[index]
    }

    /// The index of `code`'s wide table, made if it is new.
    fn wide_index(&mut self, code: &str) -> usize {
        match self.wide_index.get(code) {
            Some(&index) => index,
            None => {
                self.wide.push(TableParts::new(Some(code.to_string())));
                self.wide_index.insert(code.to_string(), self.wide.len() - 1);
                self.wide.len() - 1
            }
        }
    }

    /// Build a page's rows here and append them ([`Self::append_built`]).
    pub fn append_page(&mut self, page: PreparedPage) -> Option<i64> {
        self.append_built(PageTables::build(page, &self.shape))
    }

    /// Append a page's rows in order: the chunks built with it, less the rows not kept, and
    /// the entries left to the builder. Returns the latest `lastUpdated` among the rows it
    /// brought that were not received before.
    pub fn append_built(&mut self, page: PageTables) -> Option<i64> {
        self.append_built_with(page, |_| {})
    }

    /// [`Self::append_built`], telling `each` where each entry went, in order.
    pub(super) fn append_built_with(&mut self, page: PageTables, mut each: impl FnMut(Appended)) -> Option<i64> {
        let PageTables { entries, chunks } = page;
        let mut kept: Vec<Option<Vec<bool>>> = vec![None; chunks.len()];
        let mut newest = None;
        for entry in entries {
            let (appended, last_updated) = match entry {
                PageEntry::Built { facts, chunk, rows } => {
                    let last_updated = facts.last_updated;
                    let appended = self.append_facts(facts);
                    if appended != Appended::Row {
                        let mask = kept[chunk].get_or_insert_with(|| vec![true; chunks[chunk].rows.num_rows()]);
                        mask[rows].fill(false);
                    }
                    (appended, last_updated)
                }
                PageEntry::Prepared(observation) => {
                    let last_updated = observation.last_updated;
                    (self.append_prepared(observation), last_updated)
                }
            };
            if matches!(appended, Appended::Row | Appended::Reported | Appended::Filtered | Appended::Delivered) {
                newest = newest.max(last_updated);
            }
            each(appended);
        }
        for (PageChunk { code, rows }, kept) in chunks.into_iter().zip(kept) {
            let rows = match kept {
                None => rows,
                Some(mask) => arrow_select::filter::filter_record_batch(&rows, &BooleanArray::from(mask)).expect("a mask as long as the chunk"),
            };
            if rows.num_rows() > 0 {
                let table = match code {
                    Some(code) => self.wide_table(code),
                    None => &mut self.long,
                };
                table.push(rows);
            }
        }
        newest
    }

    /// Whether an observation (an entry of a page) is kept, counting it: the one decision
    /// every row goes through, built or not. Why one is reported is added to `problems`.
    fn admit(&mut self, is_observation: bool, key: RowKey<'_>, code: Option<&str>, times: (Option<i64>, Option<i64>), problems: &mut Vec<String>) -> Appended {
        let (start, last_updated) = times;
        let RowKey { id, resource_id } = key;
        if !is_observation {
            self.not_observations += 1;
            return Appended::NotAnObservation;
        }
        // `as u64` is a bijection, so negative ids stay distinct.
        let repeated = match (id, resource_id) {
            (Some(id), _) => !self.seen_ids.insert(id as u64),
            (None, Some(text)) => !self.seen_resource_ids.insert(text.to_string()),
            (None, None) => false,
        };
        if repeated {
            self.duplicates += 1;
            return Appended::Duplicate;
        }
        self.received += 1;
        if let Some(at) = last_updated {
            self.newest_last_updated = Some(self.newest_last_updated.map_or(at, |newest| newest.max(at)));
        }
        if self.filter.as_ref().is_some_and(|filter| !filter.admits(start, last_updated, code)) {
            return Appended::Filtered;
        }
        if let (Some(id), Some(at)) = (id, last_updated) {
            if self.delivered.contains(&(id, at)) {
                self.redelivered += 1;
                return Appended::Delivered;
            }
        }
        if !self.has_place_for(code, problems) {
            return Appended::Reported;
        }
        self.rows += 1;
        Appended::Row
    }

    /// A built observation: counted, and reported where it has problems or no place.
    fn append_facts(&mut self, facts: RowFacts) -> Appended {
        let RowFacts { id, resource_id, code, start, last_updated, uuid, json, mut problems, measure_problems } = facts;
        let key = RowKey { id, resource_id: resource_id.as_deref() };
        let appended = self.admit(true, key, code.as_deref(), (start, last_updated), &mut problems);
        if appended == Appended::Row {
            if let Some(uuid) = uuid {
                self.uuids.push_key(uuid);
            }
            // The catalogue checked the measures in every layout, so the errors table is the same.
            problems.extend(measure_problems);
        }
        if matches!(appended, Appended::Row | Appended::Reported) && !problems.is_empty() {
            self.errors.push(id, code.as_deref(), &problems.join("; "), &json.into_text());
        }
        appended
    }

    /// Add one observation decoded by [`PreparedObservation::new`] (possibly on another
    /// thread) that its page did not build. Observations must be appended in the order the
    /// server sent them.
    fn append_prepared(&mut self, mut prepared: PreparedObservation) -> Appended {
        let mut problems = std::mem::take(&mut prepared.problems);
        let times = (prepared.frame.map(|frame| frame.start), prepared.last_updated);
        let key = RowKey { id: prepared.id, resource_id: prepared.resource_id.as_deref() };
        let appended = self.admit(prepared.is_observation, key, prepared.code.as_deref(), times, &mut problems);
        let json = std::mem::replace(&mut prepared.json, RawPayload::AsSent(String::new()));
        match appended {
            Appended::Row => {}
            Appended::NotAnObservation | Appended::Reported => {
                self.errors.push(prepared.id, prepared.code.as_deref(), &problems.join("; "), &json.into_text());
                return appended;
            }
            Appended::Duplicate | Appended::Filtered | Appended::Delivered => return appended,
        }
        problems.append(&mut prepared.measure_problems);
        let (body, flat) = (std::mem::take(&mut prepared.body), prepared.flat.take());
        let record = Record::of(&prepared);
        if let Some(uuid) = record.uuid {
            self.uuids.push(uuid);
        }
        match self.shape.layout {
            Layout::Wide => {
                let code = record.code.expect("has_place_for keeps codeless rows out of the wide tables");
                let index = self.wide_index(code);
                let shape = &self.shape;
                self.wide[index].own.get_or_insert_with(|| WideTable::new(code, shape)).append(&record, body);
            }
            Layout::Long => {
                let mut table = LongTable::new(&self.shape);
                table.append(&record, record.code.and_then(catalog::lookup), body);
                self.long.push(table.finish());
            }
            Layout::Flat => self.flat.push(&record, flat.unwrap_or_default()),
        }
        if !problems.is_empty() {
            self.errors.push(record.id, record.code, &problems.join("; "), &json.into_text());
        }
        appended
    }

    /// Whether the tables have a place for an observation of `code`; if not, why is among
    /// `problems`.
    fn has_place_for(&self, code: Option<&str>, problems: &mut Vec<String>) -> bool {
        match code {
            Some(code) if self.report_other_codes && !self.asked.is_empty() && !self.asked.iter().any(|c| c == code) => {
                problems.push(format!("code {code} was not asked for"));
                false
            }
            // Decoding has reported the missing code.
            None => self.shape.layout != Layout::Wide,
            Some(_) => true,
        }
    }

    pub fn finish(mut self) -> ObservationTables {
        let (repeated_uuids, duplicate_uuids) = std::mem::take(&mut self.uuids).repeated();
        let shape = std::mem::replace(&mut self.shape, Shape::all(Layout::Long));
        let layout = shape.layout;
        let tables: Vec<(Option<String>, _)> = match layout {
            Layout::Wide => {
                // Catalogue order first, then codes in order of appearance.
                let rank = |code: &Option<String>| {
                    catalog::CATALOG.iter().position(|spec| Some(spec.code) == code.as_deref()).unwrap_or(usize::MAX)
                };
                let mut wide = std::mem::take(&mut self.wide);
                wide.sort_by_key(|table| rank(&table.code));
                wide.into_iter().map(|table| (table.code.clone(), table.finish(&shape))).collect()
            }
            Layout::Long => vec![(None, std::mem::replace(&mut self.long, TableParts::new(None)).finish(&shape))],
            Layout::Flat => vec![(None, std::mem::take(&mut self.flat).finish())],
        };
        let flagged = |batch| if shape.keeps(DUPLICATE_UUID) { with_duplicate_uuid_flags(batch, &repeated_uuids) } else { batch };
        let tables = tables.into_iter().map(|(code, batch)| (code, flagged(batch))).collect();
        ObservationTables {
            layout,
            tables,
            errors: self.errors.finish(),
            duplicates: self.duplicates,
            redelivered: self.redelivered,
            duplicate_uuids,
            observations: self.rows as u64,
            newest_last_updated: self.newest_last_updated,
            columns: shape.columns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use crate::table::test_support::*;


    #[test]
    fn chunks_joined_into_segments_on_the_way_give_the_table_one_join_gives() {
        use crate::table::chunks::tests::chunk;
        let units = [Some("mg/dL"), None, Some("mmol/L")];
        let pieces: Vec<RecordBatch> = (0..5i64)
            .map(|n| {
                let rows = SEGMENT_ROWS / 3 + n as usize;
                let ids: Vec<i64> = (0..rows as i64).map(|i| n * 1_000_000 + i).collect();
                let unit: Vec<Option<&str>> = (0..rows).map(|i| units[(i + n as usize) % 3]).collect();
                chunk(&ids, &unit)
            })
            .collect();
        let mut parts = TableParts::new(None);
        pieces.iter().cloned().for_each(|piece| parts.push(piece));
        assert_eq!((parts.segments.len(), parts.chunks.len()), (1, 2), "three pieces make a segment, two wait");
        let in_parts = join(parts.segments.into_iter().chain(parts.chunks).collect());
        assert_eq!(in_parts, join(pieces));
    }

    #[test]
    fn rows_delivered_before_are_skipped_when_unchanged_and_kept_when_changed() {
        let stored = crate::decode::omh::time::parse_date_time("2026-11-26T06:47:52.169870Z").unwrap().utc_micros;
        // Observation 1 was delivered as it is now, 2 in an older version.
        let delivered = [(1, stored), (2, stored - 1)];
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]).with_delivered(&delivered);
        let glucose = b64(GLUCOSE);
        assert_eq!(builder.append(&input("1", "omh:blood-glucose:4.0", &glucose)), Appended::Delivered);
        assert_eq!(builder.append(&input("2", "omh:blood-glucose:4.0", &glucose)), Appended::Row);
        assert_eq!(builder.append(&input("3", "omh:blood-glucose:4.0", &glucose)), Appended::Row);
        assert_eq!(builder.received(), 3, "a delivered row is still one the server sent");
        let tables = builder.finish();
        assert_eq!((tables.observations, tables.redelivered), (2, 1));
        assert_eq!(tables.newest_last_updated, Some(stored));
        let mut since = crate::table::delivered_since(&tables.tables, stored).unwrap();
        since.sort();
        assert_eq!(since, vec![(2, stored), (3, stored)], "once per observation, though the long layout has a row per measure");
        assert!(crate::table::delivered_since(&tables.tables, stored + 1).unwrap().is_empty());
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

    fn reasons(tables: &ObservationTables) -> Vec<(Option<i64>, Option<String>, String)> {
        let ids = tables.errors.column(0).as_primitive::<Int64Type>();
        let codes = tables.errors.column(1).as_string::<i32>();
        let reasons = tables.errors.column(2).as_string::<i32>();
        (0..tables.errors.num_rows())
            .map(|i| (ids.is_valid(i).then(|| ids.value(i)), codes.is_valid(i).then(|| codes.value(i).to_string()), reasons.value(i).to_string()))
            .collect()
    }

    #[test]
    fn records_without_a_place_in_the_tables_are_in_the_errors_table_in_every_layout() {
        use crate::source::{NotAnObservation, ObservationInput, Payload};
        let (glucose, heart) = (b64(GLUCOSE), b64(HEART));
        for layout in [Layout::Wide, Layout::Long, Layout::Flat] {
            let mut builder = ObservationTableBuilder::new(layout, &["omh:blood-glucose:4.0"]);
            let patient = NotAnObservation::OtherResource { resource_type: "Patient", diagnostics: None };
            let appended = [
                builder.append(&input("1", "omh:blood-glucose:4.0", &glucose)),
                builder.append(&input("2", "omh:heart-rate:2.0", &heart)),
                builder.append(&ObservationInput { not_an_observation: Some(patient), ..ObservationInput::new("40001", None, Payload::Missing) }),
                builder.append(&ObservationInput { patient_id: Some(1), ..ObservationInput::new("3", None, Payload::Base64(glucose.as_bytes())) }),
                builder.append(&ObservationInput { patient_id: Some(1), ..ObservationInput::new("", Some("omh:blood-glucose:4.0"), Payload::Missing) }),
            ];
            let codeless = if layout == Layout::Wide { Appended::Reported } else { Appended::Row };
            assert_eq!(appended, [Appended::Row, Appended::Reported, Appended::NotAnObservation, codeless, Appended::Row], "{layout:?}");
            assert_eq!((builder.received(), builder.not_observations()), (4, 1), "what a FHIR total counts: observations, not the Patient");
            let kept = if layout == Layout::Wide { 2 } else { 3 };
            assert_eq!(builder.rows(), kept, "the rows the user gets: {layout:?}");
            let tables = builder.finish();
            let mut ids = std::collections::BTreeSet::new();
            for (_, batch) in &tables.tables {
                let column = batch.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>();
                ids.extend((0..batch.num_rows()).map(|i| column.is_valid(i).then(|| column.value(i))));
            }
            let expected = if layout == Layout::Wide { vec![None, Some(1)] } else { vec![None, Some(1), Some(3)] };
            assert_eq!(ids.into_iter().collect::<Vec<_>>(), expected, "{layout:?}");
            if layout == Layout::Wide {
                assert_eq!(tables.tables.len(), 1, "no table for a code not asked for, nor for no code");
            }
            let reasons = reasons(&tables);
            assert_eq!(reasons[0], (Some(2), Some("omh:heart-rate:2.0".into()), "code omh:heart-rate:2.0 was not asked for".into()));
            assert_eq!(reasons[1], (None, None, r#"a Patient (id "40001"), not an Observation"#.into()));
            assert_eq!(reasons[2], (Some(3), None, "the observation has no code".into()));
            assert!(reasons[3].2.starts_with("the observation has no id; "), "{:?}", reasons[3]);
            assert_eq!(reasons.len(), 4);
        }
        // an older server matches codes loosely: its other codes are left for the client filter
        let mut loose = ObservationTableBuilder::new(Layout::Long, &["omh:blood-glucose:4.0"]).with_loose_code_matching();
        assert_eq!(loose.append(&input("2", "omh:heart-rate:2.0", &heart)), Appended::Row);
        assert_eq!(loose.finish().errors.num_rows(), 0);
    }
}
