//! A FHIR resource of any type read for a table (`fetch_resources`): what every table has
//! (its id, the Exchange's patient, `meta.source`, `meta.lastUpdated`) and its every leaf
//! by key path, as `code.coding[0].code`. A reference (`"Patient/123"`) also gives its type
//! and id, as `subject.reference_type` and `subject.reference_id`. The table stage
//! (`table::resources`) types the columns.

use serde_json::{Map, Value};

use super::flatten::{Leaf, Leaves};
use super::omh::time;
use crate::origin::{PATIENT_ID_EXTENSION, exchange_patient};

/// One resource, read.
#[derive(Debug, Default, PartialEq)]
pub struct FlatResource {
    pub id: Option<String>,
    pub patient_id: Option<i64>,
    pub source: Option<String>,
    /// `meta.lastUpdated`, µs since the epoch (the Exchange gives none for imported records).
    pub last_updated: Option<i64>,
    pub leaves: Leaves,
}

impl FlatResource {
    /// `text`, a resource's JSON; anything but an object is the reason it is not one.
    pub fn read(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("the resource is not JSON: {e}"))?;
        let Value::Object(resource) = value else { return Err("the resource is not a JSON object".into()) };
        let meta = resource.get("meta");
        let source = meta.and_then(|m| m.get("source")).and_then(Value::as_str).map(str::to_string);
        let last_updated = meta
            .and_then(|m| m.get("lastUpdated"))
            .and_then(Value::as_str)
            .and_then(|t| time::parse_date_time(t).ok())
            .map(|instant| instant.utc_micros);
        let mut leaves = Vec::new();
        flatten_object(&resource, "", &mut leaves);
        Ok(Self {
            id: resource.get("id").and_then(Value::as_str).map(str::to_string),
            patient_id: patient_of(&resource, source.as_deref()),
            source,
            last_updated,
            leaves,
        })
    }
}

/// The Exchange's patient: an imported record's `patient-id` extension; else (the
/// Exchange's own records) its `subject` or `patient` reference, `Patient/<id>`.
fn patient_of(resource: &Map<String, Value>, source: Option<&str>) -> Option<i64> {
    let extensions = resource.get("extension").and_then(Value::as_array);
    let stamped = extensions
        .into_iter()
        .flatten()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(PATIENT_ID_EXTENSION))
        .and_then(|e| e.get("valueInteger"))
        .and_then(Value::as_i64);
    exchange_patient(stamped, source, || {
        let reference = ["subject", "patient"].iter().find_map(|key| resource.get(*key)?.get("reference")?.as_str())?;
        match split_reference(reference)? {
            ("Patient", id) => id.parse().ok(),
            _ => None,
        }
    })
}

/// `Patient/123` or `https://host/fhir/Patient/123` (and `/_history/2` after) → the type
/// and id; a contained (`#x`) or `urn:` reference has neither.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let reference = reference.split("/_history/").next()?;
    let (head, id) = reference.rsplit_once('/')?;
    let kind = head.rsplit('/').next()?;
    let is_type = kind.starts_with(|c: char| c.is_ascii_uppercase()) && kind.bytes().all(|b| b.is_ascii_alphabetic());
    (is_type && !id.is_empty()).then_some((kind, id))
}

pub(crate) fn flatten_object(object: &Map<String, Value>, prefix: &str, out: &mut Leaves) {
    for (key, value) in object {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        flatten_value(value, &path, out);
        if key == "reference" {
            if let Some((kind, id)) = value.as_str().and_then(split_reference) {
                out.push((format!("{path}_type"), Leaf::Text(kind.to_string())));
                out.push((format!("{path}_id"), Leaf::Text(id.to_string())));
            }
        }
    }
}

fn flatten_value(value: &Value, path: &str, out: &mut Leaves) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((path.to_string(), Leaf::Bool(*b))),
        Value::Number(n) => out.push((path.to_string(), Leaf::Number(n.clone()))),
        Value::String(s) => out.push((path.to_string(), Leaf::Text(s.clone()))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_value(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(object) => flatten_object(object, path, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(resource: &FlatResource) -> Vec<(&str, String)> {
        resource.leaves.iter().map(|(path, leaf)| (path.as_str(), leaf.text())).collect()
    }

    #[test]
    fn every_leaf_by_key_path_and_references_split() {
        let text = r#"{"resourceType":"Condition","id":"c1","meta":{"source":"https://jupyterhealth.org/fhir/fhir-source/9"},
            "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}],"text":"Diabetes"},
            "subject":{"reference":"Patient/abc"},"encounter":{"reference":"https://ehr.example/fhir/Encounter/e9/_history/2"},
            "extension":[{"url":"https://jupyterhealth.org/fhir/StructureDefinition/patient-id","valueInteger":40001}],
            "note":[],"onsetDateTime":"2020-01-01","abatementBoolean":false,"x":null}"#;
        let resource = FlatResource::read(text).unwrap();
        assert_eq!((resource.id.as_deref(), resource.patient_id, resource.last_updated), (Some("c1"), Some(40001), None));
        assert_eq!(resource.source.as_deref(), Some("https://jupyterhealth.org/fhir/fhir-source/9"));
        let found = paths(&resource);
        for expected in [
            ("resourceType", "Condition"),
            ("code.coding[0].system", "http://snomed.info/sct"),
            ("code.coding[0].code", "44054006"),
            ("code.text", "Diabetes"),
            ("subject.reference", "Patient/abc"),
            ("subject.reference_type", "Patient"),
            ("subject.reference_id", "abc"),
            ("encounter.reference_type", "Encounter"),
            ("encounter.reference_id", "e9"),
            ("extension[0].valueInteger", "40001"),
            ("abatementBoolean", "false"),
        ] {
            assert!(found.contains(&(expected.0, expected.1.to_string())), "{expected:?} in {found:?}");
        }
        assert!(!found.iter().any(|(path, _)| *path == "x" || path.starts_with("note")), "nulls and empty lists have no leaf");
    }

    #[test]
    fn the_patient_of_an_imported_record_is_never_the_ehrs() {
        let own = r#"{"id":"1","meta":{"source":"https://jupyterhealth.org/jhe","lastUpdated":"2026-01-01T00:00:00Z"},"subject":{"reference":"Patient/40002"}}"#;
        let imported = r#"{"id":"2","meta":{"source":"https://jupyterhealth.org/fhir/fhir-source/9"},"subject":{"reference":"Patient/777"}}"#;
        let medication = r#"{"id":"3","patient":{"reference":"Patient/40003"}}"#;
        let device = r#"{"id":"4","subject":{"reference":"Device/40004"}}"#;
        let patients: Vec<Option<i64>> = [own, imported, medication, device].iter().map(|t| FlatResource::read(t).unwrap().patient_id).collect();
        assert_eq!(patients, [Some(40002), None, Some(40003), None]);
        assert_eq!(FlatResource::read(own).unwrap().last_updated, Some(1_767_225_600_000_000));
    }

    #[test]
    fn references_that_name_no_resource_are_not_split() {
        assert_eq!(split_reference("Patient/1"), Some(("Patient", "1")));
        assert_eq!(split_reference("https://x.example/fhir/Observation/o-1"), Some(("Observation", "o-1")));
        for bare in ["#contained", "urn:uuid:1234", "Patient/", "patient/1", "1", ""] {
            assert_eq!(split_reference(bare), None, "{bare}");
        }
        assert!(FlatResource::read("[1]").is_err() && FlatResource::read("{").is_err());
    }
}
