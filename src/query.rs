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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservationQuery {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub codes: Vec<Coding>,
}

impl ObservationQuery {
    pub fn new(study_id: Option<i64>, patient_id: Option<i64>, codes: &[String]) -> Result<Self> {
        for (name, id) in [("study_id", study_id), ("patient_id", patient_id)] {
            if let Some(id) = id {
                if id <= 0 {
                    return Err(JheError::Config(format!("{name} must be a positive integer, got {id}")));
                }
            }
        }
        let codes = codes.iter().map(|c| Coding::parse(c)).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            study_id,
            patient_id,
            codes,
        })
    }

    pub fn code_names(&self) -> Vec<&str> {
        self.codes.iter().map(|c| c.code.as_str()).collect()
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
    fn ids_must_be_positive() {
        assert!(ObservationQuery::new(Some(0), None, &[]).is_err());
        assert!(ObservationQuery::new(Some(30001), Some(40001), &["omh:heart-rate:2.0".into()]).is_ok());
    }
}
