//! De-identification of real fetches from the fake Exchange, in both layouts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{DurationMicrosecondType, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use jhe_fake::{FakeConfig, FakeExchange};

use super::*;
use crate::config::{ClientConfig, ClientOptions};
use crate::fetch::{FetchOutcome, Session, fetch_observations};
use crate::query::{Api, FetchRequest, ObservationQuery};

const KEY: &[u8] = b"a test key, 32 bytes long ......";

async fn fetched(fx: &FakeExchange, layout: Layout) -> FetchOutcome {
    let options = ClientOptions { url: Some(fx.url().to_string()), token: Some(fx.token().into()), ..Default::default() };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    let query = ObservationQuery::new(Some(fx.directory().main_study_id), None, &[]).unwrap();
    let request = FetchRequest::new(query, Api::Fhir, Some(layout)).unwrap();
    fetch_observations(&session, &request, Arc::default()).await.unwrap()
}

async fn fake(unknown_codes: bool) -> FakeExchange {
    let config = FakeConfig { patients: 4, days: 2, seed: 3, unknown_codes, damaged_every: 50, ..Default::default() };
    FakeExchange::start(config).await.unwrap()
}

fn shifting(key: &[u8], max_days: u32) -> Deidentification {
    Deidentification::new(key, "http://127.0.0.1", DateHandling::Shift { max_days }).unwrap()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    arrow_cast_strings(batch.column_by_name(name).unwrap())
}

fn arrow_cast_strings(column: &dyn Array) -> Vec<Option<String>> {
    match column.data_type() {
        DataType::Dictionary(..) => {
            let dictionary = column.as_dictionary::<Int32Type>();
            let values = dictionary.values().as_string::<i32>();
            dictionary.keys().iter().map(|key| key.map(|key| values.value(key as usize).to_string())).collect()
        }
        _ => column.as_string::<i32>().iter().map(|value| value.map(str::to_string)).collect(),
    }
}

fn times(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    batch.column_by_name(name).unwrap().as_primitive::<TimestampMicrosecondType>().iter().collect()
}

/// (pseudonym, original patient id) of each row: the input and output rows stay in order.
fn patients_of(original: &RecordBatch, output: &RecordBatch) -> Vec<(String, i64)> {
    let ids = original.column_by_name("patient_id").unwrap().as_primitive::<Int64Type>();
    strings(output, "pseudonym").into_iter().zip(ids.iter()).map(|(p, id)| (p.unwrap(), id.unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonyms_and_shifts_are_per_patient_stable_and_keyed() {
    let fx = fake(false).await;
    for layout in [Layout::Wide, Layout::Long] {
        let outcome = fetched(&fx, layout).await;
        let once = shifting(KEY, 365).tables(layout, &outcome.tables.tables).unwrap();
        let again = shifting(KEY, 365).tables(layout, &outcome.tables.tables).unwrap();
        let other = shifting(b"another key, also 32 bytes long.", 365).tables(layout, &outcome.tables.tables).unwrap();
        let mut by_patient: HashMap<i64, String> = HashMap::new();
        for (((_, original), (_, out)), (_, other)) in outcome.tables.tables.iter().zip(&once).zip(&other) {
            assert_eq!(out.num_rows(), original.num_rows());
            assert_eq!(out, &again[once.iter().position(|(_, b)| b == out).unwrap()].1, "{layout:?}: the same key, the same output");
            for (pseudonym, id) in patients_of(original, out) {
                assert_eq!(pseudonym.len(), PSEUDONYM_LEN);
                // One pseudonym per patient across every table.
                assert_eq!(by_patient.entry(id).or_insert_with(|| pseudonym.clone()), &pseudonym);
            }
            assert_ne!(strings(out, "pseudonym"), strings(other, "pseudonym"), "another key, other pseudonyms");
            assert_ne!(strings(out, "observation_id"), strings(other, "observation_id"));
            for removed in ["patient_id", "uuid", "patient_name"] {
                assert!(out.column_by_name(removed).is_none(), "{removed} is removed");
            }
        }
        let distinct: HashSet<&String> = by_patient.values().collect();
        assert_eq!(distinct.len(), by_patient.len(), "patients do not share a pseudonym");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_times_all_move_by_one_whole_number_of_days() {
    let fx = fake(false).await;
    let outcome = fetched(&fx, Layout::Wide).await;
    let deidentification = shifting(KEY, 365);
    let out = deidentification.tables(Layout::Wide, &outcome.tables.tables).unwrap();
    let mut shifts: HashMap<i64, HashSet<i64>> = HashMap::new();
    for ((_, original), (_, out)) in outcome.tables.tables.iter().zip(&out) {
        let ids: Vec<i64> = original.column_by_name("patient_id").unwrap().as_primitive::<Int64Type>().iter().flatten().collect();
        for name in ["timestamp", "effective_start", "effective_end", "last_updated", "created"] {
            for ((before, after), id) in times(original, name).into_iter().zip(times(out, name)).zip(&ids) {
                assert_eq!(before.is_some(), after.is_some(), "{name}: a time stays a time");
                if let (Some(before), Some(after)) = (before, after) {
                    shifts.entry(*id).or_default().insert(after - before);
                }
            }
        }
    }
    for (id, moved) in &shifts {
        assert_eq!(moved.len(), 1, "patient {id}: one shift for every time");
        let shift = *moved.iter().next().unwrap();
        assert_eq!(shift % (7 * 86_400_000_000), 0, "whole weeks");
        let expected = deidentification.shift_days(&deidentification.keys().patient(*id));
        assert_eq!(shift, expected * 86_400_000_000);
        assert!(expected.abs() <= 365);
    }
    assert!(shifts.values().any(|moved| !moved.contains(&0)), "times do move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_harbor_keeps_only_the_year_and_times_since_the_first_observation() {
    let fx = fake(false).await;
    let outcome = fetched(&fx, Layout::Long).await;
    let safe_harbor = Deidentification::new(KEY, "http://127.0.0.1", DateHandling::SafeHarbor).unwrap();
    let out = safe_harbor.tables(Layout::Long, &outcome.tables.tables).unwrap();
    let (original, out) = (&outcome.tables.tables[0].1, &out[0].1);
    for (field, _) in out.schema().fields().iter().zip(out.columns()) {
        assert!(!matches!(field.data_type(), DataType::Timestamp(..) | DataType::Date32 | DataType::Date64), "{} is a date", field.name());
    }
    let since = out.column_by_name("effective_start").unwrap().as_primitive::<DurationMicrosecondType>();
    let years = out.column_by_name("first_year").unwrap().as_primitive::<Int32Type>();
    let starts = times(original, "effective_start");
    let ids = original.column_by_name("patient_id").unwrap().as_primitive::<Int64Type>();
    let mut first: HashMap<i64, i64> = HashMap::new();
    for (id, start) in ids.iter().zip(&starts) {
        if let Some(start) = start {
            let entry = first.entry(id.unwrap()).or_insert(i64::MAX);
            *entry = (*entry).min(*start);
        }
    }
    for row in 0..out.num_rows() {
        let anchor = first[&ids.value(row)];
        let Some(start) = starts[row] else {
            assert!(since.is_null(row), "no time, no duration");
            continue;
        };
        assert_eq!(since.value(row), start - anchor, "time since the patient's first observation");
        let year = chrono::Datelike::year(&chrono::DateTime::from_timestamp_micros(anchor).unwrap());
        assert_eq!(years.value(row), year);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_text_of_unknown_codes_and_raw_payloads_are_withheld() {
    let fx = fake(true).await;
    let deidentification = shifting(KEY, 30);
    let wide = fetched(&fx, Layout::Wide).await;
    for ((code, original), (_, out)) in wide.tables.tables.iter().zip(deidentification.tables(Layout::Wide, &wide.tables.tables).unwrap()) {
        let known = catalog::lookup(code.as_deref().unwrap()).is_some();
        for field in original.schema().fields() {
            let text = is_text(field.data_type()) && !COMMON.contains(&field.name().as_str());
            if text && !known {
                assert!(out.column_by_name(field.name()).is_none(), "{code:?}: {} is withheld", field.name());
            } else if text {
                assert!(out.column_by_name(field.name()).is_some(), "{code:?}: catalogued {} stays", field.name());
            }
        }
    }
    let long = fetched(&fx, Layout::Long).await;
    let out = deidentification.tables(Layout::Long, &long.tables.tables).unwrap();
    let (codes, text) = (strings(&out[0].1, "code"), strings(&out[0].1, "text"));
    let original_text = strings(&long.tables.tables[0].1, "text");
    let mut withheld = 0;
    for ((code, text), original) in codes.iter().zip(&text).zip(&original_text) {
        if catalog::lookup(code.as_deref().unwrap()).is_some() {
            assert_eq!(text, original);
        } else {
            withheld += usize::from(original.is_some());
            assert!(text.is_none(), "{code:?}: body text is withheld");
        }
    }
    assert!(withheld > 0, "the fake's unknown codes carry text");
    let errors = deidentification.errors(&long.tables.errors);
    assert!(errors.num_rows() > 0);
    assert!(strings(&errors, "raw").iter().all(|raw| raw.as_deref() == Some("")));
    let ids = strings(&errors, "observation_id");
    assert!(ids.iter().flatten().all(|id| id.len() == PSEUDONYM_LEN));
}

#[test]
fn a_short_key_a_wide_shift_and_the_flat_layout_are_refused() {
    let short = Deidentification::new(b"short", "http://x", DateHandling::SafeHarbor).unwrap_err();
    assert!(short.to_string().contains("at least 16 bytes"), "{short}");
    let wide = Deidentification::new(KEY, "http://x", DateHandling::Shift { max_days: MAX_SHIFT_DAYS + 1 }).unwrap_err();
    assert!(wide.to_string().contains("date_shift_days"), "{wide}");
    let narrow = Deidentification::new(KEY, "http://x", DateHandling::Shift { max_days: 6 }).unwrap_err();
    assert!(narrow.to_string().contains("whole weeks"), "{narrow}");
    assert!(Deidentification::new(KEY, "http://x", DateHandling::Shift { max_days: 0 }).is_ok());
    let flat = shifting(KEY, 7).tables(Layout::Flat, &[]).unwrap_err();
    assert!(flat.to_string().contains("flat"), "{flat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_records_fhir_id_is_keyed_and_its_source_says_only_imported() {
    let fx = fake(false).await;
    let options = ClientOptions { url: Some(fx.url().to_string()), token: Some(fx.token().into()), ..Default::default() };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    let mut query = ObservationQuery::new(Some(fx.directory().main_study_id), None, &["4548-4".to_string(), "omh:heart-rate:2.0".to_string()]).unwrap();
    query.origin = crate::origin::Origin::All;
    let request = FetchRequest::new(query, Api::Fhir, Some(Layout::Long)).unwrap();
    let outcome = fetch_observations(&session, &request, Arc::default()).await.unwrap();
    let long = &outcome.tables.tables[0].1;
    let out = &shifting(KEY, 0).tables(Layout::Long, &outcome.tables.tables).unwrap().remove(0).1;
    let (ids, sources) = (strings(long, "resource_id"), strings(out, "source"));
    let pseudonyms = strings(out, "resource_id");
    let keys = Keys::new(KEY, "http://127.0.0.1");
    let mut imported = 0;
    for ((id, pseudonym), source) in ids.iter().zip(&pseudonyms).zip(&sources) {
        match id {
            Some(id) => {
                let mut expected = [0u8; PSEUDONYM_LEN];
                keys.record_into(id, &mut expected);
                assert_eq!(pseudonym.as_deref().map(str::as_bytes), Some(&expected[..]));
                assert_eq!(source.as_deref(), Some(crate::origin::IMPORTED_SOURCE_BASE), "not which source");
                imported += 1;
            }
            None => {
                assert_eq!(*pseudonym, None);
                assert_eq!(source.as_deref(), Some(crate::origin::EXCHANGE_SOURCE));
            }
        }
    }
    assert!(imported > 0 && imported < ids.len(), "both stores read");
    assert!(strings(long, "source").iter().flatten().any(|s| s.len() > crate::origin::IMPORTED_SOURCE_BASE.len()), "the source's id, before");
}
