//! The search parameters the real server declares for imported records (the
//! `aux_resources` `__search` blocks of `core/fhir/fhir_config.json`) and how it matches
//! them (`core/fhir/search.py`, the JSONB query builder):
//!
//! - a parameter's name matches in any letter case and with `-`/`_` dropped
//!   (`clinicalStatus`, `clinical_status`, `clinical-status`); repeated parameters AND,
//!   commas inside one OR, empty pieces are skipped;
//! - token (`system|code`, a bare `code`, `system|`): a coding at the path whose code
//!   (and system, when one is given; `|code` gives none) equals it;
//! - code (`status`, `intent`): the scalar equals the token's code, its system ignored;
//! - date: lexical comparison of the ISO text (`ge`/`gt`/`le`/`lt`), a bare value a SQL
//!   `LIKE 'value%'` prefix; a record without the element never matches;
//! - a parameter the server does not declare for the type is ignored.
//!
//! In: the query's raw (key, value) pairs; out: [`Filter`]s and whether a record passes.

use crate::generate::ehr_codes::{Coding, ENCOUNTER_IDENTIFIER, LOINC};
use crate::generate::imported::{
    Imported, ImportedType, condition, condition_abatement, condition_onset_day,
    condition_resolved, date_text, effective_start, encounter, encounter_csn, instant_text,
    medication_status, observation,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Token,
    Identifier,
    Code,
    Date,
    Reference,
}

/// What a declared parameter reads from a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    ObservationCategory,
    ObservationCode,
    ObservationStatus,
    ObservationDate,
    ConditionCategory,
    ConditionClinicalStatus,
    ConditionCode,
    ConditionOnset,
    ConditionRecorded,
    ConditionAbatement,
    MedicationStatus,
    MedicationIntent,
    MedicationAuthored,
    EncounterClass,
    EncounterType,
    EncounterIdentifier,
    EncounterStatus,
    EncounterDate,
    /// A declared path no generated record has (`encounter`, `location`, an Encounter's
    /// `period.start`, ...): a value there matches nothing.
    Absent,
}

fn declared(t: ImportedType) -> &'static [(&'static str, Kind, Field)] {
    use Field::*;
    match t {
        ImportedType::Observation => &[
            ("category", Kind::Token, ObservationCategory),
            ("code", Kind::Token, ObservationCode),
            ("status", Kind::Code, ObservationStatus),
            ("date", Kind::Date, ObservationDate),
        ],
        ImportedType::Condition => &[
            ("abatement-date", Kind::Date, ConditionAbatement),
            ("asserted-date", Kind::Date, Absent),
            ("category", Kind::Token, ConditionCategory),
            ("clinical-status", Kind::Token, ConditionClinicalStatus),
            ("code", Kind::Token, ConditionCode),
            ("encounter", Kind::Reference, Absent),
            ("onset-date", Kind::Date, ConditionOnset),
            ("recorded-date", Kind::Date, ConditionRecorded),
        ],
        // The server's path is `period.start`, but the R4 -> R5 map writes `actualPeriod`:
        // on imported Encounters the date never matches (and sorts as missing).
        ImportedType::Encounter => &[
            ("class", Kind::Token, EncounterClass),
            ("identifier", Kind::Identifier, EncounterIdentifier),
            ("discharge-disposition", Kind::Token, Absent),
            ("location", Kind::Reference, Absent),
            ("status", Kind::Code, EncounterStatus),
            ("type", Kind::Token, EncounterType),
            ("date", Kind::Date, EncounterDate),
        ],
        // No `code` and no `date`: `authoredon` is its date.
        ImportedType::MedicationRequest => &[
            ("intent", Kind::Code, MedicationIntent),
            ("status", Kind::Code, MedicationStatus),
            ("encounter", Kind::Reference, Absent),
            ("authoredon", Kind::Date, MedicationAuthored),
        ],
    }
}

/// `_norm` of `core/fhir/search.py`.
fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// One `ge`/`gt`/`le`/`lt` comparison, or a prefix (`LIKE 'value%'`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DateTerm {
    Ge(String),
    Gt(String),
    Le(String),
    Lt(String),
    Prefix(String),
}

impl DateTerm {
    fn parse(raw: &str) -> DateTerm {
        let rest = || raw[2..].to_string();
        match raw.get(..2) {
            Some("ge") => DateTerm::Ge(rest()),
            Some("gt") => DateTerm::Gt(rest()),
            Some("le") => DateTerm::Le(rest()),
            Some("lt") => DateTerm::Lt(rest()),
            _ => DateTerm::Prefix(raw.to_string()),
        }
    }

    fn holds(&self, text: &str) -> bool {
        match self {
            DateTerm::Ge(v) => text >= v.as_str(),
            DateTerm::Gt(v) => text > v.as_str(),
            DateTerm::Le(v) => text <= v.as_str(),
            DateTerm::Lt(v) => text < v.as_str(),
            DateTerm::Prefix(v) => like_prefix(text.as_bytes(), v.as_bytes()),
        }
    }
}

/// SQL `text LIKE pattern || '%'`: `_` any one character, `%` any run, `\` escapes.
fn like_prefix(text: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => true,
        Some((b'%', _)) => true, // the rest is a prefix of some suffix: always reachable
        Some((b'_', rest)) => text
            .split_first()
            .is_some_and(|(_, t)| like_prefix(t, rest)),
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == rest.first() && like_prefix(&text[1..], &rest[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && like_prefix(&text[1..], rest),
    }
}

/// A token piece: `(system, code)`, `None` where it gives none (an empty system counts
/// as none, as `if system:` does on the server).
type Token = (Option<String>, Option<String>);

fn split_token(piece: &str) -> Token {
    match piece.split_once('|') {
        Some((system, code)) => (
            Some(system.to_string()).filter(|s| !s.is_empty()),
            Some(code.to_string()).filter(|c| !c.is_empty()),
        ),
        None => (None, Some(piece.to_string())),
    }
}

/// One declared parameter's condition on a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Filter {
    /// Every inner list (one per value sent) must have a token that matches a coding.
    Codings(Field, Vec<Vec<Token>>),
    /// Every inner list must have a code equal to the scalar.
    Scalar(Field, Vec<Vec<Option<String>>>),
    /// Every term holds of the element's text.
    Dates(Field, Vec<DateTerm>),
}

/// The filters of the parameters declared for `t`, from the query's (key, value) pairs.
pub(crate) fn filters<'a>(
    t: ImportedType,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<Filter> {
    let pairs: Vec<(String, &str)> = pairs.map(|(k, v)| (norm(k), v)).collect();
    let mut out = Vec::new();
    for &(name, kind, field) in declared(t) {
        let wanted = norm(name);
        let raws: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| *k == wanted)
            .map(|(_, v)| *v)
            .collect();
        if raws.is_empty() {
            continue;
        }
        let pieces = |raw: &str| -> Vec<String> {
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        };
        let groups: Vec<Vec<String>> = raws
            .iter()
            .map(|r| pieces(r))
            .filter(|g| !g.is_empty())
            .collect();
        let filter = match kind {
            Kind::Date => Filter::Dates(field, raws.iter().map(|r| DateTerm::parse(r)).collect()),
            _ if groups.is_empty() => continue,
            Kind::Token | Kind::Identifier => Filter::Codings(
                field,
                groups
                    .iter()
                    .map(|g| g.iter().map(|p| split_token(p)).collect())
                    .collect(),
            ),
            Kind::Code => Filter::Scalar(
                field,
                groups
                    .iter()
                    .map(|g| g.iter().map(|p| split_token(p).1).collect())
                    .collect(),
            ),
            // A reference (`Encounter/x` or a bare id) to an element no record has.
            Kind::Reference => Filter::Codings(Field::Absent, vec![vec![]]),
        };
        out.push(filter);
    }
    out
}

impl Filter {
    pub fn holds(&self, seed: u64, r: &Imported) -> bool {
        match self {
            Filter::Codings(field, groups) => {
                let have = codings(seed, r, *field);
                groups.iter().all(|tokens| {
                    tokens.iter().any(|(system, code)| {
                        have.iter().any(|(s, c)| {
                            system.as_deref().is_none_or(|x| x == *s)
                                && code.as_deref().is_none_or(|x| x == c.as_str())
                        })
                    })
                })
            }
            Filter::Scalar(field, groups) => {
                let have = scalar(r, *field);
                groups
                    .iter()
                    .all(|codes| codes.iter().any(|c| c.is_some() && c.as_deref() == have))
            }
            Filter::Dates(field, terms) => match date(seed, r, *field) {
                Some(text) => terms.iter().all(|t| t.holds(&text)),
                None => false,
            },
        }
    }
}

fn pair(c: &Coding) -> (&'static str, String) {
    (c.system, c.code.to_string())
}

/// The (system, code) of every coding at the field's path (for an identifier: system,
/// value).
fn codings(seed: u64, r: &Imported, field: Field) -> Vec<(&'static str, String)> {
    use crate::generate::ehr_codes::{CONDITION_CATEGORY, CONDITION_CLINICAL};
    match field {
        Field::ObservationCategory => vec![pair(&observation(r).category.coding())],
        Field::ObservationCode => {
            let o = observation(r);
            let mut out = vec![(LOINC, o.loinc.to_string())];
            out.extend(o.local.as_ref().map(pair));
            out
        }
        Field::ConditionCategory => {
            let code = if condition_resolved(r) {
                "encounter-diagnosis"
            } else {
                "problem-list-item"
            };
            vec![(CONDITION_CATEGORY, code.to_string())]
        }
        Field::ConditionClinicalStatus => {
            let code = if condition_resolved(r) {
                "resolved"
            } else {
                "active"
            };
            vec![(CONDITION_CLINICAL, code.to_string())]
        }
        Field::ConditionCode => vec![pair(&condition(r).code)],
        Field::EncounterClass => vec![pair(&encounter(r).class)],
        Field::EncounterType => vec![pair(&encounter(r).kind)],
        Field::EncounterIdentifier => vec![(ENCOUNTER_IDENTIFIER, encounter_csn(seed, r))],
        _ => vec![],
    }
}

fn scalar(r: &Imported, field: Field) -> Option<&'static str> {
    match field {
        Field::ObservationStatus => Some(observation(r).status),
        Field::MedicationStatus => Some(medication_status(r)),
        Field::MedicationIntent => Some("order"),
        Field::EncounterStatus => Some("completed"),
        _ => None,
    }
}

/// The text at the date field's path (its first path present), if the record has it.
fn date(seed: u64, r: &Imported, field: Field) -> Option<String> {
    match field {
        Field::ObservationDate => effective_start(r).map(instant_text),
        Field::ConditionOnset => Some(date_text(condition_onset_day(seed, r))),
        Field::ConditionRecorded | Field::MedicationAuthored => Some(instant_text(r.time)),
        Field::ConditionAbatement => condition_abatement(r).map(instant_text),
        _ => None,
    }
}

/// The `__sortDate` of a record (unix seconds; every such path is an instant written the
/// same way, so numeric order is the server's text order), if it has one.
pub(crate) fn sort_date(t: ImportedType, r: &Imported) -> Option<i64> {
    match t {
        ImportedType::Observation => effective_start(r),
        ImportedType::Condition | ImportedType::MedicationRequest => Some(r.time),
        ImportedType::Encounter => None, // `period.start`, which R5 bodies lack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_prefix_is_sql_like() {
        assert!(like_prefix(b"2025-12-20T10:00:00Z", b"2025-12"));
        assert!(like_prefix(b"2025-12-20T10:00:00Z", b""));
        assert!(like_prefix(b"2025-12-20T10:00:00Z", b"2025_12"));
        assert!(like_prefix(b"2025-12-20T10:00:00Z", b"2025%T10"));
        assert!(!like_prefix(b"2025-12-20", b"2025-12-20T"));
        assert!(!like_prefix(b"2025-12-20", b"2025\\_12"));
    }

    #[test]
    fn params_match_in_any_spelling() {
        let f = filters(
            ImportedType::Condition,
            [
                ("clinicalStatus", "active"),
                ("onset_date", "ge2020"),
                ("date", "ge2020"),
                ("code", " , "),
            ]
            .into_iter(),
        );
        assert_eq!(f.len(), 2, "{f:?}"); // `date` is not declared; `code` has no piece
        assert!(matches!(
            f[0],
            Filter::Codings(Field::ConditionClinicalStatus, _)
        ));
        assert!(matches!(f[1], Filter::Dates(Field::ConditionOnset, _)));
        assert_eq!(split_token("|x"), (None, Some("x".into())));
        assert_eq!(split_token("s|"), (Some("s".into()), None));
    }
}
