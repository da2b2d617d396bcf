//! Unit conversions written out by hand, and values the catalogue must report as problems.

use super::*;

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
        let reading = measure.read_json(&body);
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
        measure.read_json(body.as_object().unwrap()).problem.unwrap_or_else(|| panic!("{column}: no problem in {body}"))
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
        assert_eq!(m.read_json(&Map::new()).problem, None, "{}", m.column);
    }
}
