//! Arrow building. In: prepared observations ([`crate::decode::PreparedPage`]), each page's
//! rows built where it was decoded ([`page`]), appended in the order the server sent them. Out: [`ObservationTables`]: the data tables in the
//! layout asked for, the errors table, and counts.
//!
//! Wide ([`wide`]): one table per code, one row per observation, with the catalogue's typed
//! columns (or, for a code the catalogue does not know, columns by key path, [`keypaths`],
//! typed by [`infer`]). Long ([`long`]): one tidy table, one row per observation and
//! measure. Flat ([`flat`]): one table, one row per observation, as the official client's
//! `tidy_observation` builds it. A record that cannot be (fully) decoded keeps its row with
//! what could be read and is also listed in the errors table ([`errors`]); one the tables
//! have no place for is listed there alone ([`builder`] decides): nothing is dropped.
//! [`finish`] holds what an older server ignores, applied as rows are appended, and sorts
//! newest first.

mod builder;
mod chunks;
mod columns;
mod errors;
mod finish;
mod flat;
mod infer;
mod keypaths;
mod long;
mod page;
mod resources;
mod uuids;
mod wide;

use arrow_array::RecordBatch;

pub use builder::ObservationTableBuilder;
pub use columns::{Shape, utc_timestamp_type};
pub use finish::{ClientFilter, delivered_since};
pub use flat::SHAPES_METADATA;
pub use page::PageTables;
pub use resources::resource_table;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Row,
    /// An observation the tables have no place for: a row of the errors table only.
    Reported,
    /// A page entry that is not an observation: a row of the errors table only.
    NotAnObservation,
    /// The same observation id was already received (pages shifted under us).
    Duplicate,
    /// Received, but outside the filters an older server ignores: not kept.
    Filtered,
    /// Received again unchanged in a reading of changes: delivered before, not kept.
    Delivered,
}

pub use crate::query::Layout;

/// The finished tables of one fetch.
#[derive(Debug, Clone)]
pub struct ObservationTables {
    pub layout: Layout,
    /// Wide: one table per code (catalogue order, then first appearance). Long: one table,
    /// with no code.
    pub tables: Vec<(Option<String>, RecordBatch)>,
    pub errors: RecordBatch,
    /// Rows received twice and skipped.
    pub duplicates: u64,
    /// Rows a reading of changes read again unchanged, delivered before, and skipped.
    pub redelivered: u64,
    /// Observations whose OMH uuid another observation also carries (flagged, not merged).
    pub duplicate_uuids: u64,
    /// Distinct observations in the tables (after the filters an older server ignores).
    pub observations: u64,
    /// The latest `lastUpdated` among every row received, kept or not: how far a reading
    /// of changes got.
    pub newest_last_updated: Option<i64>,
    /// The columns the user selected (none: every one), kept by [`Self::keep_selected`].
    pub columns: Option<crate::selection::ColumnSelection>,
}

#[cfg(test)]
mod test_support {
    //! Observations as a page would hand them over, and a way to append one.

    use base64::Engine as _;

    use super::{Appended, ObservationTableBuilder, ObservationTables, PageTables, RecordBatch};
    use crate::decode::PreparedPage;
    use crate::source::{ObservationInput, Payload};

    pub fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    pub fn input<'a>(id: &'a str, code: &'a str, data: &'a str) -> ObservationInput<'a> {
        ObservationInput {
            patient_id: Some(40001),
            last_updated: Some("2026-11-26T06:47:52.169870Z"),
            ..ObservationInput::new(id, Some(code), Payload::Base64(data.as_bytes()))
        }
    }

    pub const GLUCOSE: &str = r#"{"header":{"uuid":"u1","modality":"sensed"},"body":{"effective_time_frame":{"date_time":"2024-05-02T08:30:00-07:00"},"blood_glucose":{"value":105,"unit":"mg/dL"},"temporal_relationship_to_meal":"fasting"}}"#;
    pub const HEART: &str = r#"{"header":{"uuid":"u2"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"heart_rate":{"value":61.5,"unit":"beats/min"}}}"#;
    pub const UNKNOWN: &str = r#"{"header":{"uuid":"u3"},"body":{"effective_time_frame":{"date_time":"2024-05-02T15:30:00Z"},"mood":{"score":4,"label":"good"},"tags":["a","b"],"ok":true,"level":{"value":55.5,"unit":"dB"}}}"#;

    pub fn table<'a>(tables: &'a ObservationTables, code: &str) -> &'a RecordBatch {
        &tables.tables.iter().find(|(c, _)| c.as_deref() == Some(code)).unwrap().1
    }

    /// One observation through the decode step every page takes, then appended.
    pub trait Append {
        fn append(&mut self, input: &ObservationInput<'_>) -> Appended;
    }

    impl Append for ObservationTableBuilder {
        fn append(&mut self, input: &ObservationInput<'_>) -> Appended {
            let mut page = PreparedPage::default();
            page.push(input);
            let mut appended = None;
            self.append_built_with(PageTables::build(page, &self.shape().clone()), |outcome| appended = Some(outcome));
            appended.expect("one entry appended")
        }
    }
}
