//! De-identification of a fetch's finished tables, in Arrow: tables in, tables out, after
//! stage 6, knowing nothing of how they were fetched.
//!
//! - `patient_id` becomes `pseudonym`, and `observation_id` (and an imported record's
//!   `resource_id`) its own pseudonym, all keyed HMACs ([`keyed`]), so whatever a user joins
//!   on stays joinable. `source` keeps only whether a row is imported, not from which source.
//! - Direct identifiers go: `uuid`, `patient_name`; in the errors table, the raw payload.
//!   Text taken from the body of a code the catalogue does not know goes too: nothing says
//!   what it holds.
//! - Times: every time column of a patient moves by that patient's shift, whole weeks, so
//!   each interval within a patient, weekday and time of day are exact
//!   ([`DateHandling::Shift`]); or, for Safe Harbor, each becomes the time since the
//!   patient's first observation, with `first_year` beside the pseudonym.

mod columns;
mod keyed;
mod patients;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

pub use keyed::{Keys, PSEUDONYM_LEN, PatientKey};
use patients::{PATIENT_ID, Patients};

use crate::decode::omh::catalog;
use crate::error::{JheError, Result};
use crate::query::Layout;

/// The shortest key taken: 128 bits.
pub const MIN_KEY_BYTES: usize = 16;
/// The widest date shift taken, in days either way.
pub const MAX_SHIFT_DAYS: u32 = 36_500;

/// What happens to the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateHandling {
    /// Every time of a patient moves by one whole number of weeks, the same for all of that
    /// patient's times, drawn uniformly from those within `-max_days..=max_days` by the key.
    Shift { max_days: u32 },
    /// No date element but the year: times since the patient's first observation.
    SafeHarbor,
}

/// A key, the server it is used for, and what happens to the times.
#[derive(Debug)]
pub struct Deidentification {
    keys: Keys,
    dates: DateHandling,
}

/// A table's columns as de-identification leaves them.
#[derive(Default)]
struct Output {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Output {
    fn push(&mut self, name: &str, array: ArrayRef) {
        self.fields.push(Field::new(name, array.data_type().clone(), true));
        self.arrays.push(array);
    }

    /// The column, if there is one.
    fn extend(&mut self, name: &str, array: Option<ArrayRef>) {
        if let Some(array) = array {
            self.push(name, array);
        }
    }
}

/// The columns every layout has, which are never taken for body text.
const COMMON: [&str; 17] = [
    "observation_id", "patient_id", "code", "timestamp", "effective_start", "effective_end", "utc_offset",
    "last_updated", "created", "uuid", "duplicate_uuid", "modality", "source_name", "patient_name", "data_source",
    "resource_id", "source",
];
/// Direct identifiers, removed.
const REMOVED: [&str; 2] = ["uuid", "patient_name"];

impl Deidentification {
    pub fn new(key: &[u8], server: &str, dates: DateHandling) -> Result<Self> {
        if key.len() < MIN_KEY_BYTES {
            return Err(JheError::Config(format!(
                "a de-identification key needs at least {MIN_KEY_BYTES} bytes (128 bits), got {}: \
                 make one with `python -c \"import secrets; print(secrets.token_hex(32))\"`",
                key.len()
            )));
        }
        if let DateHandling::Shift { max_days } = dates {
            if max_days > MAX_SHIFT_DAYS {
                return Err(JheError::Config(format!("date_shift_days must be at most {MAX_SHIFT_DAYS}, got {max_days}")));
            }
            if (1..7).contains(&max_days) {
                return Err(JheError::Config(format!(
                    "date_shift_days must be 0 (no shift) or at least 7: shifts are whole weeks, which keep the weekday; got {max_days}"
                )));
            }
        }
        Ok(Self { keys: Keys::new(key, server), dates })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A patient's date shift in whole days (0 in Safe Harbor mode, which keeps no date).
    pub fn shift_days(&self, key: &PatientKey) -> i64 {
        match self.dates {
            DateHandling::Shift { max_days } => key.shift_days(max_days),
            DateHandling::SafeHarbor => 0,
        }
    }

    /// The result's tables, de-identified together: a patient's pseudonym and shift are the
    /// same in every table, and Safe Harbor counts from the patient's first observation in
    /// any of them.
    pub fn tables(&self, layout: Layout, tables: &[(Option<String>, RecordBatch)]) -> Result<Vec<(Option<String>, RecordBatch)>> {
        if layout == Layout::Flat {
            return Err(JheError::Config(
                "de-identification takes the wide or long layout, not the official client's flat frame".into(),
            ));
        }
        if tables.iter().any(|(_, batch)| batch.column_by_name(PATIENT_ID).is_none()) {
            // Without it no pseudonym or shift is known, and the times would be withheld.
            return Err(JheError::Config("de-identification needs the patient_id column: keep it in columns=".into()));
        }
        let batches: Vec<&RecordBatch> = tables.iter().map(|(_, batch)| batch).collect();
        let patients = Patients::of(&batches, &self.keys);
        tables
            .iter()
            .map(|(code, batch)| {
                // A wide table of a code the catalogue does not know: its body's columns.
                let unknown_code = code.as_deref().is_some_and(|code| catalog::lookup(code).is_none());
                Ok((code.clone(), self.table(batch, &patients, layout, unknown_code)?))
            })
            .collect()
    }

    /// The errors table with its ids re-keyed and its raw payloads emptied (they hold every
    /// identifier the tables drop); the reasons stay.
    pub fn errors(&self, errors: &RecordBatch) -> RecordBatch {
        let mut out = Output::default();
        for (field, column) in errors.schema().fields().iter().zip(errors.columns()) {
            match field.name().as_str() {
                "observation_id" => out.push(field.name(), columns::observation_pseudonyms(column, &self.keys)),
                "raw" => out.push(field.name(), columns::empty_strings(column.len())),
                _ => out.push(field.name(), column.clone()),
            }
        }
        into_batch(out, errors)
    }

    fn table(&self, batch: &RecordBatch, patients: &Patients, layout: Layout, unknown_code: bool) -> Result<RecordBatch> {
        let rows = patients.rows(batch);
        let shift_days: Vec<i64> = patients.keys.iter().map(|key| self.shift_days(key)).collect();
        let mut out = Output::default();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let name = field.name().as_str();
            match name {
                "observation_id" => out.push(name, columns::observation_pseudonyms(column, &self.keys)),
                // Anything else under these names is dropped: never shown unvetted.
                "resource_id" => out.extend(name, columns::record_pseudonyms(column, &self.keys)),
                "source" => out.extend(name, columns::source_kinds(column)),
                PATIENT_ID => {
                    out.push("pseudonym", columns::pseudonyms(&rows, patients));
                    if self.dates == DateHandling::SafeHarbor {
                        out.push("first_year", columns::first_years(&rows, patients));
                    }
                }
                _ if REMOVED.contains(&name) => {}
                "text" if layout == Layout::Long => out.push(name, columns::withheld(column, &unknown_code_rows(batch))),
                _ if matches!(field.data_type(), DataType::Timestamp(TimeUnit::Microsecond, _)) => {
                    let moved = match self.dates {
                        DateHandling::Shift { .. } => columns::shifted(column, &rows, &shift_days)?,
                        DateHandling::SafeHarbor => columns::since_first(column, &rows, patients),
                    };
                    out.push(name, moved);
                }
                _ if unknown_code && !COMMON.contains(&name) && is_text(field.data_type()) => {}
                _ => out.push(name, column.clone()),
            }
        }
        Ok(into_batch(out, batch))
    }
}

/// Rows of the long layout whose code the catalogue does not know: their `text` is the
/// body's own, unvetted.
fn unknown_code_rows(batch: &RecordBatch) -> Vec<bool> {
    let Some(codes) = batch.column_by_name("code").and_then(|codes| codes.as_dictionary_opt::<Int32Type>()) else {
        return vec![false; batch.num_rows()];
    };
    let values = codes.values().as_string::<i32>();
    let unknown: Vec<bool> = values.iter().map(|code| code.is_none_or(|code| catalog::lookup(code).is_none())).collect();
    codes.keys().iter().map(|key| key.is_none_or(|key| unknown[key as usize])).collect()
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary | DataType::LargeBinary => true,
        DataType::Dictionary(_, values) => is_text(values),
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) => true,
        _ => false,
    }
}

fn into_batch(out: Output, like: &RecordBatch) -> RecordBatch {
    let schema = Schema::new_with_metadata(out.fields, like.schema().metadata().clone());
    RecordBatch::try_new(Arc::new(schema), out.arrays).expect("each column is as long as the table")
}
