//! The JSON bodies the fake serves, rendered per request from the stored numbers. In: the
//! world and stored observations (and payloads from [`crate::generate::omh`]); out: JSON
//! text. `fhir` and `rest` hold the two APIs' shapes, `imported` the EHR-imported
//! records' bodies; `cache` keeps rendered FHIR Observations when asked to.

pub(crate) mod cache;
pub(crate) mod fhir;
pub(crate) mod imported;
pub(crate) mod rest;

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::{fhir, rest};
    use crate::generate::{observations, omh, world};

    #[test]
    fn resources_are_minimal_and_wrapped() {
        let w = world::build(2, 1, 0, false, false);
        let obs = observations::observations(&w);
        let o = obs
            .iter()
            .find(|o| w.patients[o.patient as usize].visible)
            .unwrap();
        let mut s = String::new();
        fhir::push_legacy_observation(&mut s, &w, 60001, o);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "code",
                "id",
                "meta",
                "resourceType",
                "status",
                "subject",
                "valueAttachment"
            ]
        );
        assert!(
            v["meta"]["lastUpdated"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        let data = v["valueAttachment"]["data"].as_str().unwrap();
        let lines: Vec<&str> = data.split('\n').collect();
        assert!(lines.len() > 1);
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76));
        assert!(!data.ends_with('\n'));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.replace('\n', ""))
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            omh::payload_json(&w, 60001, o)
        );
        // The guide's row.
        let mut s = String::new();
        rest::push_guide_observation(&mut s, &w, 60001, o);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let p = &w.patients[o.patient as usize];
        assert_eq!(
            v["patientNameDisplay"],
            format!("{}, {}", p.name_family, p.name_given)
        );
        assert_eq!(v["created"], v["lastUpdated"]);
        assert!(!v["dataSourceName"].as_str().unwrap().is_empty());
    }
}
