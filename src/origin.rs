//! Where records come from (`source=`): the Exchange's own, or those imported from
//! hospital EHRs. A current Exchange keeps the two in separate stores and a search reads
//! one, chosen by `_source`: none (or the Exchange's own URI) reads its own, `_source:below`
//! the import base reads every imported record, `_source=<base><id>` one FHIR source's.

use crate::error::{JheError, Result};

/// The `meta.source` of the Exchange's own records.
pub const EXCHANGE_SOURCE: &str = "https://jupyterhealth.org/jhe";
/// The base of every imported record's `meta.source`: this, then the FHIR source's id.
pub const IMPORTED_SOURCE_BASE: &str = "https://jupyterhealth.org/fhir/fhir-source/";

/// The Exchange stamps each imported record with its patient's id in this extension
/// (`valueInteger`): the record's `subject` is kept as the EHR sent it, naming the EHR's
/// patient, whose id could be taken for another.
pub const PATIENT_ID_EXTENSION: &str = "https://jupyterhealth.org/fhir/StructureDefinition/patient-id";

/// The Exchange's patient of a record: the id `stamped` in its [`PATIENT_ID_EXTENSION`];
/// else, unless its `source` is an import (then none, rather than the EHR's), the one its
/// patient reference names.
pub fn exchange_patient(stamped: Option<i64>, source: Option<&str>, referenced: impl FnOnce() -> Option<i64>) -> Option<i64> {
    match stamped {
        Some(id) => Some(id),
        None if source.is_some_and(|s| s.starts_with(IMPORTED_SOURCE_BASE)) => None,
        None => referenced(),
    }
}

/// Which records a fetch reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// The Exchange's own (Open mHealth) records: a search without `_source`.
    #[default]
    Exchange,
    /// Every record imported from an EHR.
    Imported,
    /// The records of one FHIR source: its URI, `IMPORTED_SOURCE_BASE` and its id.
    FhirSource(String),
    /// Both the Exchange's own and every imported record (two searches).
    All,
}

/// How one search selects its records: the `_source` parameter it sends, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceParameter {
    None,
    Below(&'static str),
    Exactly(String),
}

impl Origin {
    /// `None` for the Exchange's own, `"imported"`, `"all"`, a FHIR source's id (digits)
    /// or its URI.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        match text {
            "imported" => return Ok(Self::Imported),
            "all" => return Ok(Self::All),
            EXCHANGE_SOURCE => return Ok(Self::Exchange),
            _ => {}
        }
        let id = text.strip_prefix(IMPORTED_SOURCE_BASE).unwrap_or(text);
        if !id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<u64>().is_ok_and(|n| n > 0) {
            return Ok(Self::FhirSource(format!("{IMPORTED_SOURCE_BASE}{}", id.trim_start_matches('0'))));
        }
        Err(JheError::Config(format!(
            "source must be \"imported\", \"all\", a FHIR source's id (e.g. 5) or its URI \
             (\"{IMPORTED_SOURCE_BASE}5\"), or None for the Exchange's own records; got {text:?}"
        )))
    }

    /// Whether any search reads imported records (the server must support `_source`).
    pub fn reads_imported(&self) -> bool {
        *self != Self::Exchange
    }

    /// The `_source` of each search, in order: one, or two for [`Origin::All`].
    pub fn parameters(&self) -> Vec<SourceParameter> {
        match self {
            Self::Exchange => vec![SourceParameter::None],
            Self::Imported => vec![SourceParameter::Below(IMPORTED_SOURCE_BASE)],
            Self::FhirSource(uri) => vec![SourceParameter::Exactly(uri.clone())],
            Self::All => vec![SourceParameter::None, SourceParameter::Below(IMPORTED_SOURCE_BASE)],
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Exchange => "the Exchange's own",
            Self::Imported => "imported",
            Self::FhirSource(uri) => uri,
            Self::All => "all",
        }
    }
}

impl SourceParameter {
    /// The query pair a search sends, if any.
    pub fn pair(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::None => None,
            Self::Below(base) => Some(("_source:below", base)),
            Self::Exactly(uri) => Some(("_source", uri)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_source_is_read() {
        assert_eq!(Origin::parse("imported").unwrap(), Origin::Imported);
        assert_eq!(Origin::parse(" all ").unwrap(), Origin::All);
        assert_eq!(Origin::parse(EXCHANGE_SOURCE).unwrap(), Origin::Exchange);
        let five = Origin::FhirSource(format!("{IMPORTED_SOURCE_BASE}5"));
        assert_eq!(Origin::parse("5").unwrap(), five);
        assert_eq!(Origin::parse("005").unwrap(), five);
        assert_eq!(Origin::parse(&format!("{IMPORTED_SOURCE_BASE}5")).unwrap(), five);
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for bad in ["", "0", "-3", "Imported", "https://example.org/fhir/5", "5a", &format!("{IMPORTED_SOURCE_BASE}x"), "99999999999999999999"] {
            let error = Origin::parse(bad).unwrap_err().to_string();
            assert!(error.contains("source must be"), "{bad}: {error}");
        }
    }

    #[test]
    fn all_is_two_searches() {
        assert_eq!(Origin::Exchange.parameters(), [SourceParameter::None]);
        let pairs: Vec<_> = Origin::All.parameters().iter().map(|p| p.pair().map(|(k, v)| (k, v.to_string()))).collect();
        assert_eq!(pairs, [None, Some(("_source:below", IMPORTED_SOURCE_BASE.to_string()))]);
        let one = Origin::parse("7").unwrap().parameters();
        assert_eq!(one[0].pair(), Some(("_source", "https://jupyterhealth.org/fhir/fhir-source/7")));
    }
}
