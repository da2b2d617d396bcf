//! Data-quality options over HTTP: damaged payloads (`damaged_every`) really are broken in
//! the stated way, identically in FHIR and REST of both generations; the unknown code
//! (`unknown_codes`) is served and counted like the others; repeated uuids
//! (`duplicate_uuid_every`) come in pairs.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::Value;

use crate::exchange::build;
use crate::generate::catalog::Code;
use crate::generate::damage::{bad_unit, required_measure};
use crate::generate::omh;
use crate::{ExpectedObservation, FakeConfig, FakeError, FakeExchange, Generation};
use super::schemas::validator;
use super::{Client, link, resources};

const OMH: &str = "https://w3id.org/openmhealth";
const UNKNOWN: &str = "omh:ambient-sound:1.0";
const STUDY: i64 = 30001;
const KINDS: [&str; 6] = [
    "not_base64",
    "not_json",
    "missing_measure",
    "bad_unit",
    "no_time_frame",
    "bad_date_time",
];

fn config(generation: Generation) -> FakeConfig {
    FakeConfig {
        patients: 3,
        days: 2,
        seed: 5,
        generation,
        damaged_every: 3,
        unknown_codes: true,
        duplicate_uuid_every: 4,
        ..FakeConfig::default()
    }
}

/// One observation as served: FHIR `valueAttachment.data` and REST `omhData` (or
/// `valueAttachmentData`).
#[derive(Default)]
pub(super) struct Wire {
    pub fhir: BTreeMap<i64, String>,
    pub rest: BTreeMap<i64, Value>,
}

/// Every main-study observation, by FHIR and by REST, following the pages.
pub(super) async fn fetch_all(c: &Client) -> Wire {
    let generation = c.fake.config().generation;
    let mut wire = Wire::default();
    let mut next = Some(c.url(&format!(
        "{}/Observation?patient._has:Group:member:_id={STUDY}&_count=1000",
        generation.fhir_base()
    )));
    while let Some(url) = next {
        let path = url.strip_prefix(c.fake.url()).unwrap().to_string();
        let bundle = c.ok(&path).await;
        for r in resources(&bundle) {
            let id: i64 = r["id"].as_str().unwrap().parse().unwrap();
            let data = r["valueAttachment"]["data"].as_str().unwrap().to_string();
            wire.fhir.insert(id, data);
        }
        // v0.0.11 ignores nothing it needs here; its links page like the current ones.
        next = link(&bundle, "next");
    }
    let key = if generation.is_legacy() {
        "valueAttachmentData"
    } else {
        "omhData"
    };
    let mut page = 0;
    loop {
        let path = if generation == Generation::LegacyGuide {
            format!(
                "/api/v1/observations?study_id={STUDY}&limit=1000&offset={}",
                page * 1000
            )
        } else {
            format!(
                "/api/v1/observations?study_id={STUDY}&page_size=1000&page={}",
                page + 1
            )
        };
        let body = c.ok(&path).await;
        for row in body["results"].as_array().unwrap() {
            wire.rest
                .insert(row["id"].as_i64().unwrap(), row[key].clone());
        }
        if body["next"].is_null() {
            break;
        }
        page += 1;
    }
    wire
}

/// Strict standard base64 (v0.0.11 wraps lines with `\n`) to UTF-8 text.
pub(super) fn decode(data: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.replace('\n', ""))
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn code_of(text: &Value) -> Code {
    let name = text["header"]["schema_id"]["name"].as_str().unwrap();
    Code::ALL
        .into_iter()
        .find(|c| c.spec().name == name)
        .unwrap()
}

fn body_validator(code: Code) -> jsonschema::Validator {
    let s = code.spec();
    validator(s.namespace, &format!("{}-{}.json", s.name, s.version))
}

/// Checks one generation's FHIR and REST against the ground truth; returns the kinds seen.
async fn check_damage(generation: Generation) -> BTreeMap<&'static str, usize> {
    let c = Client::start(config(generation)).await;
    let wire = fetch_all(&c).await;
    let expected = c.fake.expected_observations(Some(STUDY), None, None);
    assert_eq!(wire.fhir.len(), expected.len(), "{generation:?} FHIR rows");
    assert_eq!(wire.rest.len(), expected.len(), "{generation:?} REST rows");
    // Every visible patient is in the main study, which requests every code: its rows
    // are all the visible observations, and every third of them is damaged.
    let damaged = c.fake.damaged();
    assert_eq!(damaged.len(), expected.len() / 3);
    let truth: BTreeMap<i64, &str> = damaged.iter().copied().collect();
    let mut validators: BTreeMap<Code, jsonschema::Validator> = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for e in &expected {
        assert_eq!(e.damage, truth.get(&e.id).copied(), "{}", e.id);
        let data = &wire.fhir[&e.id];
        let rest = &wire.rest[&e.id];
        let Some(kind) = e.damage else {
            assert_eq!(
                decode(data).as_deref(),
                Some(e.omh_json.as_str()),
                "{}",
                e.id
            );
            let v: Value = serde_json::from_str(&e.omh_json).unwrap();
            assert_eq!(rest, &v, "{}", e.id);
            continue;
        };
        *kinds.entry(kind).or_default() += 1;
        match kind {
            "not_base64" => {
                assert!(decode(data).is_none(), "{} is base64: {data}", e.id);
                assert_eq!(data, &e.omh_json);
                assert!(data.starts_with("{\"body\": {"), "{data}");
                assert!(serde_json::from_str::<Value>(data).is_err());
                assert_eq!(rest, &Value::String(e.omh_json.clone()));
            }
            "not_json" => {
                let text = decode(data).expect("base64");
                assert_eq!(text, "not json");
                assert!(serde_json::from_str::<Value>(&text).is_err());
                assert_eq!(e.omh_json, "not json");
                assert_eq!(rest, &Value::String("not json".into()));
            }
            _ => check_json_damage(kind, e, data, rest, &mut validators),
        }
    }
    kinds
}

/// A damaged payload that is still JSON: the same over FHIR and REST, broken the stated
/// way, and rejected by its schema (the unknown code has none).
fn check_json_damage(
    kind: &str,
    e: &ExpectedObservation,
    data: &str,
    rest: &Value,
    validators: &mut BTreeMap<Code, jsonschema::Validator>,
) {
    let text = decode(data).expect("base64");
    assert_eq!(text, e.omh_json);
    let payload: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(rest, &payload, "{} differs between FHIR and REST", e.id);
    let code = code_of(&payload);
    assert_eq!(code.spec().code, e.code);
    assert_broken_as(kind, code, &payload, &text);
    if code != Code::AmbientSound {
        let v = validators
            .entry(code)
            .or_insert_with(|| body_validator(code));
        assert!(
            !v.is_valid(&payload["body"]),
            "{kind} {} still valid: {text}",
            e.code
        );
    }
}

/// The payload is broken as `kind` says.
fn assert_broken_as(kind: &str, code: Code, payload: &Value, text: &str) {
    let body = payload["body"].as_object().unwrap();
    match kind {
        "missing_measure" => {
            let key = required_measure(code).unwrap();
            assert!(!body.contains_key(key), "{text}");
        }
        "bad_unit" => {
            let (path, unit) = bad_unit(code).unwrap();
            let mut at = &payload["body"];
            for k in path {
                at = &at[*k];
            }
            assert_eq!(at["unit"], unit, "{text}");
            assert!(at["value"].is_number());
            if code == Code::BloodGlucose {
                assert_eq!(unit, "g/L");
            }
            if code == Code::BodyWeight {
                assert_eq!(unit, "stone");
            }
        }
        "no_time_frame" => assert!(!body.contains_key("effective_time_frame")),
        "bad_date_time" => {
            let etf = body["effective_time_frame"].to_string();
            assert!(etf.contains("\"yesterday\""), "{etf}");
        }
        other => panic!("unknown kind {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_payloads_are_broken_on_the_wire() {
    let mut all = Vec::new();
    for generation in [
        Generation::Current,
        Generation::Legacy,
        Generation::LegacyGuide,
    ] {
        let kinds = check_damage(generation).await;
        assert_eq!(
            kinds.keys().copied().collect::<BTreeSet<_>>(),
            KINDS.into_iter().collect(),
            "{generation:?}: {kinds:?}"
        );
        all.push(kinds);
    }
    // The same damage, whatever the generation.
    assert!(all.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_is_deterministic_and_off_by_default() {
    let a = FakeExchange::start(config(Generation::Current))
        .await
        .unwrap();
    let b = FakeExchange::start(config(Generation::Legacy))
        .await
        .unwrap();
    assert_eq!(a.damaged(), b.damaged());
    assert_eq!(
        a.expected_observations(None, None, None),
        b.expected_observations(None, None, None)
    );
    // Kinds rotate in order (but for codes a kind cannot break).
    let kinds: Vec<&str> = a.damaged().iter().map(|(_, k)| *k).collect();
    assert_eq!(kinds[0], "not_base64");
    let in_order = kinds
        .iter()
        .enumerate()
        .filter(|(n, k)| KINDS[n % 6] == **k)
        .count();
    assert!(in_order * 10 > kinds.len() * 8, "{kinds:?}");
    let plain = FakeExchange::start(FakeConfig {
        damaged_every: 0,
        duplicate_uuid_every: 0,
        unknown_codes: false,
        ..config(Generation::Current)
    })
    .await
    .unwrap();
    assert!(plain.damaged().is_empty());
    assert!(
        plain
            .expected_observations(None, None, None)
            .iter()
            .all(|e| e.damage.is_none())
    );
    for (name, config) in [
        (
            "damaged_every",
            FakeConfig {
                damaged_every: 1,
                ..FakeConfig::default()
            },
        ),
        (
            "duplicate_uuid_every",
            FakeConfig {
                duplicate_uuid_every: 1,
                ..FakeConfig::default()
            },
        ),
    ] {
        let err = FakeExchange::start(config).await.err().expect("refused");
        assert!(matches!(err, FakeError::Config(_)), "{err}");
        assert!(err.to_string().contains(&format!("{name} = 1")), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unknown_code_is_served_and_counted() {
    for generation in [Generation::Current, Generation::Legacy] {
        unknown_code_is_served(generation).await;
    }
    unknown_code_is_requested_and_consented().await;
    unknown_code_off_is_nowhere().await;
}

/// Searched for, counted, and in the REST rows, in one generation.
async fn unknown_code_is_served(generation: Generation) {
    let c = Client::start(config(generation)).await;
    let expected = c
        .fake
        .expected_observations(Some(STUDY), None, Some(UNKNOWN));
    let (patients, days) = (3, 2);
    assert!(
        (2 * patients * days..=4 * patients * (days + 1)).contains(&expected.len()),
        "{}",
        expected.len()
    );
    let base = generation.fhir_base();
    if generation == Generation::Current {
        let count = c
            .ok(&format!(
                "{base}/Observation?code={OMH}|{UNKNOWN}&_summary=count"
            ))
            .await;
        assert_eq!(count["total"], expected.len());
        let all = c
            .ok(&format!(
                "{base}/Observation?patient._has:Group:member:_id={STUDY}&_summary=count"
            ))
            .await;
        assert_eq!(
            all["total"],
            c.fake.expected_observations(Some(STUDY), None, None).len()
        );
    }
    // A page of them, exact match (current) or LIKE (v0.0.11).
    let bundle = c
        .ok(&format!(
            "{base}/Observation?patient._has:Group:member:_id={STUDY}&code={OMH}|{UNKNOWN}&_count=1000"
        ))
        .await;
    let rs = resources(&bundle);
    assert_eq!(rs.len(), expected.len());
    assert!(clean_ambient_payloads(&rs, &expected) > 0);
    // REST rows carry it like every code.
    let rows = c
        .ok(&format!(
            "/api/v1/observations?study_id={STUDY}&page_size=1000"
        ))
        .await;
    let unknown = rows["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["codingCode"] == UNKNOWN)
        .inspect(|r| assert_eq!(r["codeableConceptId"], 50017))
        .count();
    assert!(unknown > 0);
}

/// Checks each served unknown-code resource; returns how many carry an undamaged payload.
fn clean_ambient_payloads(rs: &[&Value], expected: &[ExpectedObservation]) -> usize {
    let mut clean = 0;
    for (r, e) in rs.iter().zip(expected) {
        assert_eq!(r["id"], e.id.to_string());
        assert_eq!(r["code"]["coding"][0]["code"], UNKNOWN);
        assert_eq!(r["code"]["coding"][0]["system"], OMH);
        let Some(text) = decode(r["valueAttachment"]["data"].as_str().unwrap()) else {
            continue;
        };
        let Ok(p) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if e.damage.is_some() {
            continue;
        }
        clean += 1;
        let b = &p["body"];
        assert_eq!(b["sound_level"]["unit"], "dB");
        assert!(b["sound_level"]["value"].is_f64());
        assert!(b["environment"]["label"].is_string());
        assert!(b["environment"]["indoor"].is_boolean());
        assert!(b["tags"].as_array().unwrap().iter().all(Value::is_string));
        assert!(b["effective_time_frame"]["date_time"].is_string());
        assert_eq!(p["header"]["schema_id"]["name"], "ambient-sound");
        assert_eq!(
            p["header"]["acquisition_provenance"]["source_name"],
            "Soundscape Noise Monitor"
        );
    }
    clean
}

/// The study asks for it, patients consented to it, a data source reports it.
async fn unknown_code_is_requested_and_consented() {
    let c = Client::start(config(Generation::Current)).await;
    let d = c.fake.directory();
    assert!(d.codes_by_study[&STUDY].iter().any(|x| x == UNKNOWN));
    assert_eq!(d.codes_by_study[&STUDY].len(), 17);
    let patient = d.patients_by_study[&STUDY][0];
    let consents = c.ok(&format!("/api/v1/patients/{patient}/consents")).await;
    let scopes = consents["consolidatedConsentedScopes"].as_array().unwrap();
    assert!(
        scopes
            .iter()
            .any(|s| s["codingCode"] == UNKNOWN && s["id"] == 50017)
    );
    let sources = c.ok("/api/v1/data_sources").await;
    let sound = sources["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Soundscape")
        .expect("a data source reports it");
    assert_eq!(sound["supportedScopes"][0]["codingCode"], UNKNOWN);
}

/// Off: nowhere.
async fn unknown_code_off_is_nowhere() {
    let off = Client::start(FakeConfig {
        unknown_codes: false,
        ..config(Generation::Current)
    })
    .await;
    let count = off
        .ok(&format!(
            "/FHIR/R5/Observation?code={OMH}|{UNKNOWN}&_summary=count"
        ))
        .await;
    assert_eq!(count["total"], 0);
    assert!(
        !off.fake.directory().codes_by_study[&STUDY]
            .iter()
            .any(|x| x == UNKNOWN)
    );
    let sources = off.ok("/api/v1/data_sources").await;
    assert!(
        !sources["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Soundscape")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nth_observation_repeats_the_previous_uuid() {
    for generation in [Generation::Current, Generation::Legacy] {
        let c = Client::start(FakeConfig {
            damaged_every: 0,
            ..config(generation)
        })
        .await;
        let wire = fetch_all(&c).await;
        // Id order = the order duplicates are counted in.
        let uuids: Vec<(i64, String, String)> = wire
            .fhir
            .iter()
            .map(|(id, data)| {
                let fhir: Value = serde_json::from_str(&decode(data).unwrap()).unwrap();
                let rest = &wire.rest[id];
                assert_eq!(rest["header"]["uuid"], fhir["header"]["uuid"]);
                (
                    *id,
                    fhir["header"]["uuid"].as_str().unwrap().to_string(),
                    rest["header"]["uuid"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut pairs = 0;
        for (k, (id, uuid, _)) in uuids.iter().enumerate() {
            let n = k + 1;
            if n % 4 == 0 {
                assert_eq!(uuid, &uuids[k - 1].1, "{id} repeats {}", uuids[k - 1].0);
                pairs += 1;
            } else if k > 0 {
                assert_ne!(uuid, &uuids[k - 1].1, "{id}");
            }
        }
        let distinct: BTreeSet<&str> = uuids.iter().map(|u| u.1.as_str()).collect();
        assert_eq!(distinct.len(), uuids.len() - pairs);
        assert_eq!(pairs, uuids.len() / 4);
    }
}

/// The damaged JSON payloads fail their schemas and nothing else does.
#[test]
fn only_damaged_payloads_break_their_schemas() {
    let (world, store) = build(FakeConfig {
        patients: 4,
        days: 3,
        damaged_every: 2,
        unknown_codes: true,
        duplicate_uuid_every: 3,
        ..FakeConfig::default()
    });
    let header = validator("ieee", "header-1.0.json");
    let bodies: BTreeMap<Code, jsonschema::Validator> = Code::STANDARD
        .into_iter()
        .map(|c| (c, body_validator(c)))
        .collect();
    let obs = store.read();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, o) in obs.iter().enumerate() {
        let id = 60001 + i as i64;
        let text = omh::payload_json(&world, id, o);
        let damage = o.damage.map(|d| d.name());
        *per_kind.entry(damage.unwrap_or("none")).or_default() += 1;
        let Ok(payload) = serde_json::from_str::<Value>(&text) else {
            assert!(matches!(damage, Some("not_base64" | "not_json")), "{text}");
            continue;
        };
        assert!(header.is_valid(&payload["header"]), "{text}");
        let Some(v) = bodies.get(&o.code) else {
            continue;
        };
        assert_eq!(v.is_valid(&payload["body"]), damage.is_none(), "{text}");
    }
    for kind in KINDS {
        assert!(per_kind[kind] > 5, "{per_kind:?}");
    }
}
