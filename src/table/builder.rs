//! The builder: prepared observations appended in the order the server sent them, each
//! once (a repeated observation id is skipped), into the layout asked for; uuids carried
//! twice flagged when the tables are finished.

use std::collections::HashMap;

use super::errors::ErrorsBuilder;
use super::finish::ClientFilter;
use super::flat::FlatTable;
use super::long::LongTable;
use super::uuids::{UuidList, with_duplicate_uuid_flags};
use super::wide::WideTable;
use super::{Appended, Layout, ObservationTables, columns::Record};
use crate::decode::flatten::Leaves;
use crate::decode::omh::catalog;
use crate::decode::{PageOptions, PreparedObservation, PreparedPage};

pub struct ObservationTableBuilder {
    layout: Layout,
    wide: Vec<WideTable>,
    wide_index: HashMap<String, usize>,
    long: LongTable,
    /// Rows in the tables.
    rows: usize,
    /// Distinct observations received, kept or not: what the server's count counts.
    received: usize,
    /// What an older server left unfiltered; rows outside it are received but not kept.
    filter: Option<ClientFilter>,
    /// Observation ids received: a compressed bitmap, as ids are mostly dense database ids
    /// (a hash set would hold a bucket per id; benchmarks/PROFILE.md).
    seen_ids: roaring::RoaringTreemap,
    duplicates: u64,
    /// Every observation's OMH uuid, to find the ones carried more than once at the end.
    uuids: UuidList,
    newest_last_updated: Option<i64>,
    errors: ErrorsBuilder,
    /// With extras: per observation, its OMH header, `meta.source`, `identifier` and
    /// `body.effective_time_frame` leaves.
    extras: Option<Vec<Leaves>>,
    /// The flat layout's table (empty in the others).
    flat: FlatTable,
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
            received: 0,
            filter: None,
            seen_ids: roaring::RoaringTreemap::new(),
            duplicates: 0,
            uuids: UuidList::default(),
            newest_last_updated: None,
            errors: ErrorsBuilder::default(),
            extras: None,
            flat: FlatTable::new(),
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
    /// under a key ending in `date_time` that all parse become UTC timestamps, with a
    /// `{path}:local` twin (wall time in the offset written, no timezone).
    pub fn with_extras(mut self) -> Self {
        self.extras = Some(Vec::new());
        self
    }

    /// Keep only the rows `filter` admits (for a server that ignores those filters). Rows
    /// outside it still count as received, the way the server counts them.
    pub fn with_filter(mut self, filter: ClientFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Whether [`Self::with_extras`] was asked for (prepared observations must carry them).
    pub fn wants_extras(&self) -> bool {
        self.extras.is_some()
    }

    /// What pages prepared for this builder must carry: the extras, and (flat layout) the
    /// FHIR resources as received.
    pub fn page_options(&self) -> PageOptions {
        PageOptions { extras: self.extras.is_some(), resources: self.layout == Layout::Flat }
    }

    /// Rows kept in the tables so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Distinct observations received so far, kept or filtered out.
    pub fn received(&self) -> usize {
        self.received
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// The latest `lastUpdated` among the rows so far.
    pub fn newest_last_updated(&self) -> Option<i64> {
        self.newest_last_updated
    }

    fn wide_table(&mut self, code: &str) -> usize {
        if let Some(&index) = self.wide_index.get(code) {
            return index;
        }
        self.wide.push(WideTable::new(code));
        self.wide_index.insert(code.to_string(), self.wide.len() - 1);
        self.wide.len() - 1
    }

    /// Append a page's observations in order, each freed once appended. Returns the latest
    /// `lastUpdated` among the rows it brought that were not received before.
    pub fn append_page(&mut self, page: PreparedPage) -> Option<i64> {
        let mut newest = None;
        for observation in page.observations {
            let last_updated = observation.last_updated;
            if self.append_prepared(observation) != Appended::Duplicate {
                newest = newest.max(last_updated);
            }
        }
        newest
    }

    /// Add one observation decoded by [`PreparedObservation::new`] (possibly on another
    /// thread). Observations must be appended in the order the server sent them.
    pub fn append_prepared(&mut self, prepared: PreparedObservation) -> Appended {
        let PreparedObservation { id, patient_id, code, last_updated, patient_name, data_source, json, document, frame, extras, flat, mut problems } =
            prepared;
        // `as u64` is a bijection, so negative ids stay distinct.
        if id.is_some_and(|id| !self.seen_ids.insert(id as u64)) {
            self.duplicates += 1;
            return Appended::Duplicate;
        }
        self.received += 1;
        if let Some(at) = last_updated {
            self.newest_last_updated = Some(self.newest_last_updated.map_or(at, |newest| newest.max(at)));
        }
        if self.filter.as_ref().is_some_and(|filter| !filter.admits(frame.map(|f| f.start), last_updated, code.as_deref())) {
            return Appended::Filtered;
        }
        if let Some(all) = &mut self.extras {
            all.push(extras.unwrap_or_default());
        }
        let code = code.as_deref();
        let header = document.as_ref().ok().map(|document| &document.header);
        let record = Record {
            id,
            patient_id,
            code,
            start: frame.map(|frame| frame.start),
            end: frame.and_then(|frame| frame.end),
            offset: frame.and_then(|frame| frame.offset_seconds),
            last_updated,
            uuid: header.and_then(|h| h.uuid.as_deref()),
            modality: header.and_then(|h| h.modality.as_deref()),
            source_name: header.and_then(|h| h.acquisition_provenance.as_ref()).and_then(|p| p.source_name.as_deref()),
            patient_name: patient_name.as_deref(),
            data_source: data_source.as_deref(),
            extras: self.extras.as_ref().map(|e| (e.len() - 1) as u32),
        };
        if let Some(uuid) = record.uuid {
            self.uuids.push(uuid);
        }
        let body = document.as_ref().ok().and_then(|document| document.body.as_ref());
        match self.layout {
            Layout::Wide => {
                // A record without a code still gets a row, in the table of code "".
                let index = self.wide_table(code.unwrap_or(""));
                self.wide[index].append(&record, body, &mut problems);
            }
            Layout::Long => self.long.append(&record, code.and_then(catalog::lookup), body, &mut problems),
            Layout::Flat => {
                // The catalogue still checks the measures, so the errors table is the other layouts'.
                if let (Some(spec), Some(body)) = (code.and_then(catalog::lookup), body) {
                    problems.extend(spec.measures.iter().filter_map(|measure| measure.read(body).problem));
                }
                self.flat.push(&record, flat.unwrap_or_default());
            }
        }
        if !problems.is_empty() {
            self.errors.push(id, code, &problems.join("; "), &json.into_text());
        }
        self.rows += 1;
        Appended::Row
    }

    pub fn finish(mut self) -> ObservationTables {
        let (repeated_uuids, duplicate_uuids) = std::mem::take(&mut self.uuids).repeated();
        let extras = self.extras.as_deref();
        let tables: Vec<(Option<String>, _)> = match self.layout {
            Layout::Wide => {
                // Catalogue order first, then codes in order of appearance.
                let rank = |code: &str| catalog::CATALOG.iter().position(|spec| spec.code == code).unwrap_or(usize::MAX);
                let mut wide = std::mem::take(&mut self.wide);
                wide.sort_by_key(|table| rank(&table.code));
                wide.into_iter().map(|table| (Some(table.code.clone()), table.finish(extras))).collect()
            }
            Layout::Long => {
                let long = std::mem::replace(&mut self.long, LongTable::new());
                vec![(None, long.finish(extras))]
            }
            Layout::Flat => vec![(None, std::mem::take(&mut self.flat).finish())],
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use crate::table::test_support::*;

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
}
