//! Nothing a server sends makes decoding panic: arbitrary bytes and strings, and mutated
//! golden payloads (values replaced, deleted, retyped, nulled, made huge or deeply nested),
//! through base64, the document parser, every catalogue measure and the time frame.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

use crate::decode::omh::catalog::CATALOG;
use crate::decode::omh::raw::RawObject;
use crate::decode::omh::time::{parse_date_time, parse_duration, parse_time_frame, read_time_frame};
use crate::decode::omh::{decode_base64, parse_document};

/// Every measure of every code read from `body` (whatever its code), and the time frame.
fn read_everything(body: &Map<String, Value>) {
    let text = serde_json::to_string(body).unwrap();
    read_everything_raw(&RawObject::parse(&text).unwrap());
    if let Some(frame) = body.get("effective_time_frame") {
        let _ = parse_time_frame(frame);
    }
}

/// The same, from a body as decoding reads it.
fn read_everything_raw(body: &RawObject<'_>) {
    for spec in CATALOG {
        for measure in spec.measures {
            let reading = measure.read(body);
            // A problem always comes with nothing kept, or with the value as written.
            if reading.problem.is_some() {
                let _ = format!("{:?}", reading.value);
            }
        }
    }
    if let Some(frame) = body.get("effective_time_frame") {
        let _ = read_time_frame(frame);
    }
}

/// What a client does with one `valueAttachment.data`.
fn decode_everything(data: &str) {
    let mut bytes = Vec::new();
    if decode_base64(data, &mut bytes).is_ok() {
        if let Ok(document) = parse_document(&bytes) {
            read_everything_raw(document.body.as_ref().unwrap());
        }
    }
}

fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The golden documents: real payloads and schema examples, whole.
fn golden_documents() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let samples: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("samples/omh_payloads_by_code.json")).unwrap()).unwrap();
    let mut docs: Vec<Value> = samples.as_object().unwrap().values().filter_map(|v| v.get("omh").cloned()).collect();
    let examples = root.join("omh-schemas/omh/examples/data-points");
    let mut files: Vec<_> = std::fs::read_dir(examples).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        docs.push(serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap());
    }
    // The codes neither source has, and nested or unusual shapes.
    for body in [
        json!({"body_weight": {"value": 154, "unit": "lb"}, "effective_time_frame": {"date_time": "2025-03-02T07:00:00-08:00"}}),
        json!({"forced_vital_capacity": {"value": 4.35, "unit": "L"}, "measurement_quality": "acceptable", "effective_time_frame": {"date_time": "2025-03-02T10:00:00Z"}}),
        json!({"forced_expiratory_volume_1_second": {"value": 3.2, "unit": "L"}, "effective_time_frame": {"time_interval": {"date": "2025-03-02", "part_of_day": "morning"}}}),
        json!({"food_name": "oatmeal", "food_amount": {"value": 1.5, "unit": "Cup"}, "meal": "breakfast", "protein": {"value": 10, "unit": "g"}, "sodium": {"value": 115, "unit": "mg"}, "calories": {"value": 307, "unit": "kcal"}, "effective_time_frame": {"full_date": "2025-03-02"}}),
        json!({"sleep_stage_summary": {"total_sleep_time": {"value": 402, "unit": "min"}, "rem_sleep_episode_count": 4, "awake_percentage": {"value": 6.5, "unit": "%"}}, "sleep_stage_episodes": [{"sleep_stage_state": "REM_sleep", "sleep_stage_time_frame": {"time_interval": {"start_date_time": "2025-03-02T01:00:00Z", "duration": {"value": 20, "unit": "min"}}}}], "is_main_sleep": true, "effective_time_frame": {"time_interval": {"end_date_time": "2025-03-02T06:40:00-05:00", "duration": {"value": 7.5, "unit": "h"}}}}),
    ] {
        docs.push(json!({"header": {"uuid": "u"}, "body": body}));
    }
    docs
}

const KEYS: &[&str] = &[
    "value", "unit", "body", "header", "date_time", "time_interval", "start_date_time", "end_date_time", "duration",
    "date", "part_of_day", "full_date", "effective_time_frame", "blood_glucose", "step_count", "sleep_stage_summary",
    "total_sleep_time", "food_amount", "is_main_sleep", "number_of_awakenings", "uuid", "acquisition_provenance",
];

const STRINGS: &[&str] = &[
    "", " ", "mg/dL", "mmol/L", "steps", "sec", "s", "min", "h", "d", "wk", "Mo", "yr", "ps", "K", "F", "C", "%", "lb",
    "Metric Ton", "NaN", "Infinity", "-Infinity", "-0", "1e400", "-1e400", "true", "null", "morning", "night", "teatime",
    "2024-05-02T15:30:00Z", "2024-05-02T08:30:00-07:00", "2024-05-02T15:30:00.123456789", "2024-05-02 15:30:00",
    "9999-12-31T23:59:59+23:59", "0000-01-01T00:00:00-23:59", "+262143-12-31T23:59:59Z", "2024-02-30T00:00:00Z",
    "2024-05-02", "262143-12-31", "-262144-01-01", "2024-13-01", "\u{0}", "\u{feff}2024-05-02T15:30:00Z", "💥🕰️",
    "ZZZZ", "====", "e30=", "e30", "eyJib2R5Ijp7fX0=", "eyJib2R5IjpudWxsfQ==",
];

const NUMBERS: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 9.0e15, 9.007_199_254_740_993e15, 9.3e18, -9.3e18, 1.8e19, 1e20, 1e300,
    -1e300, f64::MAX, f64::MIN, f64::EPSILON, 86_400.0, 3.0e12, 2.9e14, -2.9e14,
];

fn number(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => ".{0,6}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(number),
        prop::sample::select(NUMBERS).prop_map(number),
        ".{0,16}".prop_map(Value::String),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(Value),
    Delete,
    Null,
    Retype,
    Extreme(f64),
    Nest(u16, bool),
    Insert(String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => json_value().prop_map(Edit::Replace),
        2 => Just(Edit::Delete),
        2 => Just(Edit::Null),
        2 => Just(Edit::Retype),
        2 => prop::sample::select(NUMBERS).prop_map(Edit::Extreme),
        1 => (1u16..300, any::<bool>()).prop_map(|(depth, array)| Edit::Nest(depth, array)),
        2 => (key(), json_value()).prop_map(|(k, v)| Edit::Insert(k, v)),
    ]
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every node's path, parents before children.
fn paths(value: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Seg::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Seg::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'v>(root: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

fn retype(value: &Value) -> Value {
    match value {
        Value::Null => json!(0),
        Value::Bool(b) => json!(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s.parse::<f64>().map_or_else(|_| json!([s]), number),
        Value::Array(items) => Value::Object(items.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect()),
        Value::Object(map) => Value::Array(map.values().cloned().collect()),
    }
}

fn apply(root: &mut Value, selector: usize, edit: &Edit) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    let path = &all[selector % all.len()];
    let Some(target) = node(root, path) else { return };
    match edit {
        Edit::Replace(v) => *target = v.clone(),
        Edit::Null => *target = Value::Null,
        Edit::Retype => *target = retype(target),
        Edit::Extreme(f) => *target = number(*f),
        Edit::Nest(depth, array) => {
            let mut v = target.take();
            for _ in 0..*depth {
                v = if *array { json!([v]) } else { json!({"value": v}) };
            }
            *target = v;
        }
        Edit::Insert(k, v) => match target {
            Value::Object(map) => {
                map.insert(k.clone(), v.clone());
            }
            Value::Array(items) => items.push(v.clone()),
            other => *other = json!({ k.clone(): v.clone() }),
        },
        Edit::Delete => {
            let Some((last, parent)) = path.split_last() else {
                *root = Value::Null;
                return;
            };
            match (node(root, parent), last) {
                (Some(Value::Object(map)), Seg::Key(k)) => {
                    map.remove(k);
                }
                (Some(Value::Array(items)), Seg::Index(i)) if *i < items.len() => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
    }
}

/// Text-level damage: cut the JSON short, or splice in a token serde_json may choke on.
#[derive(Debug, Clone)]
enum Damage {
    None,
    Truncate(usize),
    Splice(usize, &'static str),
}

const TOKENS: &[&str] = &["1e400", "-1e400", "NaN", "Infinity", "-", "\"", "\\u0000", "\\ud800", "]", "}", ",", "{", "0000000000000000000000001"];

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        1 => any::<usize>().prop_map(Damage::Truncate),
        1 => (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Damage::Splice(at, t)),
    ]
}

fn damaged(text: String, damage: &Damage) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    match damage {
        Damage::None => {}
        Damage::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
        Damage::Splice(at, token) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, token.bytes());
        }
    }
    bytes
}

/// 256 cases (a few seconds in debug); `PROPTEST_CASES` asks for more.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_document(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        decode_everything(&text);
        decode_everything(&encode(&bytes));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in prop_oneof![".{0,64}", prop::sample::select(STRINGS).prop_map(String::from)]) {
        decode_everything(&text);
        let _ = parse_document(text.as_bytes());
        let _ = parse_date_time(&text);
        let s = Value::String(text.clone());
        for frame in [
            json!({"date_time": s}),
            json!({"full_date": s}),
            json!({"time_interval": {"start_date_time": s, "end_date_time": s}}),
            json!({"time_interval": {"start_date_time": s, "duration": {"value": 1, "unit": s}}}),
            json!({"time_interval": {"end_date_time": "2024-05-02T15:30:00Z", "duration": {"value": 1, "unit": s}}}),
            json!({"time_interval": {"date": s, "part_of_day": s}}),
            json!({"time_interval": {"date": "2024-05-02", "part_of_day": s}}),
        ] {
            let _ = parse_time_frame(&frame);
        }
        let _ = parse_duration(&json!({"value": 1, "unit": s}));
        let mut body = Map::new();
        for spec in CATALOG {
            for m in spec.measures {
                body.insert(m.path[0].to_string(), s.clone());
            }
        }
        read_everything(&body);
        for spec in CATALOG {
            for m in spec.measures {
                let mut nested = Value::String(text.clone());
                for key in m.path.iter().rev() {
                    nested = json!({ *key: nested });
                }
                let _ = m.read_json(nested.as_object().unwrap());
                let quantity = json!({"value": 1.0, "unit": s});
                let mut wrapped = quantity;
                for key in m.path.iter().rev() {
                    wrapped = json!({ *key: wrapped });
                }
                let _ = m.read_json(wrapped.as_object().unwrap());
            }
        }
    }

    #[test]
    fn arbitrary_values_at_every_measure_and_time_field_never_panic(value in json_value()) {
        for spec in CATALOG {
            for m in spec.measures {
                let mut nested = value.clone();
                for key in m.path.iter().rev() {
                    nested = json!({ *key: nested });
                }
                let _ = m.read_json(nested.as_object().unwrap());
            }
        }
        let _ = parse_time_frame(&value);
        let _ = parse_duration(&value);
        for field in ["date_time", "full_date"] {
            let _ = parse_time_frame(&json!({ field: value.clone() }));
        }
        for field in ["start_date_time", "end_date_time", "duration", "date", "part_of_day"] {
            let _ = parse_time_frame(&json!({"time_interval": { field: value.clone() }}));
            let _ = parse_time_frame(&json!({"time_interval": { field: value.clone(), "start_date_time": "2024-05-02T15:30:00Z" }}));
            let _ = parse_time_frame(&json!({"time_interval": { field: value.clone(), "end_date_time": "2024-05-02T15:30:00Z" }}));
        }
    }

    #[test]
    fn mutated_golden_payloads_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), edit()), 1..6),
        damage in damage(),
    ) {
        let documents = golden_documents();
        let mut document = which.get(&documents).clone();
        for (selector, edit) in &edits {
            apply(&mut document, *selector, edit);
        }
        if let Some(body) = document.get("body").and_then(Value::as_object) {
            read_everything(body);
        }
        let bytes = damaged(document.to_string(), &damage);
        let _ = parse_document(&bytes);
        decode_everything(&encode(&bytes));
    }
}

/// Hand-picked extremes the strategies above reach only by luck.
#[test]
fn extreme_time_frames_never_panic() {
    let start = "2024-05-02T15:30:00Z";
    for value in NUMBERS.iter().flat_map(|f| [*f, -*f]) {
        for unit in ["ps", "us", "sec", "h", "wk", "Mo", "yr"] {
            let duration = json!({"value": value, "unit": unit});
            let _ = parse_duration(&duration);
            let _ = parse_time_frame(&json!({"time_interval": {"start_date_time": start, "duration": duration}}));
            let _ = parse_time_frame(&json!({"time_interval": {"end_date_time": start, "duration": duration}}));
        }
    }
    for text in STRINGS {
        let _ = parse_time_frame(&json!({"time_interval": {"start_date_time": text, "end_date_time": start}}));
        let _ = parse_time_frame(&json!({"full_date": text}));
    }
}

/// The mutation machinery does what it says (so the property above tests what it claims).
#[test]
fn mutations_reach_every_node() {
    let mut doc = json!({"body": {"a": {"value": 1, "unit": "x"}, "b": [1, 2]}});
    let index = |doc: &Value, want: &str| {
        let mut all = Vec::new();
        paths(doc, &mut Vec::new(), &mut all);
        let shown = |p: &Vec<Seg>| p.iter().map(|s| match s { Seg::Key(k) => k.clone(), Seg::Index(i) => i.to_string() }).collect::<Vec<_>>().join("/");
        (all.iter().position(|p| shown(p) == want).unwrap(), all.len())
    };
    assert_eq!(index(&doc, "").1, 8);
    let at = index(&doc, "body/a/value").0;
    apply(&mut doc, at, &Edit::Retype);
    assert_eq!(doc["body"]["a"]["value"], json!("1"));
    let at = index(&doc, "body/b/1").0;
    apply(&mut doc, at, &Edit::Delete);
    assert_eq!(doc["body"]["b"], json!([1]));
    let at = index(&doc, "body/a").0;
    apply(&mut doc, at, &Edit::Delete);
    assert!(doc["body"].get("a").is_none());
    let at = index(&doc, "body").0;
    apply(&mut doc, at, &Edit::Nest(3, false));
    assert_eq!(doc["body"]["value"]["value"]["value"]["b"], json!([1]));
    let at = index(&doc, "body/value/value/value/b").0;
    apply(&mut doc, at, &Edit::Insert("k".into(), json!(null)));
    assert_eq!(doc["body"]["value"]["value"]["value"]["b"], json!([1, null]));
    assert!(golden_documents().len() >= 20);
}
