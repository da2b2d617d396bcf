//! `columns=`: the columns a fetch keeps, checked once against the layout and codes asked
//! for, so a misspelt name fails before anything is sent. The tables build only these
//! (see [`crate::table`]); the names are the tables' own, listed here so a request can be
//! checked before any table exists.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::decode::omh::catalog::{self, CodeSpec};
use crate::error::{JheError, Result};
use crate::query::Layout;

/// The columns every wide and long table has, in table order (the last two only when a
/// fetch reads imported records).
pub const COMMON_COLUMNS: [&str; 15] = [
    "observation_id", "patient_id", "code", "effective_start", "effective_end", "utc_offset", "last_updated", "created", "uuid",
    "modality", "source_name", "patient_name", "data_source", "resource_id", "source",
];
/// The wide layout's name for `effective_start`.
pub const TIMESTAMP: &str = "timestamp";
/// Added last, once every uuid is known.
pub const DUPLICATE_UUID: &str = "duplicate_uuid";
/// The long layout's own columns, in table order.
pub const LONG_COLUMNS: [&str; 6] = ["measure", "value", "unit", "canonical_value", "canonical_unit", "text"];

/// The column names a fetch keeps (in the table's order, whatever order they were given in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSelection {
    names: Arc<BTreeSet<String>>,
}

impl ColumnSelection {
    /// `names` checked against the columns `layout` makes for `codes` (none: any code). In
    /// the wide layout a code the catalogue does not know gets its columns from its bodies'
    /// key paths, which are not known before the data: when such a code is asked for, a
    /// name that is not a common or catalogued column is taken as a key-path column's.
    pub fn new(names: &[String], layout: Layout, codes: &[&str]) -> Result<Self> {
        if layout == Layout::Flat {
            return Err(JheError::Config(
                "columns= selects columns of the wide or long layout; the flat layout (jhe.compat) keeps every column".into(),
            ));
        }
        if names.is_empty() {
            return Err(JheError::Config("columns must name at least one column".into()));
        }
        let valid = valid_columns(layout, codes);
        let key_paths = layout == Layout::Wide && codes.iter().any(|code| catalog::lookup(code).is_none());
        if let Some(bad) = names.iter().find(|name| !key_paths && !valid.contains(name)) {
            let asked = if codes.is_empty() { String::new() } else { format!(" for {}", codes.join(", ")) };
            return Err(JheError::Config(format!(
                "columns: {bad:?} is not a column of the {} layout{asked}; the columns are: {}",
                layout.name(),
                valid.join(", ")
            )));
        }
        Ok(Self { names: Arc::new(names.iter().cloned().collect()) })
    }

    /// Whether the user asked for the column `name`.
    pub fn keeps(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// Every column `layout` makes for `codes` (none: every catalogued code), in table order.
fn valid_columns(layout: Layout, codes: &[&str]) -> Vec<String> {
    let mut valid: Vec<String> = COMMON_COLUMNS.iter().chain([&DUPLICATE_UUID]).map(|name| name.to_string()).collect();
    match layout {
        Layout::Long => valid.extend(LONG_COLUMNS.map(String::from)),
        _ => {
            valid.insert(3, TIMESTAMP.to_string());
            let specs: Vec<&'static CodeSpec> = match codes {
                [] => catalog::every_spec().collect(),
                codes => codes.iter().filter_map(|code| catalog::lookup(code)).collect(),
            };
            for measure in specs.into_iter().flat_map(|spec| spec.measures) {
                for column in measure.wide_columns() {
                    if !valid.contains(&column) {
                        valid.push(column);
                    }
                }
            }
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn names_are_checked_against_the_layout_and_codes() {
        let glucose = ["omh:blood-glucose:4.0"];
        let wide = ColumnSelection::new(&names(&["glucose_mg_dl", "timestamp", "duplicate_uuid", "patient_id"]), Layout::Wide, &glucose).unwrap();
        assert!(wide.keeps("glucose_mg_dl") && !wide.keeps("uuid"));
        assert!(ColumnSelection::new(&names(&["glucose_mg_dl", "heart_rate_bpm"]), Layout::Wide, &[]).is_ok(), "any catalogued code");
        let bad = ColumnSelection::new(&names(&["patient_id", "heart_rate_bpm"]), Layout::Wide, &glucose).unwrap_err().to_string();
        assert!(bad.contains("\"heart_rate_bpm\"") && bad.contains("glucose_mg_dl") && bad.contains("timestamp"), "{bad}");
        let long = ColumnSelection::new(&names(&["value", "unit", "duplicate_uuid"]), Layout::Long, &glucose).unwrap();
        assert!(long.keeps("value"));
        let bad = ColumnSelection::new(&names(&["timestamp"]), Layout::Long, &[]).unwrap_err().to_string();
        assert!(bad.contains("\"timestamp\"") && bad.contains("canonical_value") && !bad.contains("glucose_mg_dl"), "{bad}");
        assert!(ColumnSelection::new(&[], Layout::Wide, &[]).unwrap_err().to_string().contains("at least one"));
        assert!(ColumnSelection::new(&names(&["code"]), Layout::Flat, &[]).unwrap_err().to_string().contains("flat"));
        // a code the catalogue does not know: its key-path names are not known before the data
        assert!(ColumnSelection::new(&names(&["mood_score"]), Layout::Wide, &["x:mood:1.0"]).is_ok());
        assert!(ColumnSelection::new(&names(&["mood_score"]), Layout::Long, &["x:mood:1.0"]).is_err());
    }
}
