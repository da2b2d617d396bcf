//! A page's rows built into Arrow columns where the page was decoded (on a blocking thread,
//! beside the other pages), so the builder, which takes pages in order on one task, only
//! decides which rows stay and joins the chunks: nothing serial appends values per row.
//!
//! What depends on the pages before (a repeated observation id) or on what the fetch learns
//! later (an older server's filters, its loose code matching) is left to the builder: each
//! row is built here, and the builder masks the ones it does not keep. Rows the builder
//! appends itself: a code the catalogue does not know in the wide layout (its key-path
//! columns are typed over the whole table), the flat layout, and page entries that are not
//! observations (the errors table's alone).

use std::borrow::Cow;
use std::ops::Range;

use arrow_array::RecordBatch;

use super::columns::{Record, Shape};
use super::long::LongTable;
use super::uuids::UuidKey;
use super::wide::WideTable;
use super::Layout;
use crate::decode::omh::catalog::{self, CodeSpec, MeasureValue};
use crate::decode::{PreparedBody, PreparedObservation, PreparedPage, RawPayload};

/// One page's entries in page order, and the chunks its built rows are in.
pub struct PageTables {
    pub(super) entries: Vec<PageEntry>,
    /// Wide: one chunk per catalogued code on the page, by first appearance. Long: one.
    pub(super) chunks: Vec<PageChunk>,
}

pub(super) struct PageChunk {
    /// The wide layout's code (none in the long layout).
    pub code: Option<&'static str>,
    pub rows: RecordBatch,
}

pub(super) enum PageEntry {
    /// An observation whose rows are `rows` of chunk `chunk`.
    Built { facts: RowFacts, chunk: usize, rows: Range<usize> },
    /// An entry the builder appends itself.
    Prepared(PreparedObservation),
}

/// What the builder decides a built observation's rows on, and reports it with.
pub(super) struct RowFacts {
    pub id: Option<i64>,
    pub resource_id: Option<String>,
    pub code: Option<Cow<'static, str>>,
    pub start: Option<i64>,
    pub last_updated: Option<i64>,
    pub uuid: Option<UuidKey>,
    pub json: RawPayload,
    pub problems: Vec<String>,
    pub measure_problems: Vec<String>,
}

/// The chunks being built for one page.
enum Building {
    /// Per catalogued code.
    Wide(Vec<(&'static CodeSpec, WideTable)>),
    Long(LongTable),
    /// Nothing is built on the page.
    None,
}

impl PageTables {
    /// Build `page`'s rows as `shape` says.
    pub fn build(page: PreparedPage, shape: &Shape) -> Self {
        let observations = page.observations;
        let mut building = Building::sized_for(&observations, shape);
        let entries = observations.into_iter().map(|observation| building.append(observation)).collect();
        let chunks = match building {
            Building::Wide(tables) => {
                tables.into_iter().map(|(spec, table)| PageChunk { code: Some(spec.code), rows: table.finish() }).collect()
            }
            Building::Long(table) if table.len() > 0 => vec![PageChunk { code: None, rows: table.finish() }],
            Building::Long(_) | Building::None => Vec::new(),
        };
        Self { entries, chunks }
    }

    /// The oldest `lastUpdated` among the page's observations.
    pub fn oldest_last_updated(&self) -> Option<i64> {
        let each = self.entries.iter().filter_map(|entry| match entry {
            PageEntry::Built { facts, .. } => facts.last_updated,
            PageEntry::Prepared(observation) => observation.last_updated.filter(|_| observation.is_observation),
        });
        each.min()
    }

    /// Each entry's id, and whether it is an observation (what a search's total counts).
    pub fn ids(&self) -> impl Iterator<Item = (bool, Option<i64>)> + '_ {
        self.entries.iter().map(|entry| match entry {
            PageEntry::Built { facts, .. } => (true, facts.id),
            PageEntry::Prepared(observation) => (observation.is_observation, observation.id),
        })
    }
}

/// The wide layout's catalogue entry for an observation built on its page: a catalogued
/// code, as the catalogue spells it.
fn wide_spec(observation: &PreparedObservation) -> Option<&'static CodeSpec> {
    let code = observation.code.as_deref().filter(|_| observation.is_observation)?;
    catalog::lookup(code).filter(|spec| spec.code == code)
}

/// The long layout's rows for an observation: one per measure read, or one alone.
fn long_rows(observation: &PreparedObservation) -> usize {
    let rows = match &observation.body {
        PreparedBody::Measures(values) => values.iter().filter(|value| !matches!(value, MeasureValue::Missing)).count(),
        PreparedBody::Leaves(leaves) => leaves.len(),
        PreparedBody::Unreadable => 0,
    };
    rows.max(1)
}

impl Building {
    /// Tables sized for what `observations` will put in them, so each allocates once.
    fn sized_for(observations: &[PreparedObservation], shape: &Shape) -> Self {
        match shape.layout {
            Layout::Wide => {
                let mut rows: Vec<(&'static CodeSpec, usize)> = Vec::new();
                for spec in observations.iter().filter_map(wide_spec) {
                    match rows.iter_mut().find(|(known, _)| std::ptr::eq(*known, spec)) {
                        Some((_, n)) => *n += 1,
                        None => rows.push((spec, 1)),
                    }
                }
                Self::Wide(rows.into_iter().map(|(spec, n)| (spec, WideTable::with_capacity(spec.code, n, shape))).collect())
            }
            Layout::Long => {
                let rows = observations.iter().filter(|observation| observation.is_observation).map(long_rows).sum();
                Self::Long(LongTable::with_capacity(rows, shape))
            }
            Layout::Flat => Self::None,
        }
    }

    fn append(&mut self, mut observation: PreparedObservation) -> PageEntry {
        if !observation.is_observation {
            return PageEntry::Prepared(observation);
        }
        let (chunk, rows) = match self {
            Building::Wide(tables) => {
                // A catalogued code's row; any other is the builder's.
                let Some(chunk) = wide_spec(&observation).and_then(|spec| tables.iter().position(|(known, _)| std::ptr::eq(*known, spec)))
                else {
                    return PageEntry::Prepared(observation);
                };
                let table = &mut tables[chunk].1;
                let row = table.len();
                let body = std::mem::take(&mut observation.body);
                table.append(&Record::of(&observation), body);
                (chunk, row..row + 1)
            }
            Building::Long(table) => {
                let first = table.len();
                let body = std::mem::take(&mut observation.body);
                table.append(&Record::of(&observation), observation.code.as_deref().and_then(catalog::lookup), body);
                (0, first..table.len())
            }
            Building::None => return PageEntry::Prepared(observation),
        };
        let facts = RowFacts {
            id: observation.id,
            resource_id: observation.resource_id,
            start: observation.frame.map(|frame| frame.start),
            last_updated: observation.last_updated,
            uuid: observation.header.uuid.as_deref().map(UuidKey::of),
            code: observation.code,
            json: observation.json,
            problems: observation.problems,
            measure_problems: observation.measure_problems,
        };
        PageEntry::Built { facts, chunk, rows }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use arrow_array::{Array, StringArray};

    use super::*;
    use crate::source::ObservationInput;
    use crate::table::test_support::*;
    use crate::table::ObservationTableBuilder;

    fn page(inputs: &[ObservationInput<'_>], layout: Layout) -> PageTables {
        let mut page = PreparedPage::default();
        inputs.iter().for_each(|input| page.push(input));
        PageTables::build(page, &Shape::all(layout))
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        batch.column_by_name("observation_id").unwrap().as_primitive::<Int64Type>().values().to_vec()
    }

    fn dictionary_values(batch: &RecordBatch, name: &str) -> Vec<String> {
        let column = batch.column_by_name(name).unwrap().as_dictionary::<Int32Type>();
        column.values().as_string::<i32>().iter().map(|value| value.unwrap().to_string()).collect()
    }

    #[test]
    fn pages_built_apart_are_masked_and_joined_by_the_builder() {
        let glucose = |unit: &str| b64(&GLUCOSE.replace("mg/dL", unit).replace(r#""uuid":"u1""#, &format!(r#""uuid":"u-{unit}""#)));
        let (mg, mmol, heart, mood) = (glucose("mg/dL"), glucose("mmol/L"), b64(HEART), b64(UNKNOWN));
        let first = page(&[input("1", "omh:blood-glucose:4.0", &mg), input("2", "omh:blood-glucose:4.0", &mmol), input("5", "omh:heart-rate:2.0", &heart)], Layout::Wide);
        assert_eq!(first.chunks.len(), 2, "a chunk per catalogued code on the page");
        assert_eq!(first.chunks[0].rows.num_rows(), 2);
        // The second page repeats observation 1 (pages shifted) and brings a code the
        // catalogue does not know, which the builder appends itself.
        let second = page(&[input("1", "omh:blood-glucose:4.0", &mg), input("3", "omh:blood-glucose:4.0", &mg), input("6", "x:mood:1.0", &mood)], Layout::Wide);
        assert!(matches!(second.entries[2], PageEntry::Prepared(_)));
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &["omh:blood-glucose:4.0"]);
        builder.append_built(first);
        builder.append_built(second);
        assert_eq!((builder.received(), builder.rows()), (5, 3));
        let tables = builder.finish();
        assert_eq!(tables.tables.len(), 1);
        let table = &tables.tables[0].1;
        assert_eq!(ids(table), [1, 2, 3], "the repeat masked out of its chunk");
        assert_eq!(dictionary_values(table, "glucose_unit"), ["mg/dL", "mmol/L"], "one dictionary of distinct values");
        assert_eq!(dictionary_values(table, "code"), ["omh:blood-glucose:4.0"]);
        assert!(table.column_by_name("timestamp").is_some() && table.column_by_name("patient_name").is_none());
        assert_eq!(tables.duplicates, 1);
        let reported = tables.errors.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(reported, [5, 6], "codes not asked for are reported, built or not");
    }

    #[test]
    fn long_pages_mask_every_row_of_an_observation_and_keep_measures_in_order() {
        let pressure = b64(r#"{"header":{"uuid":"p"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"systolic_blood_pressure":{"value":120,"unit":"mmHg"},"diastolic_blood_pressure":{"value":80,"unit":"mmHg"}}}"#);
        let (glucose, mood) = (b64(GLUCOSE), b64(UNKNOWN));
        let first = page(&[input("1", "omh:blood-pressure:4.0", &pressure), input("2", "x:mood:1.0", &mood)], Layout::Long);
        assert_eq!(first.chunks.len(), 1, "one chunk, unknown codes included");
        let second = page(&[input("1", "omh:blood-pressure:4.0", &pressure), input("3", "omh:blood-glucose:4.0", &glucose)], Layout::Long);
        let mut builder = ObservationTableBuilder::new(Layout::Long, &[]);
        builder.append_built(first);
        builder.append_built(second);
        let mut tables = builder.finish();
        tables.sort_newest_first();
        let long = &tables.tables[0].1;
        assert_eq!(ids(long), [3, 3, 2, 2, 2, 2, 2, 1, 1], "observation 1's two rows once");
        let measures = long.column_by_name("measure").unwrap().as_dictionary::<Int32Type>();
        let measures: Vec<&str> = measures.downcast_dict::<StringArray>().unwrap().into_iter().map(Option::unwrap).collect();
        assert_eq!(&measures[7..], ["systolic_blood_pressure", "diastolic_blood_pressure"]);
        assert_eq!(long.column_by_name("unit").unwrap().as_dictionary::<Int32Type>().values().len(), 3, "mg/dL, dB, mmHg");
        assert_eq!(tables.duplicates, 1);
        assert!(long.column_by_name("sequence").is_none());
        assert_eq!(long.column_by_name("patient_id").unwrap().null_count(), 0);
    }
}
