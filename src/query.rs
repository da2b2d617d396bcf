//! What a caller asks for, validated before anything is sent.

use crate::error::{JheError, Result};
use crate::decode::omh::catalog::system_for_code;
use crate::origin::Origin;
use crate::selection::ColumnSelection;

/// A code as the servers want it: `system|code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coding {
    pub system: String,
    pub code: String,
}

impl Coding {
    /// Accept `omh:blood-glucose:4.0` (system inferred) or `https://...|omh:blood-glucose:4.0`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let (system, code) = match text.rsplit_once('|') {
            Some((system, code)) => (system.trim().to_string(), code.trim().to_string()),
            None => (system_for_code(text).to_string(), text.to_string()),
        };
        if code.is_empty() || code.contains(char::is_whitespace) {
            return Err(JheError::Config(format!(
                "{text:?} is not a data type code; expected something like \"omh:blood-glucose:4.0\""
            )));
        }
        Ok(Self { system, code })
    }

    pub fn token(&self) -> String {
        format!("{}|{}", self.system, self.code)
    }
}

/// A time bound as the caller gave it, resolved to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    pub utc_micros: i64,
}

impl TimeBound {
    /// `YYYY-MM-DD` (midnight UTC) or an ISO 8601 date-time; no offset means UTC.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let text = text.trim();
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
            return Ok(Self { utc_micros: midnight.timestamp_micros() });
        }
        crate::decode::omh::time::parse_date_time(text)
            .map(|instant| Self { utc_micros: instant.utc_micros })
            .map_err(|_| JheError::Config(format!(
                "{name}={text:?} is not a date or date-time; expected e.g. \"2025-06-01\" or \"2025-06-01T08:00:00+02:00\""
            )))
    }

    /// As sent to the server: UTC with microseconds, so no precision is lost at a bound.
    pub fn to_query_value(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.utc_micros)
            .expect("parsed bounds are within chrono's range")
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }
}

/// Everything a caller can filter observations by. Each field is checked where it is made
/// ([`positive_id`], [`Coding::parse`], [`patient_identifier`], [`TimeBound::parse`]); what
/// spans fields, when the request is made ([`FetchRequest::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservationQuery {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub codes: Vec<Coding>,
    /// `(system, value)` of a patient identifier.
    pub patient_identifier: Option<(String, String)>,
    /// Effective time at or after this.
    pub since: Option<TimeBound>,
    /// Effective time before this.
    pub until: Option<TimeBound>,
    /// Stored or changed at or after this (`_lastUpdated`).
    pub updated_since: Option<TimeBound>,
    /// The Exchange's own records, or those imported from EHRs (`source=`).
    pub origin: Origin,
}

/// A study, patient or organization id: the servers' ids start at 1.
pub fn positive_id(name: &str, id: i64) -> Result<i64> {
    if id <= 0 {
        return Err(JheError::Config(format!("{name} must be a positive integer, got {id}")));
    }
    Ok(id)
}

/// A patient identifier as the servers match it: `system|value`, so neither part may be
/// empty or hold a `|`.
pub fn patient_identifier(system: &str, value: &str) -> Result<(String, String)> {
    let (system, value) = (system.trim(), value.trim());
    if system.is_empty() || value.is_empty() || system.contains('|') || value.contains('|') {
        return Err(JheError::Config(
            "patient_identifier must be (system, value), both non-empty and without '|', e.g. (\"http://hospital.example/mrn\", \"MRN-12345\")".into(),
        ));
    }
    Ok((system.to_string(), value.to_string()))
}

impl ObservationQuery {
    /// A study's or patient's observations of some codes.
    pub fn new(study_id: Option<i64>, patient_id: Option<i64>, codes: &[String]) -> Result<Self> {
        Ok(Self {
            study_id: study_id.map(|id| positive_id("study_id", id)).transpose()?,
            patient_id: patient_id.map(|id| positive_id("patient_id", id)).transpose()?,
            codes: codes.iter().map(|c| Coding::parse(c)).collect::<Result<_>>()?,
            ..Default::default()
        })
    }

    /// Whether what changed can be read for this query: not for imported records, since
    /// changes are found and delivered by the Exchange's `lastUpdated`, which they lack.
    pub fn check_changes_readable(&self) -> Result<()> {
        if !self.origin.reads_imported() {
            return Ok(());
        }
        Err(JheError::Config(format!(
            "updated_since (and watch and sync, which read by it) finds the records the Exchange stored or changed; \
             an imported record carries no lastUpdated of the Exchange's, so it cannot be combined with source={:?}",
            self.origin.name()
        )))
    }

    pub fn code_names(&self) -> Vec<&str> {
        self.codes.iter().map(|c| c.code.as_str()).collect()
    }

    /// Filters the admin REST API cannot apply on the server.
    pub fn needs_fhir(&self) -> Option<&'static str> {
        if !self.codes.is_empty() {
            Some("code")
        } else if self.since.is_some() || self.until.is_some() {
            Some("since/until")
        } else if self.updated_since.is_some() {
            Some("updated_since")
        } else if self.patient_identifier.is_some() {
            Some("patient_identifier")
        } else if self.origin.reads_imported() {
            Some("source")
        } else {
            None
        }
    }
}

/// Which API serves observations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Api {
    /// FHIR, unless an older server's FHIR cannot take the query and the admin REST API can.
    #[default]
    Auto,
    Fhir,
    Rest,
}

impl Api {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "auto" => Ok(Self::Auto),
            "fhir" => Ok(Self::Fhir),
            "rest" => Ok(Self::Rest),
            other => Err(JheError::Config(format!(
                "api must be \"auto\", \"fhir\" or \"rest\", got {other:?}"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fhir => "fhir",
            Self::Rest => "rest",
        }
    }
}

/// The shape of the tables a fetch builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One table per code, one row per observation, typed columns per measure.
    Wide,
    /// One table, one row per observation and measure.
    Long,
    /// One table, one row per observation: the whole FHIR resource and OMH document
    /// flattened by key path as `jupyterhealth-client` does (see [`crate::table`]'s `flat`).
    Flat,
}

impl Layout {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "wide" => Ok(Self::Wide),
            "long" => Ok(Self::Long),
            "flat" => Ok(Self::Flat),
            other => Err(JheError::Config(format!("layout must be \"wide\", \"long\" or \"flat\", got {other:?}"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Wide => "wide",
            Self::Long => "long",
            Self::Flat => "flat",
        }
    }
}

/// One fetch as the caller asked for it, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub query: ObservationQuery,
    pub api: Api,
    pub layout: Layout,
    /// A reading of what changed since `query.updated_since` (watching, mirroring).
    pub changes: Option<Changes>,
    /// The columns kept (`columns=`; none: every one), checked against the layout and codes.
    pub columns: Option<ColumnSelection>,
}

/// A reading of what changed: the rows stored or changed at or after the query's
/// `updated_since`, less the ones already delivered unchanged. On an older server, which
/// ignores `_lastUpdated`, it reads the REST list newest first and stops at the first page
/// that reaches back before that instant, instead of reading every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// `(observation id, last_updated in µs since the epoch)` of rows delivered before: a
    /// row read again with the same `last_updated` is skipped, one changed since is kept.
    pub delivered: Vec<(i64, i64)>,
}

impl FetchRequest {
    /// Without a `layout`: wide for one code (one table), long for none or several.
    pub fn new(query: ObservationQuery, api: Api, layout: Option<Layout>) -> Result<Self> {
        if let (Some(since), Some(until)) = (query.since, query.until) {
            if until.utc_micros <= since.utc_micros {
                return Err(JheError::Config("until must be later than since".into()));
            }
        }
        if query.updated_since.is_some() {
            query.check_changes_readable()?;
        }
        let layout = layout.unwrap_or(if query.codes.len() == 1 { Layout::Wide } else { Layout::Long });
        Ok(Self { query, api, layout, changes: None, columns: None })
    }

    /// This request keeping only the columns `names` (checked against its layout and codes).
    pub fn with_columns(mut self, names: &[String]) -> Result<Self> {
        self.columns = Some(ColumnSelection::new(names, self.layout, &self.query.code_names())?);
        Ok(self)
    }

    /// This request as a reading of what changed since its `updated_since`, which it needs.
    pub fn reading_changes(mut self, changes: Changes) -> Result<Self> {
        if self.query.updated_since.is_none() {
            return Err(JheError::Config("a reading of changes needs updated_since: the instant to read from".into()));
        }
        if self.layout == Layout::Flat {
            return Err(JheError::Config("a reading of changes is in the wide or long layout, not the flat".into()));
        }
        self.changes = Some(changes);
        Ok(self)
    }

    /// The code whose table is the whole result: one code asked for in the wide layout.
    pub fn single_table_code(&self) -> Option<&str> {
        match (self.layout, self.query.codes.as_slice()) {
            (Layout::Wide, [only]) => Some(only.code.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_get_their_system() {
        assert_eq!(
            Coding::parse("omh:blood-glucose:4.0").unwrap().token(),
            "https://w3id.org/openmhealth|omh:blood-glucose:4.0"
        );
        assert_eq!(
            Coding::parse("ieee:sleep-stage-summary:1.0").unwrap().token(),
            "https://w3id.org/ieee1752|ieee:sleep-stage-summary:1.0"
        );
        assert_eq!(Coding::parse("https://x.org|abc").unwrap().system, "https://x.org");
        assert!(Coding::parse("").is_err());
        assert!(Coding::parse("blood glucose").is_err());
    }

    #[test]
    fn time_bounds() {
        let day = TimeBound::parse("since", "2025-06-01").unwrap();
        assert_eq!(day.to_query_value(), "2025-06-01T00:00:00.000000Z");
        let local = TimeBound::parse("until", "2025-06-01T02:00:00.25+02:00").unwrap();
        assert_eq!(local.to_query_value(), "2025-06-01T00:00:00.250000Z");
        assert!(TimeBound::parse("since", "last week").unwrap_err().to_string().contains("since="));
        let backwards = ObservationQuery {
            since: Some(TimeBound::parse("since", "2025-06-02").unwrap()),
            until: Some(TimeBound::parse("until", "2025-06-01").unwrap()),
            ..Default::default()
        };
        assert!(FetchRequest::new(backwards, Api::Auto, None).is_err());
        assert!(patient_identifier("", "x").is_err());
        assert!(patient_identifier("https://h.example/mrn", "a|b").is_err());
        assert_eq!(patient_identifier(" s ", " v ").unwrap(), ("s".to_string(), "v".to_string()));
    }

    #[test]
    fn ids_must_be_positive() {
        assert!(ObservationQuery::new(Some(0), None, &[]).is_err());
        assert!(positive_id("organization_id", -1).unwrap_err().to_string().contains("organization_id"));
        assert!(ObservationQuery::new(Some(30001), Some(40001), &["omh:heart-rate:2.0".into()]).is_ok());
    }

    #[test]
    fn api_and_layout_names() {
        assert_eq!(Api::parse("rest").unwrap(), Api::Rest);
        assert!(Api::parse("graphql").unwrap_err().to_string().contains("\"auto\""));
        assert_eq!(Layout::parse("wide").unwrap().name(), "wide");
        assert!(Layout::parse("tall").unwrap_err().to_string().contains("layout must be"));
    }

    #[test]
    fn one_code_is_one_wide_table_by_default() {
        let request = |codes: &[&str], layout| {
            let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
            FetchRequest::new(ObservationQuery::new(None, None, &codes).unwrap(), Api::Auto, layout).unwrap()
        };
        let one = request(&["https://w3id.org/openmhealth|omh:heart-rate:2.0"], None);
        assert_eq!((one.layout, one.single_table_code()), (Layout::Wide, Some("omh:heart-rate:2.0")));
        let several = request(&["omh:heart-rate:2.0", "omh:blood-pressure:4.0"], None);
        assert_eq!((several.layout, several.single_table_code()), (Layout::Long, None));
        assert_eq!(request(&[], None).layout, Layout::Long);
        assert_eq!(request(&["omh:heart-rate:2.0"], Some(Layout::Long)).single_table_code(), None);
        assert_eq!(request(&[], Some(Layout::Wide)).single_table_code(), None);
    }
}
