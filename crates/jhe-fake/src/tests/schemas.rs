//! Every generated payload validates against the vendored OMH / IEEE 1752 JSON Schemas
//! (body against its code's schema, header against the IEEE header), and the data
//! exercises what clients must handle: every code, every time-frame form, several units
//! and UTC offsets.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::FakeConfig;
use crate::exchange::build;
use crate::generate::catalog::Code;
use crate::generate::omh;

pub(super) use crate::schemas::validator;

#[test]
fn payloads_validate_against_the_omh_schemas() {
    let (world, store) = build(FakeConfig::default());
    let header = validator("ieee", "header-1.0.json");
    let bodies: BTreeMap<Code, jsonschema::Validator> = Code::STANDARD
        .into_iter()
        .map(|c| {
            let s = c.spec();
            (
                c,
                validator(s.namespace, &format!("{}-{}.json", s.name, s.version)),
            )
        })
        .collect();
    let obs = store.read();
    let mut per_code: BTreeMap<Code, usize> = BTreeMap::new();
    let mut forms = BTreeSet::new();
    let mut units = BTreeSet::new();
    let mut offsets = BTreeSet::new();
    let mut meal_relations = 0;
    for (i, o) in obs.iter().enumerate() {
        let id = 60001 + i as i64;
        let text = omh::payload_json(&world, id, o);
        let payload: Value = serde_json::from_str(&text).unwrap();
        let (h, b) = (&payload["header"], &payload["body"]);
        if let Err(e) = header.validate(h) {
            panic!("{id} header: {e}\n{text}");
        }
        if let Err(e) = bodies[&o.code].validate(b) {
            panic!("{id} {} body: {e}\n{text}", o.code.spec().code);
        }
        assert_eq!(h["schema_id"]["name"], o.code.spec().name);
        *per_code.entry(o.code).or_default() += 1;
        let etf = &b["effective_time_frame"];
        let form: Vec<&str> = match etf.get("time_interval") {
            Some(Value::Object(m)) => m.keys().map(String::as_str).collect(),
            _ => vec!["date_time"],
        };
        forms.insert(form.join("+"));
        if let Some(unit) = b
            .as_object()
            .unwrap()
            .values()
            .find_map(|v| v.get("unit"))
            .and_then(Value::as_str)
        {
            units.insert(unit.to_string());
        }
        if let Some(t) = etf.get("date_time").and_then(Value::as_str) {
            offsets.insert(if t.ends_with('Z') {
                "Z".to_string()
            } else {
                t[19..].to_string()
            });
        }
        meal_relations += b.get("temporal_relationship_to_meal").is_some() as usize;
    }
    assert_eq!(per_code.len(), 16, "{per_code:?}");
    for form in [
        "date_time",
        "end_date_time+start_date_time",
        "duration+start_date_time",
        "duration+end_date_time",
        "date+part_of_day",
    ] {
        assert!(forms.contains(form), "no {form} time frame in {forms:?}");
    }
    for unit in ["mg/dL", "mmol/L", "C", "F", "kg", "lb"] {
        assert!(units.contains(unit), "no {unit} in {units:?}");
    }
    assert!(offsets.len() >= 4, "{offsets:?}");
    assert!(meal_relations > 0);
    eprintln!("{} payloads valid; {per_code:?}", obs.len());
}

#[test]
fn the_schemas_reject_a_broken_payload() {
    let v = validator("omh", "blood-glucose-4.0.json");
    let good: Value = serde_json::json!({
        "blood_glucose": {"unit": "mg/dL", "value": 120},
        "effective_time_frame": {"date_time": "2025-12-20T08:15:00-07:00"}
    });
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad["blood_glucose"]["unit"] = "mg".into();
    assert!(!v.is_valid(&bad));
    let mut bad = good.clone();
    bad["effective_time_frame"]["date_time"] = "2025-12-20 08:15".into();
    assert!(!v.is_valid(&bad));
    let mut bad = good;
    bad.as_object_mut().unwrap().remove("effective_time_frame");
    assert!(!v.is_valid(&bad));
}
