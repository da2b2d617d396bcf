//! What a caller asks for, validated before anything is sent.

use crate::error::{JheError, Result};
use crate::omh::catalog::system_for_code;

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
        crate::omh::time::parse_date_time(text)
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

/// Everything a caller can filter observations by.
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
}

/// The caller's filters as text, before validation.
#[derive(Debug, Clone, Default)]
pub struct QueryArgs {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub codes: Vec<String>,
    pub patient_identifier: Option<(String, String)>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub updated_since: Option<String>,
}

impl ObservationQuery {
    pub fn new(study_id: Option<i64>, patient_id: Option<i64>, codes: &[String]) -> Result<Self> {
        Self::from_args(QueryArgs { study_id, patient_id, codes: codes.to_vec(), ..Default::default() })
    }

    pub fn from_args(args: QueryArgs) -> Result<Self> {
        for (name, id) in [
            ("study_id", args.study_id),
            ("patient_id", args.patient_id),
            ("organization_id", args.organization_id),
        ] {
            if let Some(id) = id {
                if id <= 0 {
                    return Err(JheError::Config(format!("{name} must be a positive integer, got {id}")));
                }
            }
        }
        let codes = args.codes.iter().map(|c| Coding::parse(c)).collect::<Result<Vec<_>>>()?;
        let patient_identifier = match args.patient_identifier {
            Some((system, value)) => {
                let (system, value) = (system.trim().to_string(), value.trim().to_string());
                if system.is_empty() || value.is_empty() || system.contains('|') || value.contains('|') {
                    return Err(JheError::Config(
                        "patient_identifier must be (system, value), both non-empty and without '|', e.g. (\"http://hospital.example/mrn\", \"MRN-12345\")".into(),
                    ));
                }
                Some((system, value))
            }
            None => None,
        };
        let bound = |name: &str, text: Option<String>| text.map(|t| TimeBound::parse(name, &t)).transpose();
        let since = bound("since", args.since)?;
        let until = bound("until", args.until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if until.utc_micros <= since.utc_micros {
                return Err(JheError::Config("until must be later than since".into()));
            }
        }
        Ok(Self {
            study_id: args.study_id,
            patient_id: args.patient_id,
            organization_id: args.organization_id,
            codes,
            patient_identifier,
            since,
            until,
            updated_since: bound("updated_since", args.updated_since)?,
        })
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
        } else {
            None
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
        let backwards = QueryArgs { since: Some("2025-06-02".into()), until: Some("2025-06-01".into()), ..Default::default() };
        assert!(ObservationQuery::from_args(backwards).is_err());
        let bad_identifier = QueryArgs { patient_identifier: Some(("".into(), "x".into())), ..Default::default() };
        assert!(ObservationQuery::from_args(bad_identifier).is_err());
    }

    #[test]
    fn ids_must_be_positive() {
        assert!(ObservationQuery::new(Some(0), None, &[]).is_err());
        assert!(ObservationQuery::new(Some(30001), Some(40001), &["omh:heart-rate:2.0".into()]).is_ok());
    }
}
