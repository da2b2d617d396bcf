//! Changes over time, over HTTP, in both generations: additions (new ids, newest, valid
//! payloads), updates (a new value, `last_updated` moved so the row sorts as the newest),
//! deletions (gone from every search, count, read and list), additions dated before rows
//! already visible, the render cache after an update, changes while requests run, and
//! `expected_observations` following all of them.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use crate::generate::catalog::Code;
use crate::generate::damage::required_measure;
use crate::generate::time::parse_datetime;
use crate::schemas::{body_validator, validator};
use crate::{ChangeError, FakeConfig, FakeError, Generation};

use super::{Client, ids, link, resources};

const MAIN: i64 = 30001;

async fn start(generation: Generation) -> Client {
    Client::start(FakeConfig {
        patients: 3,
        days: 1,
        seed: 3,
        generation,
        damaged_every: 11,
        ..FakeConfig::default()
    })
    .await
}

/// The main study's FHIR search (`extra` appended), in the generation's base.
fn study_search(c: &Client, extra: &str) -> String {
    format!(
        "{}/Observation?patient._has:Group:member:_id={MAIN}&_count=1000{extra}",
        c.fake.config().generation.fhir_base()
    )
}

/// Every resource of a FHIR search, following `next`, and the first page's total.
async fn every_page(c: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut bundle = c.ok(first).await;
    let total = bundle["total"].as_u64().unwrap() as usize;
    let mut out: Vec<Value> = resources(&bundle).into_iter().cloned().collect();
    while let Some(next) = link(&bundle, "next") {
        bundle = c.ok(next.strip_prefix(c.fake.url()).unwrap()).await;
        out.extend(resources(&bundle).into_iter().cloned());
    }
    (out, total)
}

fn id_of(r: &Value) -> i64 {
    r["id"].as_str().unwrap().parse().unwrap()
}

fn last_updated(r: &Value) -> i64 {
    parse_datetime(r["meta"]["lastUpdated"].as_str().unwrap()).unwrap()
}

/// The OMH payload of a resource (base64 wrapped or not).
fn payload(r: &Value) -> Value {
    let data = r["valueAttachment"]["data"].as_str().unwrap().replace('\n', "");
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The main study's REST rows, newest first, and the count.
async fn rest_rows(c: &Client) -> (Vec<Value>, usize) {
    let page = match c.fake.config().generation {
        Generation::LegacyGuide => c.ok(&format!("/api/v1/observations?study_id={MAIN}&limit=1000")).await,
        _ => c.ok(&format!("/api/v1/observations?study_id={MAIN}&page_size=1000")).await,
    };
    let count = page["count"].as_u64().unwrap() as usize;
    assert!(count <= 1000, "one page holds them all");
    (page["results"].as_array().unwrap().clone(), count)
}

fn rest_payload(c: &Client, row: &Value) -> Value {
    let key = if c.fake.config().generation.is_legacy() { "valueAttachmentData" } else { "omhData" };
    row[key].clone()
}

fn expected_ids(c: &Client) -> Vec<i64> {
    c.fake.expected_observations(Some(MAIN), None, None).iter().map(|e| e.id).collect()
}

/// The newest `lastUpdated` of the main study, as served.
fn newest(c: &Client) -> i64 {
    let e = &c.fake.expected_observations(Some(MAIN), None, None)[0];
    parse_datetime(&e.last_updated).unwrap()
}

const GENERATIONS: [Generation; 3] = [Generation::Current, Generation::Legacy, Generation::LegacyGuide];

#[tokio::test]
async fn additions_are_new_rows_served_newest_with_valid_payloads() {
    for generation in GENERATIONS {
        let c = start(generation).await;
        let before = expected_ids(&c);
        let newest_before = newest(&c);
        let max_id = c.fake.state.store.read().len() as i64 + 60_000;
        let added = c.fake.add_observations(40, None, None, 0).unwrap();
        assert_eq!(added, ((max_id + 1)..=(max_id + 40)).collect::<Vec<_>>(), "{generation:?}");
        // All in the main study, newest first, after every row there was.
        let (served, total) = every_page(&c, &study_search(&c, "")).await;
        assert_eq!(total, before.len() + 40);
        let top: Vec<i64> = served[..40].iter().map(id_of).collect();
        assert_eq!(top, added.iter().rev().copied().collect::<Vec<_>>(), "{generation:?}");
        assert!(served[..40].iter().all(|r| last_updated(r) > newest_before));
        assert_eq!(served.iter().map(id_of).collect::<Vec<_>>(), expected_ids(&c));
        // Spread over the main study's patients and codes.
        let d = c.fake.directory();
        let patients: BTreeSet<String> =
            served[..40].iter().map(|r| r["subject"]["reference"].as_str().unwrap().to_string()).collect();
        assert_eq!(patients.len(), d.patients_by_study[&MAIN].len());
        let codes: BTreeSet<&str> =
            served[..40].iter().map(|r| r["code"]["coding"][0]["code"].as_str().unwrap()).collect();
        assert_eq!(codes.len(), d.codes_by_study[&MAIN].len());
        // Valid OMH, each with its own uuid.
        let header = validator("ieee", "header-1.0.json");
        let mut uuids = BTreeSet::new();
        for r in &served[..40] {
            let p = payload(r);
            let code = r["code"]["coding"][0]["code"].as_str().unwrap();
            assert!(header.is_valid(&p["header"]), "{p}");
            assert!(body_validator(code).is_valid(&p["body"]), "{code}: {p}");
            uuids.insert(p["header"]["uuid"].as_str().unwrap().to_string());
        }
        assert_eq!(uuids.len(), 40);
        // The REST list too.
        let (rows, count) = rest_rows(&c).await;
        assert_eq!(count, before.len() + 40);
        assert_eq!(rows[0]["id"], added[39], "{generation:?}");
    }
}

#[tokio::test]
async fn additions_of_one_patient_and_code() {
    let c = start(Generation::Current).await;
    let patient = c.fake.directory().patients_by_study[&MAIN][1];
    let added = c.fake.add_observations(5, Some(patient), Some("omh:body-weight:3.0"), 0).unwrap();
    let rows = c.fake.expected_observations(None, Some(patient), Some("omh:body-weight:3.0"));
    assert_eq!(rows[..5].iter().map(|e| e.id).collect::<Vec<_>>(), added.iter().rev().copied().collect::<Vec<_>>());
    let starts: BTreeSet<String> = rows[..5]
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.omh_json).unwrap()["body"]["effective_time_frame"].to_string())
        .collect();
    assert_eq!(starts.len(), 5, "distinct readings, not one repeated");
    let same = c.fake.add_observations(1, Some(patient), Some("https://w3id.org/openmhealth|omh:body-weight:3.0"), 0);
    assert_eq!(same.unwrap().len(), 1);
    // Refused, and nothing added.
    let stored = c.fake.state.store.read().len();
    for (patient, code) in [(Some(1), None), (None, Some("omh:nope:1.0")), (None, Some("omh:ambient-sound:1.0"))] {
        let e = c.fake.add_observations(3, patient, code, 0).unwrap_err();
        assert!(matches!(e, FakeError::Change(_)), "{e}");
    }
    assert_eq!(c.fake.state.store.read().len(), stored);
    assert_eq!(c.fake.add_observations(0, None, None, 0).unwrap(), Vec::<i64>::new());
}

/// `(id, code, measure)` of the main study's oldest undamaged rows whose required measure
/// is a `{value, unit}`.
fn oldest_measured(c: &Client, n: usize) -> Vec<(i64, Code, Value)> {
    let rows = c.fake.expected_observations(Some(MAIN), None, None);
    rows.iter()
        .rev()
        .filter(|e| e.damage.is_none())
        .filter_map(|e| {
            let code = Code::from_code(&e.code)?;
            let measure = required_measure(code)?;
            let p: Value = serde_json::from_str(&e.omh_json).unwrap();
            let measured = p["body"][measure].clone();
            measured["value"].is_number().then_some((e.id, code, measured))
        })
        .take(n)
        .collect()
}

#[tokio::test]
async fn updates_change_the_value_and_move_the_row() {
    for generation in GENERATIONS {
        let c = start(generation).await;
        let before = expected_ids(&c);
        let newest_before = newest(&c);
        let chosen = oldest_measured(&c, 3);
        let damaged = c.fake.damaged().into_iter().find(|(id, _)| before.contains(id)).unwrap().0;
        let updated: Vec<i64> = chosen.iter().map(|x| x.0).chain([damaged]).collect();
        c.fake.update_observations(&updated).unwrap();
        // Newest first: the last one updated leads; nothing added or lost.
        let (served, total) = every_page(&c, &study_search(&c, "")).await;
        assert_eq!(total, before.len());
        let top: Vec<i64> = served[..4].iter().map(id_of).collect();
        assert_eq!(top, updated.iter().rev().copied().collect::<Vec<_>>(), "{generation:?}");
        assert!(served[..4].iter().all(|r| last_updated(r) > newest_before));
        assert_eq!(served.iter().map(id_of).collect::<Vec<_>>(), expected_ids(&c));
        // The measure moved, in the FHIR resource and the REST row; the damaged row is whole.
        let (rows, count) = rest_rows(&c).await;
        assert_eq!(count, before.len());
        for (k, (id, code, old)) in chosen.iter().enumerate() {
            let measure = required_measure(*code).unwrap();
            let r = &served[3 - k];
            assert_eq!(id_of(r), *id);
            let new = &payload(r)["body"][measure];
            assert_ne!(new["value"], old["value"], "{code:?}");
            assert_eq!(new["unit"], old["unit"]);
            let row = &rows[3 - k];
            assert_eq!(row["id"], *id);
            assert_eq!(&rest_payload(&c, row)["body"][measure], new);
            assert_eq!(parse_datetime(row["lastUpdated"].as_str().unwrap()).unwrap(), last_updated(r));
        }
        let whole = payload(&served[0]);
        assert!(body_validator(served[0]["code"]["coding"][0]["code"].as_str().unwrap()).is_valid(&whole["body"]));
        assert!(!c.fake.damaged().iter().any(|(id, _)| *id == damaged));
        // The current generation reads it, and finds it by _lastUpdated.
        if generation == Generation::Current {
            let read = c.ok(&format!("/FHIR/R5/Observation/{}", chosen[0].0)).await;
            assert_eq!(read, served[3]);
        }
    }
}

#[tokio::test]
async fn last_updated_filters_and_sorts_follow_updates() {
    let c = start(Generation::Current).await;
    let all = expected_ids(&c);
    let newest_before = c.fake.expected_observations(Some(MAIN), None, None)[0].last_updated.clone();
    let updated: Vec<i64> = vec![all[all.len() - 1], all[all.len() / 2], all[5]];
    c.fake.update_observations(&updated).unwrap();
    let added = c.fake.add_observations(2, None, None, 0).unwrap();
    let changed: BTreeSet<i64> = updated.iter().chain(&added).copied().collect();
    fn found(rs: &[Value]) -> BTreeSet<i64> {
        rs.iter().map(id_of).collect()
    }
    // gt the newest before: exactly the changed rows; ge the first change's time too.
    let (gt, total) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=gt{newest_before}"))).await;
    assert_eq!((found(&gt), total), (changed.clone(), 5));
    let first_change = c.fake.expected_observations(Some(MAIN), None, None)[4].last_updated.clone();
    let (ge, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=ge{first_change}"))).await;
    assert_eq!(found(&ge), changed);
    let (gt_first, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=gt{first_change}"))).await;
    assert_eq!(gt_first.len(), 4, "gt excludes the row at the bound");
    let (lt, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=lt{first_change}"))).await;
    assert!(found(&lt).is_disjoint(&changed));
    assert_eq!(lt.len(), all.len() + 2 - 5);
    let (le, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=le{newest_before}"))).await;
    assert_eq!(found(&le), found(&lt));
    // Sorts: the updated rows moved to the end of the ascending order, id as tiebreaker.
    let (ascending, _) = every_page(&c, &study_search(&c, "&_sort=_lastUpdated")).await;
    let tail: Vec<i64> = ascending[ascending.len() - 5..].iter().map(id_of).collect();
    assert_eq!(tail, updated.iter().chain(&added).copied().collect::<Vec<_>>());
    let times: Vec<i64> = ascending.iter().map(last_updated).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    let (descending, _) = every_page(&c, &study_search(&c, "&_sort=-_lastUpdated")).await;
    let mut reversed = descending.iter().map(id_of).collect::<Vec<_>>();
    reversed.reverse();
    assert_eq!(reversed, ascending.iter().map(id_of).collect::<Vec<_>>());
    assert_eq!(descending.iter().map(id_of).collect::<Vec<_>>(), expected_ids(&c));
    // Paged: the same rows, each once.
    let paged: Vec<i64> = super::all_pages(&c, &format!("/FHIR/R5/Observation?patient._has:Group:member:_id={MAIN}&_count=37&_sort=-_lastUpdated")).await.0.iter().map(id_of).collect();
    assert_eq!(paged, expected_ids(&c));
}

#[tokio::test]
async fn the_legacy_generation_ignores_last_updated_but_orders_by_it() {
    let c = start(Generation::Legacy).await;
    let all = expected_ids(&c);
    let newest_before = c.fake.expected_observations(Some(MAIN), None, None)[0].last_updated.clone();
    c.fake.update_observations(&[all[all.len() - 1]]).unwrap();
    let ignored = c.ok(&study_search(&c, &format!("&_lastUpdated=gt{}", newest_before.replace('+', "%2B")))).await;
    assert_eq!(ignored["total"].as_u64().unwrap() as usize, all.len(), "silently ignored");
    let ascending = c.ok(&study_search(&c, "&_sort=_lastUpdated")).await;
    assert_eq!(ids(&ascending)[0], all[all.len() - 1], "_sort ignored: newest first");
}

#[tokio::test]
async fn deletions_disappear_from_every_search_count_read_and_list() {
    for generation in GENERATIONS {
        let c = start(generation).await;
        let before = expected_ids(&c);
        let gone = vec![before[0], before[7], before[before.len() - 1]];
        c.fake.delete_observations(&gone).unwrap();
        let left: Vec<i64> = before.iter().copied().filter(|id| !gone.contains(id)).collect();
        assert_eq!(expected_ids(&c), left);
        let (served, total) = every_page(&c, &study_search(&c, "")).await;
        assert_eq!((served.iter().map(id_of).collect::<Vec<_>>(), total), (left.clone(), left.len()), "{generation:?}");
        let (rows, count) = rest_rows(&c).await;
        assert_eq!(count, left.len());
        assert!(rows.iter().all(|r| !gone.contains(&r["id"].as_i64().unwrap())));
        let patient = c.fake.directory().patients_by_study[&MAIN][0];
        let base = generation.fhir_base();
        let by_patient = c.ok(&format!("{base}/Observation?patient={patient}&_count=1000")).await;
        assert!(ids(&by_patient).iter().all(|id| !gone.contains(id)));
        for id in &gone {
            let listed = c.ok(&format!("/api/v1/observations?observation_id={id}")).await;
            assert_eq!(listed["count"], 0);
        }
        if generation == Generation::Current {
            let count = c.ok(&study_search(&c, "&_summary=count")).await;
            assert_eq!(count["total"].as_u64().unwrap() as usize, left.len());
            let everything = c.ok("/FHIR/R5/Observation?_summary=count").await["total"].as_u64().unwrap();
            assert_eq!(everything as usize, c.fake.expected_observations(None, None, None).len());
            for id in &gone {
                assert_eq!(c.get(&format!("/FHIR/R5/Observation/{id}")).await.status, 404);
                assert_eq!(c.get(&format!("/api/v1/observations/{id}")).await.status, 404);
                assert_eq!(c.ok(&format!("/FHIR/R5/Observation?_id={id}")).await["total"], 0);
            }
        }
        // Gone for good: not updated, not deleted twice, and its id not reused.
        let stored = c.fake.state.store.read().len() as i64;
        for e in [c.fake.update_observations(&[gone[0]]), c.fake.delete_observations(&[left[0], gone[1]])] {
            assert!(matches!(e, Err(FakeError::Change(ChangeError::NoSuchObservation(_)))), "{e:?}");
        }
        assert!(expected_ids(&c).contains(&left[0]), "a refused deletion deletes nothing");
        assert_eq!(c.fake.add_observations(1, None, None, 0).unwrap(), vec![60_001 + stored]);
    }
}

#[tokio::test]
async fn additions_can_be_dated_before_rows_already_visible() {
    for generation in [Generation::Current, Generation::Legacy] {
        let c = start(generation).await;
        // The newest row is a main-study row written now; then three dated 3 s before now.
        let now_row = c.fake.add_observations(1, None, None, 0).unwrap()[0];
        let newest_visible = newest(&c);
        let late = c.fake.add_observations(3, None, None, -3_000_000).unwrap();
        assert!(late.iter().all(|&id| id > now_row), "new rows, new ids");
        let (served, total) = every_page(&c, &study_search(&c, "")).await;
        assert_eq!(served[0]["id"], now_row.to_string(), "{generation:?}: still the newest");
        assert_eq!(total, expected_ids(&c).len());
        for r in served.iter().filter(|r| late.contains(&id_of(r))) {
            assert!(last_updated(r) < newest_visible);
            assert!(last_updated(r) > newest_visible - 3_000_000);
        }
        // Served in last_updated order, as expected_observations says.
        assert_eq!(served.iter().map(id_of).collect::<Vec<_>>(), expected_ids(&c));
        let times: Vec<i64> = served.iter().map(last_updated).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
        if generation == Generation::Current {
            // Polling with gt the newest row seen misses them; ge their own time finds them,
            // with the rows already there since then.
            let expected = c.fake.expected_observations(Some(MAIN), None, None);
            let newest_seen = &expected[0].last_updated;
            let (after_newest, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=gt{newest_seen}"))).await;
            assert!(after_newest.is_empty());
            let since = expected.iter().find(|e| e.id == late[0]).unwrap().last_updated.clone();
            let (found, _) = every_page(&c, &study_search(&c, &format!("&_lastUpdated=ge{since}"))).await;
            let want: Vec<i64> = expected.iter().filter(|e| e.last_updated >= since).map(|e| e.id).collect();
            assert_eq!(found.iter().map(id_of).collect::<Vec<_>>(), want);
            assert!(want.len() >= 4 && late.iter().all(|id| want.contains(id)));
        }
    }
}

#[tokio::test]
async fn the_render_cache_serves_an_updated_row_fresh() {
    let c = Client::start(FakeConfig { patients: 3, days: 1, seed: 5, render_cache: true, ..FakeConfig::default() }).await;
    let first = c.ok(&study_search(&c, "")).await;
    assert_eq!(c.ok(&study_search(&c, "")).await, first, "served again, from the cache");
    let before = resources(&first);
    let id = id_of(before[10]);
    c.fake.update_observations(&[id]).unwrap();
    let after = c.ok(&study_search(&c, "")).await;
    let now = resources(&after);
    assert_eq!(id_of(now[0]), id);
    assert_ne!(now[0], before[10]);
    assert_ne!(payload(now[0]), payload(before[10]));
    // The same as rendered afresh (a read never uses the cache); the others unchanged.
    assert_eq!(*now[0], c.ok(&format!("/FHIR/R5/Observation/{id}")).await);
    let others: Vec<&Value> = before[..10].iter().chain(&before[11..]).copied().collect();
    assert_eq!(now[1..], others[..now.len() - 1]);
}

/// Searches while another thread adds, updates and deletes: every answer is one state of
/// the store (its total is the rows it holds, each once, newest first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_while_requests_run_are_atomic() {
    let c = std::sync::Arc::new(start(Generation::Current).await);
    let writer = {
        let c = c.clone();
        tokio::task::spawn_blocking(move || {
            let mut deleted = Vec::new();
            for round in 0..30 {
                let added = c.fake.add_observations(7, None, None, if round % 3 == 0 { -2_000_000 } else { 0 }).unwrap();
                c.fake.update_observations(&added[..2]).unwrap();
                c.fake.delete_observations(&added[5..]).unwrap();
                deleted.extend_from_slice(&added[5..]);
            }
            deleted
        })
    };
    let mut answers = 0;
    while !writer.is_finished() || answers < 5 {
        let bundle = c.ok(&study_search(&c, "")).await;
        let got = ids(&bundle);
        assert_eq!(got.len(), bundle["total"].as_u64().unwrap() as usize);
        assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len());
        let times: Vec<i64> = resources(&bundle).iter().map(|r| last_updated(r)).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
        answers += 1;
    }
    let deleted = writer.await.unwrap();
    let (served, _) = every_page(&c, &study_search(&c, "")).await;
    assert_eq!(served.iter().map(id_of).collect::<Vec<_>>(), expected_ids(&c));
    assert!(served.iter().all(|r| !deleted.contains(&id_of(r))));
}

#[tokio::test]
async fn every_code_updates_to_a_different_valid_payload() {
    // Whole days of data, so every code has rows.
    let c = Client::start(FakeConfig { patients: 2, days: 3, seed: 3, ..FakeConfig::default() }).await;
    let oldest = |code: &str| {
        c.fake
            .expected_observations(Some(MAIN), None, Some(code))
            .into_iter()
            .rev()
            .find(|e| e.damage.is_none())
            .unwrap()
    };
    let codes = c.fake.directory().codes_by_study[&MAIN].clone();
    let before: Vec<_> = codes.iter().map(|code| oldest(code)).collect();
    c.fake.update_observations(&before.iter().map(|e| e.id).collect::<Vec<_>>()).unwrap();
    let header = validator("ieee", "header-1.0.json");
    for (code, old) in codes.iter().zip(&before) {
        let new = c.fake.expected_observations(Some(MAIN), None, Some(code)).into_iter().find(|e| e.id == old.id).unwrap();
        let (p, q): (Value, Value) = (serde_json::from_str(&old.omh_json).unwrap(), serde_json::from_str(&new.omh_json).unwrap());
        assert_ne!(p["body"], q["body"], "{code}");
        assert_eq!(p["body"]["effective_time_frame"], q["body"]["effective_time_frame"], "{code}");
        assert_eq!(p["header"]["uuid"], q["header"]["uuid"]);
        assert!(new.last_updated > old.last_updated);
        assert!(body_validator(code).is_valid(&q["body"]), "{code}: {q}");
        assert!(header.is_valid(&q["header"]));
    }
}
