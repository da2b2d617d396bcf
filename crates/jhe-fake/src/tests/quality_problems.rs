//! `quality_problems` over HTTP: each problem is served as its ground truth
//! (`FakeExchange::expected_*`) states, identically in FHIR and REST of every generation;
//! the scope requests route; and the option changes nothing else.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::exchange::build;
use crate::generate::catalog::Code;
use crate::generate::time::{MICROS_PER_SEC, parse_datetime};
use crate::{ConsentStatus, FakeConfig, FakeError, FakeExchange, Generation};
use super::quality::{Wire, decode, fetch_all};
use super::schemas::validator;
use super::Client;

const MAIN: i64 = 30001;
const BP: i64 = 30002;
const GLUCOSE: &str = "omh:blood-glucose:4.0";
const HEART: &str = "omh:heart-rate:2.0";
const GENERATIONS: [Generation; 3] = [Generation::Current, Generation::Legacy, Generation::LegacyGuide];

fn config(generation: Generation) -> FakeConfig {
    FakeConfig {
        patients: 7,
        days: 8,
        seed: 3,
        generation,
        quality_problems: true,
        ..FakeConfig::default()
    }
}

/// Unix seconds of an OMH date-time.
fn instant(text: &str) -> i64 {
    parse_datetime(text).unwrap_or_else(|| panic!("{text}")).div_euclid(MICROS_PER_SEC)
}

/// `Z` or `±HH:MM`: what follows the clock.
fn offset_text(text: &str) -> &str {
    let clock = &text[11..];
    match clock.find(['Z', '+', '-']) {
        Some(i) => &clock[i..],
        None => "",
    }
}

/// Every main-study payload as FHIR serves it, after checking REST serves the same.
fn payloads(wire: &Wire) -> BTreeMap<i64, Value> {
    assert_eq!(
        wire.fhir.keys().collect::<Vec<_>>(),
        wire.rest.keys().collect::<Vec<_>>()
    );
    wire.fhir
        .iter()
        .map(|(&id, data)| {
            let payload: Value = serde_json::from_str(&decode(data).unwrap()).unwrap();
            assert_eq!(payload, wire.rest[&id], "{id}: FHIR and REST differ");
            (id, payload)
        })
        .collect()
}

fn value(payload: &Value, measure: &str) -> (f64, String) {
    let m = &payload["body"][measure];
    (m["value"].as_f64().unwrap(), m["unit"].as_str().unwrap().to_string())
}

/// The effective start of an instant or an interval (an end less a duration in minutes,
/// as the fake writes them); a date and part of day counts from its UTC date.
fn effective_start(payload: &Value) -> i64 {
    let etf = &payload["body"]["effective_time_frame"];
    let interval = &etf["time_interval"];
    if let Some(t) = etf["date_time"].as_str().or(interval["start_date_time"].as_str()) {
        return instant(t);
    }
    if let Some(end) = interval["end_date_time"].as_str() {
        assert_eq!(interval["duration"]["unit"], "min");
        return instant(end) - interval["duration"]["value"].as_i64().unwrap() * 60;
    }
    instant(&format!("{}T00:00:00Z", interval["date"].as_str().unwrap()))
}

/// The date-time of an instant or the start of an interval, as written.
fn effective_text(payload: &Value) -> Option<&str> {
    let etf = &payload["body"]["effective_time_frame"];
    etf.get("date_time")
        .or_else(|| etf["time_interval"].get("start_date_time"))
        .or_else(|| etf["time_interval"].get("end_date_time"))
        .and_then(Value::as_str)
}

#[tokio::test]
async fn quality_problems_need_six_patients_and_seven_days() {
    for (patients, days) in [(5, 7), (6, 6)] {
        let config = FakeConfig {
            patients,
            days,
            quality_problems: true,
            ..FakeConfig::default()
        };
        match FakeExchange::start(config).await {
            Err(FakeError::Config(m)) => assert!(m.contains("quality_problems"), "{m}"),
            other => panic!("{patients} patients, {days} days: {:?}", other.err()),
        }
    }
    let off = FakeExchange::start(FakeConfig::default()).await.unwrap();
    assert!(off.expected_implausible().is_empty() && off.expected_spikes().is_empty());
    assert!(off.expected_future().is_empty() && off.expected_clock_reset().is_empty());
    assert!(off.expected_duplicate_readings().is_empty() && off.expected_outages().is_empty());
    assert!(off.expected_offset_changes().is_empty());
}

/// The option leaves every patient past the sixth exactly as it was.
#[test]
fn other_patients_are_unchanged() {
    let rows = |quality_problems: bool| -> BTreeSet<(u32, Code, i64, u32, u32)> {
        let (_, store) = build(FakeConfig { quality_problems, ..config(Generation::Current) });
        let obs = store.read();
        obs.iter()
            .filter(|o| o.patient >= 6)
            .map(|o| (o.patient, o.code, o.start, o.value.to_bits(), o.value2.to_bits()))
            .collect()
    };
    let plain = rows(false);
    assert!(!plain.is_empty());
    assert_eq!(plain, rows(true));
}

#[test]
fn payloads_still_validate_against_the_omh_schemas() {
    let (world, store) = build(config(Generation::Current));
    let header = validator("ieee", "header-1.0.json");
    let bodies: BTreeMap<Code, jsonschema::Validator> = Code::STANDARD
        .into_iter()
        .map(|c| {
            let s = c.spec();
            (c, validator(s.namespace, &format!("{}-{}.json", s.name, s.version)))
        })
        .collect();
    let obs = store.read();
    for (i, o) in obs.iter().enumerate() {
        let id = 60001 + i as i64;
        let payload: Value = serde_json::from_str(&crate::generate::omh::payload_json(&world, id, o)).unwrap();
        assert!(bodies[&o.code].is_valid(&payload["body"]), "{id}: {payload}");
        assert!(header.is_valid(&payload["header"]), "{id}: {payload}");
    }
}

#[tokio::test]
async fn scope_requests_list_what_each_study_requests() {
    for generation in GENERATIONS {
        let c = Client::start(FakeConfig { generation, ..FakeConfig::default() }).await;
        let directory = c.fake.directory().clone();
        let mut last_id = 0;
        for study in [MAIN, BP] {
            let list = c.ok(&format!("/api/v1/studies/{study}/scope_requests")).await;
            let rows = list.as_array().expect("a bare array");
            let codes: Vec<&str> = rows.iter().map(|r| r["scopeCode"]["codingCode"].as_str().unwrap()).collect();
            assert_eq!(codes, directory.codes_by_study[&study], "{generation:?}");
            let detail = c.ok(&format!("/api/v1/studies/{study}")).await;
            for r in rows {
                let id = r["id"].as_i64().unwrap();
                assert!(id > last_id, "ordered by id, unique");
                last_id = id;
                let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(keys, ["id", "scopeCode", "study"]);
                let s = &r["study"];
                assert_eq!(s["id"], study);
                assert_eq!(s["name"], detail["name"]);
                assert_eq!(s["description"], detail["description"]);
                assert_eq!(s["organization"], detail["organization"]["id"]);
                assert!(s["iconUrl"].is_null());
                let scope = &r["scopeCode"];
                assert_eq!(
                    scope.as_object().unwrap().keys().collect::<BTreeSet<_>>(),
                    ["codingCode", "codingSystem", "id", "text"].iter().map(|k| k.to_string()).collect::<BTreeSet<_>>().iter().collect()
                );
            }
        }
        for study in ["30003", "39999", "abc"] {
            let r = c.get(&format!("/api/v1/studies/{study}/scope_requests")).await;
            let plain = c.get(&format!("/api/v1/studies/{study}")).await;
            assert_eq!((r.status, r.json()), (plain.status, plain.json()), "{study}");
            assert_eq!(r.status, 403);
            assert_eq!(r.json()["detail"], "Current User does not have authorization to access this Study.");
        }
        assert_eq!(c.get_anonymous("/api/v1/studies/30001/scope_requests").await.status, 401);
    }
}

#[tokio::test]
async fn consents_match_the_expected_statuses() {
    for generation in GENERATIONS {
        let c = Client::start(config(generation)).await;
        let payloads = payloads(&fetch_all(&c).await);
        let rows: BTreeMap<i64, (i64, String)> = c
            .fake
            .expected_observations(None, None, None)
            .into_iter()
            .map(|r| (r.id, (r.patient_id, r.code)))
            .collect();
        // (patient, code) with data, from what was served.
        let served: BTreeSet<(i64, String)> = payloads.keys().map(|id| rows[id].clone()).collect();
        let expected = c.fake.expected_consent(MAIN);
        assert_eq!(
            expected.keys().copied().collect::<Vec<_>>(),
            c.fake.directory().patients_by_study[&MAIN]
        );
        for (&patient, statuses) in &expected {
            let consents = c.ok(&format!("/api/v1/patients/{patient}/consents")).await;
            let pending = consents["studiesPendingConsent"].as_array().unwrap().iter().find(|s| s["id"] == MAIN);
            let study = consents["studies"].as_array().unwrap().iter().find(|s| s["id"] == MAIN);
            let scopes: BTreeMap<String, Value> = match (pending, study) {
                (Some(s), None) => s["pendingScopeConsents"].as_array().unwrap(),
                (None, Some(s)) => s["scopeConsents"].as_array().unwrap(),
                _ => panic!("{patient}: the main study once"),
            }
            .iter()
            .map(|s| (s["code"]["codingCode"].as_str().unwrap().to_string(), s.clone()))
            .collect();
            let consolidated: BTreeSet<&str> = consents["consolidatedConsentedScopes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["codingCode"].as_str().unwrap())
                .collect();
            for (code, &status) in statuses {
                let Some(scope) = scopes.get(code) else {
                    assert_eq!(status, ConsentStatus::NotRequested, "{patient} {code}");
                    continue;
                };
                let has = served.contains(&(patient, code.clone()));
                let want = match scope["consented"].as_bool() {
                    None => ConsentStatus::ConsentPending,
                    Some(false) => ConsentStatus::NotConsented,
                    Some(true) if has => ConsentStatus::HasData,
                    Some(true) => ConsentStatus::NoData,
                };
                assert_eq!(status, want, "{generation:?} {patient} {code}");
                assert_eq!(scope["consentedTime"].is_null(), scope["consented"] != true);
                assert_eq!(consolidated.contains(code.as_str()), scope["consented"] == true, "{patient} {code}");
                if status != ConsentStatus::HasData {
                    assert!(!has, "{patient} {code} served");
                }
            }
        }
        // The stated patients: 40002 pending, 40003 declined glucose and heart rate.
        assert!(expected[&40002].values().all(|&s| s == ConsentStatus::ConsentPending));
        assert_eq!(expected[&40003][GLUCOSE], ConsentStatus::NotConsented);
        assert_eq!(expected[&40003][HEART], ConsentStatus::NotConsented);
        assert_eq!(expected[&40003]["omh:blood-pressure:4.0"], ConsentStatus::HasData);
        assert!(!served.iter().any(|(p, _)| *p == 40002));
        for study in [BP] {
            assert!(!c.fake.directory().patients_by_study[&study].contains(&40002));
            assert!(!c.fake.directory().patients_by_study[&study].contains(&40003));
            for statuses in c.fake.expected_consent(study).values() {
                assert_eq!(statuses[GLUCOSE], ConsentStatus::NotRequested);
            }
        }
        assert!(c.fake.expected_consent(30003).is_empty());
    }
}

/// Rows added while the server runs go to patients who consented, and never of a code the
/// patient declined, so the consent statuses hold.
#[tokio::test]
async fn additions_respect_consent() {
    let fx = FakeExchange::start(config(Generation::Current)).await.unwrap();
    let before = fx.expected_consent(MAIN);
    let ids: BTreeSet<i64> = fx.add_observations(200, None, None, 0).unwrap().into_iter().collect();
    assert_eq!(ids.len(), 200);
    let added: Vec<(i64, String)> = fx
        .expected_observations(None, None, None)
        .into_iter()
        .filter(|r| ids.contains(&r.id))
        .map(|r| (r.patient_id, r.code))
        .collect();
    assert!(added.iter().all(|(p, _)| *p != 40002));
    assert!(added.iter().any(|(p, _)| *p == 40003));
    assert!(!added.iter().any(|(p, c)| *p == 40003 && (c == GLUCOSE || c == HEART)));
    let after = fx.expected_consent(MAIN);
    for (patient, statuses) in &before {
        for (code, status) in statuses {
            if *status != ConsentStatus::NoData {
                assert_eq!(after[patient][code], *status, "{patient} {code}");
            }
        }
    }
}

#[tokio::test]
async fn injected_values_times_and_copies_are_served_as_stated() {
    for generation in GENERATIONS {
        let c = Client::start(config(generation)).await;
        let payloads = payloads(&fetch_all(&c).await);
        let fx = &c.fake;
        assert_eq!(payloads.len(), fx.expected_observations(Some(MAIN), None, None).len());
        let patient_of: BTreeMap<i64, i64> = fx
            .expected_observations(None, None, None)
            .into_iter()
            .map(|r| (r.id, r.patient_id))
            .collect();

        let implausible = fx.expected_implausible();
        let mut seen: Vec<(i64, String, f64, String)> = implausible
            .iter()
            .map(|(id, code)| {
                let measure = &code[4..code.rfind(':').unwrap()].replace('-', "_");
                let (v, unit) = value(&payloads[id], measure);
                (patient_of[id], code.clone(), v, unit)
            })
            .collect();
        seen.sort_by(|a, b| (a.0, &a.1, a.2).partial_cmp(&(b.0, &b.1, b.2)).unwrap());
        let temperature = if seen.iter().any(|s| s.3 == "F") { (122.0, "F") } else { (50.0, "C") };
        let want = vec![
            (40004, GLUCOSE.to_string(), 5.0, "mg/dL".to_string()),
            (40004, GLUCOSE.to_string(), 1500.0, "mg/dL".to_string()),
            (40004, HEART.to_string(), 400.0, "beats/min".to_string()),
            (40005, "omh:body-temperature:4.0".to_string(), temperature.0, temperature.1.to_string()),
            (40005, "omh:oxygen-saturation:2.0".to_string(), 30.0, "%".to_string()),
        ];
        assert_eq!(seen, want, "{generation:?}");

        let spikes = fx.expected_spikes();
        let mut spike_values: Vec<(i64, &str, f64)> = spikes
            .iter()
            .map(|(id, code)| {
                let measure = if code == GLUCOSE { "blood_glucose" } else { "heart_rate" };
                (patient_of[id], code.as_str(), value(&payloads[id], measure).0)
            })
            .collect();
        spike_values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            spike_values,
            [(40006, GLUCOSE, 400.0), (40006, GLUCOSE, 400.0), (40006, GLUCOSE, 400.0), (40006, HEART, 220.0)]
        );
        // The rest of patient 5's glucose series stays in 70-250.
        let spike_ids: BTreeSet<i64> = spikes.iter().map(|s| s.0).collect();
        for (id, p) in &payloads {
            if patient_of[id] == 40006 && p["header"]["schema_id"]["name"] == "blood-glucose" && !spike_ids.contains(id) {
                let v = value(p, "blood_glucose").0;
                assert!((70.0..=250.0).contains(&v), "{id}: {v}");
            }
        }

        let future = fx.expected_future();
        assert_eq!(future.len(), 2);
        for id in &future {
            let p = &payloads[id];
            assert_eq!(patient_of[id], 40004);
            let effective = effective_start(p);
            let created = instant(p["header"]["source_creation_date_time"].as_str().unwrap());
            assert!(effective_text(p).unwrap().starts_with("2036-"), "{p}");
            assert!(created < instant("2026-01-01T00:00:00Z") && effective > created + 3000 * 86400);
        }
        let resets = fx.expected_clock_reset();
        assert_eq!(resets.len(), 1);
        assert_eq!(patient_of[&resets[0]], 40005);
        assert_eq!(effective_start(&payloads[&resets[0]]), 0);
        // Nothing else lies after the anchor or before 2000.
        for (id, p) in &payloads {
            if let Some(t) = effective_text(p) {
                let t = instant(t);
                let odd = t > instant("2026-01-01T00:00:00Z") || t < instant("2000-01-01T00:00:00Z");
                assert_eq!(odd, future.contains(id) || resets.contains(id), "{id}");
            }
        }

        let copies = fx.expected_duplicate_readings();
        assert_eq!(copies.len(), 5);
        for (original, copy) in &copies {
            assert!(copy > original);
            let (a, b) = (&payloads[original], &payloads[copy]);
            assert_eq!(patient_of[original], 40004);
            assert_eq!(patient_of[copy], 40004);
            assert_eq!(a["body"], b["body"], "same time frame and value");
            assert_ne!(a["header"]["uuid"], b["header"]["uuid"]);
            assert_eq!(a["header"]["acquisition_provenance"]["source_name"], "Dexcom G7");
            assert_eq!(b["header"]["acquisition_provenance"]["source_name"], "Glucose Buddy");
            let (mut ha, mut hb) = (a["header"].clone(), b["header"].clone());
            for h in [&mut ha, &mut hb] {
                let h = h.as_object_mut().unwrap();
                h.remove("uuid");
                h.remove("source_creation_date_time");
                h.remove("acquisition_provenance");
            }
            assert_eq!(ha, hb);
        }
        // No other two glucose readings of a patient share a time.
        let mut times: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        for (id, p) in &payloads {
            if p["header"]["schema_id"]["name"] == "blood-glucose" {
                times.entry((patient_of[id], effective_start(p))).or_default().push(*id);
            }
        }
        let pairs: BTreeSet<(i64, i64)> = times.values().filter(|v| v.len() > 1).map(|v| (v[0], v[1])).collect();
        assert_eq!(pairs, copies.iter().copied().collect());
    }
}

#[tokio::test]
async fn offsets_outages_and_gaps_are_served_as_stated() {
    for generation in GENERATIONS {
        let c = Client::start(config(generation)).await;
        let payloads = payloads(&fetch_all(&c).await);
        let fx = &c.fake;
        let rows: BTreeMap<i64, (i64, String)> = fx
            .expected_observations(None, None, None)
            .into_iter()
            .map(|r| (r.id, (r.patient_id, r.code)))
            .collect();

        let changes = fx.expected_offset_changes();
        assert_eq!(changes.len(), 1);
        let change = &changes[0];
        assert_eq!(change.patient_id, 40006);
        assert_eq!((change.to_minutes - change.from_minutes).abs(), 540);
        let minutes = |text: &str| -> i32 {
            match text {
                "Z" => 0,
                t => {
                    let sign = if t.starts_with('-') { -1 } else { 1 };
                    sign * (t[1..3].parse::<i32>().unwrap() * 60 + t[4..6].parse::<i32>().unwrap())
                }
            }
        };
        let mut written: Vec<(i64, i64, i32)> = Vec::new();
        for (id, p) in &payloads {
            if rows[id].0 != 40006 {
                continue;
            }
            let created = minutes(offset_text(p["header"]["source_creation_date_time"].as_str().unwrap()));
            if let Some(t) = effective_text(p) {
                assert_eq!(minutes(offset_text(t)), created, "{id}: one clock");
                written.push((effective_start(p), *id, created));
            }
        }
        written.sort();
        let first_new = written.iter().position(|w| w.2 == change.to_minutes).unwrap();
        assert_eq!(written[first_new].1, change.observation_id);
        assert_eq!(written[first_new].0, change.start);
        assert!(written[..first_new].iter().all(|w| w.2 == change.from_minutes));
        assert!(written[first_new..].iter().all(|w| w.2 == change.to_minutes));

        let outages = fx.expected_outages();
        assert_eq!(outages.len(), 3);
        for code in [GLUCOSE, HEART] {
            let gaps = fx.expected_gaps(code, 3.0).unwrap();
            for o in outages.iter().filter(|o| o.code == code) {
                assert_eq!(o.patient_id, 40001);
                // No reading of it was served inside the window.
                for (id, p) in &payloads {
                    if rows[id] == (o.patient_id, code.to_string()) {
                        let t = effective_start(p);
                        assert!(!(o.start..o.end).contains(&t), "{id} in an outage");
                    }
                }
                let gap = gaps
                    .iter()
                    .find(|g| g.patient_id == o.patient_id && g.start < o.start && g.end >= o.end)
                    .unwrap_or_else(|| panic!("{o:?} in no gap of {gaps:?}"));
                assert_eq!(effective_start(&payloads[&gap.from_id]), gap.start);
                assert_eq!(effective_start(&payloads[&gap.to_id]), gap.end);
            }
        }
        // CGM runs every 15 minutes: its only gaps are the two outages.
        let glucose = fx.expected_gaps(GLUCOSE, 3.0).unwrap();
        assert_eq!(glucose.len(), 2, "{glucose:?}");
        for (g, o) in glucose.iter().zip(&outages) {
            assert!(g.end - g.start < o.end - o.start + 30 * 60, "{g:?} {o:?}");
        }
        // The series: patient 3's glucose holds the implausible values and the copies.
        let series = fx.expected_series(40004, GLUCOSE).unwrap();
        let values: BTreeSet<i64> = series.iter().filter_map(|s| s.value).map(|v| v as i64).collect();
        assert!(values.contains(&5) && values.contains(&1500));
        assert_eq!(
            series.len(),
            payloads.keys().filter(|id| rows[id] == (40004, GLUCOSE.to_string())).count()
        );
        assert!(matches!(fx.expected_gaps("omh:blood-glucoze:4.0", 3.0), Err(FakeError::UnknownCode(_))));
    }
}
