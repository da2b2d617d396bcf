//! Golden tests: real payloads (`tests/reference/samples/omh_payloads_by_code.json`), the
//! schemas' example data points, and hand-written payloads for what those leave out, each
//! read with every measure of its code and compared with values written out by hand.
//! Every payload is first validated against its schema, so the expectations are about
//! valid data.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::schema::{CODES, body_validator};
use crate::decode::omh::catalog::{CodeSpec, MeasureValue, lookup};
use crate::decode::omh::time::parse_time_frame;
use crate::decode::omh::{decode_base64, parse_document};

use MeasureValue::{Amount, Bool, Count, Missing, Number, Quantity, Text};

fn reference(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference").join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Equal, with floats equal to 1e-9 relative (for converted units).
fn same(got: &MeasureValue, want: &MeasureValue) -> bool {
    match (got, want) {
        (Quantity { value: a, unit: u, canonical: c }, Quantity { value: b, unit: v, canonical: d }) => {
            close(*a, *b)
                && u == v
                && match (c, d) {
                    (Some(c), Some(d)) => close(*c, *d),
                    (c, d) => c == d,
                }
        }
        (Amount { value: a, unit: u }, Amount { value: b, unit: v }) => close(*a, *b) && u == v,
        (Number(a), Number(b)) => close(*a, *b),
        _ => got == want,
    }
}

fn spec(code: &str) -> &'static CodeSpec {
    lookup(code).unwrap_or_else(|| panic!("{code} is not in the catalogue"))
}

/// Reads every measure of `code` from `body`: each column in `expected` has that value, every
/// other column is missing, and no problem is reported. The body must be schema-valid and its
/// time frame readable.
fn check(code: &str, source: &str, body: &Value, expected: &[(&str, MeasureValue<'static>)]) {
    let spec = spec(code);
    if let Err(e) = body_validator(code).validate(body) {
        panic!("{code} {source}: the payload is not valid for its schema: {e}\n{body}");
    }
    let body: &Map<String, Value> = body.as_object().unwrap();
    for (column, _) in expected {
        assert!(spec.measures.iter().any(|m| m.column == *column), "{code} {source}: no column {column}");
    }
    for measure in spec.measures {
        let reading = measure.read(body);
        assert_eq!(reading.problem, None, "{code} {source}: {}", measure.column);
        let want = expected.iter().find(|(c, _)| *c == measure.column).map_or(&Missing, |(_, v)| v);
        assert!(same(&reading.value, want), "{code} {source}: {} is {:?}, expected {want:?}", measure.column, reading.value);
    }
    if let Some(frame) = body.get("effective_time_frame") {
        parse_time_frame(frame).unwrap_or_else(|e| panic!("{code} {source}: {e}"));
    }
}

/// A whole data point, through base64 and the document parser, then `check`ed.
fn check_document(code: &str, source: &str, document: &Value, expected: &[(&str, MeasureValue<'static>)]) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let mut bytes = Vec::new();
    decode_base64(&encoded, &mut bytes).unwrap();
    let parsed = parse_document(&bytes).unwrap_or_else(|e| panic!("{code} {source}: {e}"));
    let schema_id = &document["header"]["schema_id"];
    let header_code = format!("{}:{}:{}", schema_id["namespace"].as_str().unwrap(), schema_id["name"].as_str().unwrap(), schema_id["version"].as_str().unwrap());
    assert_eq!(header_code, code, "{source}: the header names another code");
    assert_eq!(parsed.header.uuid.as_deref(), document["header"]["uuid"].as_str());
    check(code, source, &Value::Object(parsed.body.unwrap()), expected);
}

const fn q(value: f64, unit: &'static str, canonical: f64) -> MeasureValue<'static> {
    Quantity { value, unit, canonical: Some(canonical) }
}

#[test]
fn real_payloads() {
    let samples = reference("samples/omh_payloads_by_code.json");
    let mut seen = Vec::new();
    let mut case = |code: &str, expected: &[(&str, MeasureValue<'static>)]| {
        let document = &samples[code]["omh"];
        assert!(document.is_object(), "no sample payload for {code}");
        check_document(code, "real payload", document, expected);
        seen.push(code.to_string());
    };
    case("omh:blood-glucose:4.0", &[("glucose_mg_dl", q(113.0, "mg/dL", 113.0))]);
    case("omh:blood-pressure:4.0", &[("systolic_mmhg", q(121.0, "mmHg", 121.0)), ("diastolic_mmhg", q(79.0, "mmHg", 79.0))]);
    case(
        "omh:heart-rate:2.0",
        &[
            ("heart_rate_bpm", q(61.3, "beats/min", 61.3)),
            ("heart_rate_statistic", Text("average")),
            ("heart_rate_sleep_context", Text("during sleep")),
        ],
    );
    case(
        "omh:physical-activity:1.2",
        &[
            ("activity_name", Text("Total Daily Physical Activity")),
            ("distance_m", q(5112.3, "m", 5112.3)),
            ("kcal_burned", q(558.1, "kcal", 558.1)),
            ("reported_activity_intensity", Text("moderate")),
        ],
    );
    case(
        "omh:step-count:3.0",
        &[("steps", Count(7411)), ("steps_statistic", Text("sum")), ("steps_statistic_denominator", Text("d"))],
    );
    case(
        "ieee:sleep-stage-summary:1.0",
        &[
            ("is_main_sleep", Bool(true)),
            ("total_sleep_time_s", q(22984.0, "sec", 22984.0)),
            ("rem_sleep_duration_s", q(4695.0, "sec", 4695.0)),
            ("deep_sleep_duration_s", q(4350.0, "sec", 4350.0)),
            ("light_sleep_duration_s", q(13939.0, "sec", 13939.0)),
            ("sleep_efficiency_percentage", q(86.1, "%", 86.1)),
        ],
    );
    case(
        "omh:sleep-episode:1.1",
        &[
            ("sleep_episode_is_main_sleep", Bool(true)),
            ("sleep_episode_total_sleep_time_s", q(22984.0, "sec", 22984.0)),
            ("sleep_episode_latency_to_sleep_onset_s", q(1465.0, "sec", 1465.0)),
            ("wake_after_sleep_onset_s", q(2252.0, "sec", 2252.0)),
            ("sleep_maintenance_efficiency_percentage", q(86.1, "%", 86.1)),
        ],
    );
    case("omh:sleep-duration:2.0", &[("sleep_duration_s", q(22984.0, "sec", 22984.0))]);
    case(
        "omh:respiratory-rate:2.0",
        &[("respiratory_rate_per_min", q(13.9, "breaths/min", 13.9)), ("respiratory_rate_statistic", Text("average"))],
    );
    case(
        "omh:oxygen-saturation:2.0",
        &[
            ("spo2_pct", q(97.3, "%", 97.3)),
            ("spo2_system", Text("peripheral capillary")),
            ("spo2_measurement_method", Text("pulse oximetry")),
            ("spo2_statistic", Text("average")),
        ],
    );
    // Every code the sample file has a payload for is covered above.
    let with_payload: Vec<String> = samples
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("omh").is_some())
        .map(|(k, _)| k.clone())
        .collect();
    seen.sort();
    let mut with_payload = with_payload;
    with_payload.sort();
    assert_eq!(seen, with_payload);
}

#[test]
fn schema_example_data_points() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/omh-schemas/omh/examples/data-points");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut case = |file: &str, code: &str, expected: &[(&str, MeasureValue<'static>)]| {
        let document = reference(&format!("omh-schemas/omh/examples/data-points/{file}"));
        check_document(code, file, &document, expected);
        files.retain(|f| f != file);
    };
    case("omh_blood-glucose_4-0.json", "omh:blood-glucose:4.0", &[("glucose_mg_dl", q(129.0, "mg/dL", 129.0))]);
    case(
        "omh_blood-pressure_4-0.json",
        "omh:blood-pressure:4.0",
        &[("systolic_mmhg", q(115.0, "mmHg", 115.0)), ("diastolic_mmhg", q(60.0, "mmHg", 60.0))],
    );
    case(
        "omh_body-temperature_4-0.json",
        "omh:body-temperature:4.0",
        // (97 - 32) * 5 / 9
        &[("body_temperature_c", q(97.0, "F", 36.111111111111)), ("body_temperature_measurement_location", Text("forehead"))],
    );
    case("omh_heart-rate_2-0.json", "omh:heart-rate:2.0", &[("heart_rate_bpm", q(67.5, "beats/min", 67.5))]);
    case("omh_oxygen-saturation_2-0.json", "omh:oxygen-saturation:2.0", &[("spo2_pct", q(95.0, "%", 95.0))]);
    case("omh_respiratory-rate_2-0.json", "omh:respiratory-rate:2.0", &[("respiratory_rate_per_min", q(12.0, "breaths/min", 12.0))]);
    case("omh_rr-interval_1-0.json", "omh:rr-interval:1.0", &[("rr_interval_ms", q(30.0, "ms", 30.0))]);
    assert!(files.is_empty(), "example data points without a golden test: {files:?}");
}

fn at(date_time: &str) -> Value {
    json!({"date_time": date_time})
}

fn night() -> Value {
    json!({"time_interval": {"start_date_time": "2025-03-01T23:10:00-05:00", "end_date_time": "2025-03-02T06:40:00-05:00"}})
}

/// Every measure of every code, in units other than the canonical one where the schema
/// allows them, for the codes and properties the real payloads and examples leave out.
#[test]
fn hand_written_payloads_cover_every_measure() {
    let mut covered: Vec<(&str, &str)> = Vec::new();
    let mut case = |code: &'static str, body: Value, expected: &[(&'static str, MeasureValue<'static>)]| {
        check(code, &format!("hand-written {body}"), &body, expected);
        covered.extend(expected.iter().filter(|(_, v)| *v != Missing).map(|(c, _)| (code, *c)));
    };

    case(
        "omh:blood-glucose:4.0",
        json!({
            "blood_glucose": {"value": 6.1, "unit": "mmol/L"},
            "specimen_source": "capillary blood",
            "temporal_relationship_to_meal": "before breakfast",
            "temporal_relationship_to_sleep": "on waking",
            "descriptive_statistic": "minimum",
            "effective_time_frame": at("2025-03-02T07:05:00-05:00")
        }),
        &[
            ("glucose_mg_dl", q(6.1, "mmol/L", 109.89516)),
            ("specimen_source", Text("capillary blood")),
            ("meal_context", Text("before breakfast")),
            ("glucose_sleep_context", Text("on waking")),
            ("glucose_statistic", Text("minimum")),
        ],
    );
    case(
        "omh:blood-pressure:4.0",
        json!({
            "systolic_blood_pressure": {"value": 132.5, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 84, "unit": "mmHg"},
            "body_posture": "sitting",
            "measurement_location": "left upper arm",
            "descriptive_statistic": "average",
            "temporal_relationship_to_physical_activity": "at rest",
            "effective_time_frame": {"time_interval": {"start_date_time": "2025-03-02T08:00:00Z", "duration": {"value": 10, "unit": "min"}}}
        }),
        &[
            ("systolic_mmhg", q(132.5, "mmHg", 132.5)),
            ("diastolic_mmhg", q(84.0, "mmHg", 84.0)),
            ("body_posture", Text("sitting")),
            ("bp_measurement_location", Text("left upper arm")),
            ("bp_statistic", Text("average")),
            ("bp_activity_context", Text("at rest")),
        ],
    );
    case(
        "omh:heart-rate:2.0",
        json!({
            "heart_rate": {"value": 141, "unit": "beats/min"},
            "temporal_relationship_to_physical_activity": "during exercise",
            "temporal_relationship_to_sleep": "before sleeping",
            "descriptive_statistic": "maximum",
            "effective_time_frame": {"time_interval": {"end_date_time": "2025-03-02T18:30:00+01:00", "duration": {"value": 1, "unit": "h"}}}
        }),
        &[
            ("heart_rate_bpm", q(141.0, "beats/min", 141.0)),
            ("heart_rate_activity_context", Text("during exercise")),
            ("heart_rate_sleep_context", Text("before sleeping")),
            ("heart_rate_statistic", Text("maximum")),
        ],
    );
    case(
        "omh:body-temperature:4.0",
        json!({
            "body_temperature": {"value": 310.15, "unit": "K"},
            "measurement_location": "tympanic",
            "temporal_relationship_to_sleep": "on waking",
            "descriptive_statistic": "median",
            "effective_time_frame": at("2025-03-02T06:45:00+09:00")
        }),
        &[
            ("body_temperature_c", q(310.15, "K", 37.0)),
            ("body_temperature_measurement_location", Text("tympanic")),
            ("body_temperature_sleep_context", Text("on waking")),
            ("body_temperature_statistic", Text("median")),
        ],
    );
    case(
        "omh:body-temperature:4.0",
        json!({"body_temperature": {"value": 98.6, "unit": "F"}, "effective_time_frame": at("2025-03-02T06:45:00Z")}),
        &[("body_temperature_c", q(98.6, "F", 37.0))],
    );
    case(
        "omh:body-temperature:4.0",
        json!({"body_temperature": {"value": 36.6, "unit": "C"}, "effective_time_frame": at("2025-03-02T06:45:00Z")}),
        &[("body_temperature_c", q(36.6, "C", 36.6))],
    );
    case(
        "omh:oxygen-saturation:2.0",
        json!({
            "oxygen_saturation": {"value": 93, "unit": "%"},
            "system": "peripheral capillary",
            "measurement_method": "pulse oximetry",
            "supplemental_oxygen_flow_rate": {"value": 2.5, "unit": "L/min"},
            "oxygen_therapy_mode_of_administration": "nasal cannula",
            "descriptive_statistic": "minimum",
            "effective_time_frame": night()
        }),
        &[
            ("spo2_pct", q(93.0, "%", 93.0)),
            ("spo2_system", Text("peripheral capillary")),
            ("spo2_measurement_method", Text("pulse oximetry")),
            ("supplemental_oxygen_l_min", q(2.5, "L/min", 2.5)),
            ("oxygen_therapy_mode", Text("nasal cannula")),
            ("spo2_statistic", Text("minimum")),
        ],
    );
    case(
        "omh:respiratory-rate:2.0",
        json!({
            "respiratory_rate": {"value": 16, "unit": "breaths/min"},
            "temporal_relationship_to_physical_activity": "at rest",
            "descriptive_statistic": "median",
            "effective_time_frame": {"time_interval": {"date": "2025-03-02", "part_of_day": "night"}}
        }),
        &[
            ("respiratory_rate_per_min", q(16.0, "breaths/min", 16.0)),
            ("respiratory_rate_activity_context", Text("at rest")),
            ("respiratory_rate_statistic", Text("median")),
        ],
    );
    case(
        "omh:rr-interval:1.0",
        // rr-interval does not require a time frame.
        json!({
            "rr_interval": {"value": 812.5, "unit": "ms"},
            "temporal_relationship_to_physical_activity": "at rest",
            "descriptive_statistic": "average"
        }),
        &[
            ("rr_interval_ms", q(812.5, "ms", 812.5)),
            ("rr_interval_activity_context", Text("at rest")),
            ("rr_interval_statistic", Text("average")),
        ],
    );
    case(
        "omh:body-weight:3.0",
        json!({"body_weight": {"value": 154, "unit": "lb"}, "effective_time_frame": at("2025-03-02T07:00:00-08:00")}),
        &[("body_weight_kg", q(154.0, "lb", 69.85322498))],
    );
    case(
        "omh:body-weight:3.0",
        json!({
            "body_weight": {"value": 72.4, "unit": "kg"},
            "descriptive_statistic": "average",
            "effective_time_frame": {"time_interval": {"start_date_time": "2025-03-02T06:00:00Z", "end_date_time": "2025-03-02T06:01:00Z"}}
        }),
        &[("body_weight_kg", q(72.4, "kg", 72.4)), ("body_weight_statistic", Text("average"))],
    );
    case(
        "omh:body-weight:3.0",
        json!({"body_weight": {"value": 3250, "unit": "g"}, "effective_time_frame": at("2025-03-02T07:00:00Z")}),
        &[("body_weight_kg", q(3250.0, "g", 3.25))],
    );
    case(
        "omh:body-weight:3.0",
        json!({"body_weight": {"value": 120, "unit": "oz"}, "effective_time_frame": at("2025-03-02T07:00:00Z")}),
        &[("body_weight_kg", q(120.0, "oz", 3.40194277500))],
    );
    case(
        "omh:forced-vital-capacity:1.0",
        json!({
            "forced_vital_capacity": {"value": 4.35, "unit": "L"},
            "measurement_quality": "acceptable",
            "descriptive_statistic": "maximum",
            "temporal_relationship_to_physical_activity": "at rest",
            "effective_time_frame": at("2025-03-02T10:00:00Z")
        }),
        &[
            ("fvc_l", q(4.35, "L", 4.35)),
            ("fvc_quality", Text("acceptable")),
            ("fvc_statistic", Text("maximum")),
            ("fvc_activity_context", Text("at rest")),
        ],
    );
    case(
        "omh:forced-expiratory-volume-1-second:1.0",
        json!({
            "forced_expiratory_volume_1_second": {"value": 3.2, "unit": "L"},
            "measurement_quality": "usable",
            "descriptive_statistic": "maximum",
            "temporal_relationship_to_physical_activity": "after exercise",
            "effective_time_frame": at("2025-03-02T10:00:00Z")
        }),
        &[
            ("fev1_l", q(3.2, "L", 3.2)),
            ("fev1_quality", Text("usable")),
            ("fev1_statistic", Text("maximum")),
            ("fev1_activity_context", Text("after exercise")),
        ],
    );
    case(
        "omh:physical-activity:1.2",
        json!({
            "activity_name": "running",
            "distance": {"value": 3.1, "unit": "mi"},
            "kcal_burned": {"value": 410, "unit": "kcal"},
            "reported_activity_intensity": "vigorous",
            "met_value": 9.8,
            "effective_time_frame": {"time_interval": {"start_date_time": "2025-03-02T07:00:00Z", "duration": {"value": 32, "unit": "min"}}}
        }),
        &[
            ("activity_name", Text("running")),
            ("distance_m", q(3.1, "mi", 4988.9664)),
            ("kcal_burned", q(410.0, "kcal", 410.0)),
            ("reported_activity_intensity", Text("vigorous")),
            ("met_value", Number(9.8)),
        ],
    );
    case(
        "omh:physical-activity:1.2",
        // Only the activity name is required, not even a time frame.
        json!({"activity_name": "yoga", "distance": {"value": 250, "unit": "yd"}}),
        &[("activity_name", Text("yoga")), ("distance_m", q(250.0, "yd", 228.6))],
    );
    case(
        "omh:step-count:3.0",
        json!({
            "step_count": {"value": 52000, "unit": "steps"},
            "descriptive_statistic": "sum",
            "descriptive_statistic_denominator": "wk",
            "effective_time_frame": {"time_interval": {"start_date_time": "2025-02-24T00:00:00Z", "duration": {"value": 1, "unit": "wk"}}}
        }),
        &[("steps", Count(52000)), ("steps_statistic", Text("sum")), ("steps_statistic_denominator", Text("wk"))],
    );
    case(
        "omh:sleep-episode:1.1",
        // Only the time frame is required.
        json!({"effective_time_frame": night()}),
        &[],
    );
    case(
        "omh:sleep-episode:1.1",
        json!({
            "latency_to_sleep_onset": {"value": 12, "unit": "min"},
            "latency_to_arising": {"value": 5, "unit": "min"},
            "total_sleep_time": {"value": 6.5, "unit": "h"},
            "wake_after_sleep_onset": {"value": 1800000, "unit": "ms"},
            "number_of_awakenings": 3,
            "is_main_sleep": false,
            "sleep_maintenance_efficiency_percentage": {"value": 91.5, "unit": "%"},
            "effective_time_frame": night()
        }),
        &[
            ("sleep_episode_latency_to_sleep_onset_s", q(12.0, "min", 720.0)),
            ("sleep_episode_latency_to_arising_s", q(5.0, "min", 300.0)),
            ("sleep_episode_total_sleep_time_s", q(6.5, "h", 23400.0)),
            ("wake_after_sleep_onset_s", q(1_800_000.0, "ms", 1800.0)),
            ("sleep_episode_number_of_awakenings", Count(3)),
            ("sleep_episode_is_main_sleep", Bool(false)),
            ("sleep_maintenance_efficiency_percentage", q(91.5, "%", 91.5)),
        ],
    );
    case(
        "omh:sleep-duration:2.0",
        json!({
            "sleep_duration": {"value": 7.25, "unit": "h"},
            "descriptive_statistic": "average",
            "descriptive_statistic_denominator": "d",
            "effective_time_frame": {"time_interval": {"end_date_time": "2025-03-02T00:00:00Z", "duration": {"value": 1, "unit": "wk"}}}
        }),
        &[
            ("sleep_duration_s", q(7.25, "h", 26100.0)),
            ("sleep_duration_statistic", Text("average")),
            ("sleep_duration_statistic_denominator", Text("d")),
        ],
    );
    case(
        "omh:sleep-duration:2.0",
        json!({"sleep_duration": {"value": 415, "unit": "min"}, "effective_time_frame": night()}),
        &[("sleep_duration_s", q(415.0, "min", 24900.0))],
    );
    case(
        "ieee:sleep-stage-summary:1.0",
        json!({
            "sleep_stage_summary": {
                "total_sleep_time": {"value": 402, "unit": "min"},
                "sleep_efficiency_percentage": {"value": 89.3, "unit": "%"},
                "latency_to_sleep_onset": {"value": 14, "unit": "min"},
                "latency_to_arising": {"value": 240, "unit": "sec"},
                "rem_sleep_duration": {"value": 1.5, "unit": "h"},
                "rem_sleep_episode_count": 4,
                "rem_sleep_percentage": {"value": 22.4, "unit": "%"},
                "light_sleep_duration": {"value": 232, "unit": "min"},
                "light_sleep_episode_count": 11,
                "light_sleep_percentage": {"value": 57.7, "unit": "%"},
                "deep_sleep_duration": {"value": 4800, "unit": "sec"},
                "deep_sleep_episode_count": 3,
                "deep_sleep_percentage": {"value": 19.9, "unit": "%"},
                "awake_duration": {"value": 28, "unit": "min"},
                "number_of_awakenings": 6,
                "awake_percentage": {"value": 6.5, "unit": "%"},
                "descriptive_statistic": "average",
                "descriptive_statistic_denominator": "episode"
            },
            "sleep_stage_episodes": [
                {"sleep_stage_state": "Light_sleep", "sleep_stage_time_frame": {"time_interval": {"start_date_time": "2025-03-01T23:24:00-05:00", "duration": {"value": 40, "unit": "min"}}}}
            ],
            "is_main_sleep": true,
            "effective_time_frame": night()
        }),
        &[
            ("total_sleep_time_s", q(402.0, "min", 24120.0)),
            ("sleep_efficiency_percentage", q(89.3, "%", 89.3)),
            ("latency_to_sleep_onset_s", q(14.0, "min", 840.0)),
            ("latency_to_arising_s", q(240.0, "sec", 240.0)),
            ("rem_sleep_duration_s", q(1.5, "h", 5400.0)),
            ("rem_sleep_episode_count", Count(4)),
            ("rem_sleep_percentage", q(22.4, "%", 22.4)),
            ("light_sleep_duration_s", q(232.0, "min", 13920.0)),
            ("light_sleep_episode_count", Count(11)),
            ("light_sleep_percentage", q(57.7, "%", 57.7)),
            ("deep_sleep_duration_s", q(4800.0, "sec", 4800.0)),
            ("deep_sleep_episode_count", Count(3)),
            ("deep_sleep_percentage", q(19.9, "%", 19.9)),
            ("awake_duration_s", q(28.0, "min", 1680.0)),
            ("number_of_awakenings", Count(6)),
            ("awake_percentage", q(6.5, "%", 6.5)),
            ("sleep_stage_statistic", Text("average")),
            ("sleep_stage_statistic_denominator", Text("episode")),
            ("is_main_sleep", Bool(true)),
        ],
    );
    case(
        "ieee:food-entry:0.1",
        json!({
            "food_name": "oatmeal with milk",
            "food_amount": {"value": 1.5, "unit": "Cup"},
            "meal": "breakfast",
            "calories": {"value": 307, "unit": "kcal"},
            "protein": {"value": 10.7, "unit": "g"},
            "carbohydrate": {"value": 54, "unit": "g"},
            "fat": {"value": 5300, "unit": "mg"},
            "saturated_fat": {"value": 1.1, "unit": "g"},
            "fiber": {"value": 0.25, "unit": "oz"},
            "sugar": {"value": 1, "unit": "g"},
            "cholesterol": {"value": 0.012, "unit": "g"},
            "sodium": {"value": 115, "unit": "mg"},
            "potassium": {"value": 286000, "unit": "ug"},
            "effective_time_frame": at("2025-03-02T07:30:00-05:00")
        }),
        &[
            ("food_name", Text("oatmeal with milk")),
            ("food_amount", Amount { value: 1.5, unit: Some("Cup") }),
            ("meal", Text("breakfast")),
            ("calories_kcal", q(307.0, "kcal", 307.0)),
            ("protein_g", q(10.7, "g", 10.7)),
            ("carbohydrate_g", q(54.0, "g", 54.0)),
            ("fat_g", q(5300.0, "mg", 5.3)),
            ("saturated_fat_g", q(1.1, "g", 1.1)),
            ("fiber_g", q(0.25, "oz", 7.08738078125)),
            ("sugar_g", q(1.0, "g", 1.0)),
            ("cholesterol_mg", q(0.012, "g", 12.0)),
            ("sodium_mg", q(115.0, "mg", 115.0)),
            ("potassium_mg", q(286_000.0, "ug", 286.0)),
        ],
    );
    case(
        "ieee:food-entry:0.1",
        json!({"food_name": "apple", "food_amount": {"value": 2}, "meal": "snack", "effective_time_frame": at("2025-03-02T15:00:00Z")}),
        &[("food_name", Text("apple")), ("food_amount", Amount { value: 2.0, unit: None }), ("meal", Text("snack"))],
    );
    case(
        "ieee:food-entry:0.1",
        json!({"food_name": "rice", "food_amount": {"value": 180, "unit": "g"}, "effective_time_frame": at("2025-03-02T19:00:00Z")}),
        &[("food_name", Text("rice")), ("food_amount", Amount { value: 180.0, unit: Some("g") })],
    );

    let mut missing = Vec::new();
    for code in CODES {
        for m in spec(code).measures {
            if !covered.contains(&(code, m.column)) {
                missing.push(format!("{code} {}", m.column));
            }
        }
    }
    assert!(missing.is_empty(), "measures no hand-written payload has: {missing:?}");
}

/// One of each unit, read through the catalogue, against conversions written out by hand.
#[test]
fn unit_conversions() {
    let cases: &[(&str, &str, &str, f64, &str, f64)] = &[
        // code, column, key, value, unit, canonical
        ("omh:blood-glucose:4.0", "glucose_mg_dl", "blood_glucose", 5.5, "mmol/L", 99.0858),
        ("omh:body-temperature:4.0", "body_temperature_c", "body_temperature", 0.0, "K", -273.15),
        ("omh:body-temperature:4.0", "body_temperature_c", "body_temperature", 32.0, "F", 0.0),
        ("omh:body-temperature:4.0", "body_temperature_c", "body_temperature", 212.0, "F", 100.0),
        ("omh:body-temperature:4.0", "body_temperature_c", "body_temperature", -40.0, "F", -40.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 1.0, "lb", 0.45359237),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 1.0, "oz", 0.028349523125),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 7000.0, "gr", 0.45359237),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 1.0, "Ton", 907.18474),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 1.0, "Metric Ton", 1000.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 5.0e6, "mg", 5.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 2.0e9, "ug", 2.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 3.0e12, "ng", 3.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 4.0e15, "pg", 4.0),
        ("omh:body-weight:3.0", "body_weight_kg", "body_weight", 5.0e18, "fg", 5.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0, "mi", 1609.344),
        ("omh:physical-activity:1.2", "distance_m", "distance", 3.0, "ft", 0.9144),
        ("omh:physical-activity:1.2", "distance_m", "distance", 36.0, "in", 0.9144),
        ("omh:physical-activity:1.2", "distance_m", "distance", 42.195, "km", 42195.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 250.0, "cm", 2.5),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0e3, "mm", 1.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0e6, "um", 1.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0e9, "nm", 1.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0e12, "pm", 1.0),
        ("omh:physical-activity:1.2", "distance_m", "distance", 1.0e15, "fm", 1.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 1.0, "Mo", 2_629_746.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 1.0, "yr", 31_556_952.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 2.0, "wk", 1_209_600.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 1.5, "d", 129_600.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 2.0e6, "us", 2.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 3.0e9, "ns", 3.0),
        ("omh:sleep-episode:1.1", "sleep_episode_total_sleep_time_s", "total_sleep_time", 4.0e12, "ps", 4.0),
        ("ieee:food-entry:0.1", "protein_g", "protein", 1.0, "lb", 453.59237),
        ("ieee:food-entry:0.1", "protein_g", "protein", 1.0, "Ton", 907_184.74),
        ("ieee:food-entry:0.1", "protein_g", "protein", 1.0, "gr", 0.06479891),
        ("ieee:food-entry:0.1", "protein_g", "protein", 2.0, "kg", 2000.0),
        ("ieee:food-entry:0.1", "sodium_mg", "sodium", 1.0, "oz", 28_349.523125),
        ("ieee:food-entry:0.1", "sodium_mg", "sodium", 1.0, "Metric Ton", 1.0e9),
        ("ieee:food-entry:0.1", "sodium_mg", "sodium", 1.0, "gr", 64.79891),
        ("ieee:food-entry:0.1", "sodium_mg", "sodium", 1.0e12, "fg", 1.0),
    ];
    for &(code, column, key, value, unit, canonical) in cases {
        let measure = spec(code).measures.iter().find(|m| m.column == column).unwrap();
        let mut body = Map::new();
        body.insert(key.into(), json!({"value": value, "unit": unit}));
        let reading = measure.read(&body);
        assert_eq!(reading.problem, None, "{column} {value} {unit}");
        let want = q(value, unit, canonical);
        assert!(same(&reading.value, &want), "{column}: {value} {unit} read as {:?}, expected {canonical}", reading.value);
    }
}

/// Wrong data is reported, never guessed: a unit the schema does not allow, a missing
/// required value, a fractional step count, a string where a number belongs.
#[test]
fn invalid_values_are_problems() {
    let problem = |code: &str, column: &str, body: Value| -> String {
        let measure = spec(code).measures.iter().find(|m| m.column == column).unwrap();
        measure.read(body.as_object().unwrap()).problem.unwrap_or_else(|| panic!("{column}: no problem in {body}"))
    };
    assert!(problem("omh:sleep-duration:2.0", "sleep_duration_s", json!({"sleep_duration": {"value": 1, "unit": "d"}})).contains("unknown unit"));
    assert!(problem("omh:body-weight:3.0", "body_weight_kg", json!({"body_weight": {"value": 70, "unit": "MetricTon"}})).contains("unknown unit"));
    assert!(problem("omh:body-temperature:4.0", "body_temperature_c", json!({"body_temperature": {"value": 37, "unit": "°C"}})).contains("unknown unit"));
    assert!(problem("ieee:sleep-stage-summary:1.0", "total_sleep_time_s", json!({"sleep_stage_summary": {}})).contains("required"));
    assert!(problem("ieee:food-entry:0.1", "food_amount", json!({"food_name": "x"})).contains("required"));
    assert!(problem("omh:step-count:3.0", "steps", json!({"step_count": {"value": 10.5, "unit": "steps"}})).contains("whole number"));
    assert!(problem("omh:physical-activity:1.2", "met_value", json!({"met_value": "high"})).contains("not a number"));
    assert!(problem("omh:sleep-episode:1.1", "sleep_episode_is_main_sleep", json!({"is_main_sleep": 1})).contains("true or false"));
    assert!(problem("omh:sleep-episode:1.1", "sleep_episode_number_of_awakenings", json!({"number_of_awakenings": 2.5})).contains("whole number"));
    // An optional measure that is absent is no problem; sleep-episode requires nothing.
    for m in spec("omh:sleep-episode:1.1").measures {
        assert_eq!(m.read(&Map::new()).problem, None, "{}", m.column);
    }
}
