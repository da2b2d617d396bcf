//! Hand-written payloads: every measure of every code, in units other than the canonical
//! one where the schema allows them, for the codes and properties the real payloads and
//! examples leave out. Grouped by what they measure; one test checks them all and that
//! together they cover every measure.

use std::borrow::Cow;
use super::*;

/// Checks one hand-written body of a code against the values expected of it.
type Case<'c> = dyn FnMut(&'static str, Value, &[(&'static str, MeasureValue<'static>)]) + 'c;

/// Blood glucose, blood pressure and heart rate.
fn glucose_pressure_and_heart_rate(case: &mut Case<'_>) {
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
            ("specimen_source", Text(Cow::Borrowed("capillary blood"))),
            ("meal_context", Text(Cow::Borrowed("before breakfast"))),
            ("glucose_sleep_context", Text(Cow::Borrowed("on waking"))),
            ("glucose_statistic", Text(Cow::Borrowed("minimum"))),
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
            ("body_posture", Text(Cow::Borrowed("sitting"))),
            ("bp_measurement_location", Text(Cow::Borrowed("left upper arm"))),
            ("bp_statistic", Text(Cow::Borrowed("average"))),
            ("bp_activity_context", Text(Cow::Borrowed("at rest"))),
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
            ("heart_rate_activity_context", Text(Cow::Borrowed("during exercise"))),
            ("heart_rate_sleep_context", Text(Cow::Borrowed("before sleeping"))),
            ("heart_rate_statistic", Text(Cow::Borrowed("maximum"))),
        ],
    );
}

/// Body temperature, oxygen saturation, respiratory rate and RR intervals.
fn temperature_oxygen_and_breathing(case: &mut Case<'_>) {
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
            ("body_temperature_measurement_location", Text(Cow::Borrowed("tympanic"))),
            ("body_temperature_sleep_context", Text(Cow::Borrowed("on waking"))),
            ("body_temperature_statistic", Text(Cow::Borrowed("median"))),
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
            ("spo2_system", Text(Cow::Borrowed("peripheral capillary"))),
            ("spo2_measurement_method", Text(Cow::Borrowed("pulse oximetry"))),
            ("supplemental_oxygen_l_min", q(2.5, "L/min", 2.5)),
            ("oxygen_therapy_mode", Text(Cow::Borrowed("nasal cannula"))),
            ("spo2_statistic", Text(Cow::Borrowed("minimum"))),
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
            ("respiratory_rate_activity_context", Text(Cow::Borrowed("at rest"))),
            ("respiratory_rate_statistic", Text(Cow::Borrowed("median"))),
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
            ("rr_interval_activity_context", Text(Cow::Borrowed("at rest"))),
            ("rr_interval_statistic", Text(Cow::Borrowed("average"))),
        ],
    );
}

/// Body weight and lung volumes.
fn weight_and_lung_volumes(case: &mut Case<'_>) {
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
        &[("body_weight_kg", q(72.4, "kg", 72.4)), ("body_weight_statistic", Text(Cow::Borrowed("average")))],
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
            ("fvc_quality", Text(Cow::Borrowed("acceptable"))),
            ("fvc_statistic", Text(Cow::Borrowed("maximum"))),
            ("fvc_activity_context", Text(Cow::Borrowed("at rest"))),
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
            ("fev1_quality", Text(Cow::Borrowed("usable"))),
            ("fev1_statistic", Text(Cow::Borrowed("maximum"))),
            ("fev1_activity_context", Text(Cow::Borrowed("after exercise"))),
        ],
    );
}

/// Physical activity and steps.
fn activity(case: &mut Case<'_>) {
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
            ("activity_name", Text(Cow::Borrowed("running"))),
            ("distance_m", q(3.1, "mi", 4988.9664)),
            ("kcal_burned", q(410.0, "kcal", 410.0)),
            ("reported_activity_intensity", Text(Cow::Borrowed("vigorous"))),
            ("met_value", Number(9.8)),
        ],
    );
    case(
        "omh:physical-activity:1.2",
        // Only the activity name is required, not even a time frame.
        json!({"activity_name": "yoga", "distance": {"value": 250, "unit": "yd"}}),
        &[("activity_name", Text(Cow::Borrowed("yoga"))), ("distance_m", q(250.0, "yd", 228.6))],
    );
    case(
        "omh:step-count:3.0",
        json!({
            "step_count": {"value": 52000, "unit": "steps"},
            "descriptive_statistic": "sum",
            "descriptive_statistic_denominator": "wk",
            "effective_time_frame": {"time_interval": {"start_date_time": "2025-02-24T00:00:00Z", "duration": {"value": 1, "unit": "wk"}}}
        }),
        &[("steps", Count(52000)), ("steps_statistic", Text(Cow::Borrowed("sum"))), ("steps_statistic_denominator", Text(Cow::Borrowed("wk")))],
    );
}

/// Sleep episodes and sleep durations.
fn sleep_episodes_and_durations(case: &mut Case<'_>) {
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
            ("sleep_duration_statistic", Text(Cow::Borrowed("average"))),
            ("sleep_duration_statistic_denominator", Text(Cow::Borrowed("d"))),
        ],
    );
    case(
        "omh:sleep-duration:2.0",
        json!({"sleep_duration": {"value": 415, "unit": "min"}, "effective_time_frame": night()}),
        &[("sleep_duration_s", q(415.0, "min", 24900.0))],
    );
}

/// Sleep stage summaries.
fn sleep_stages(case: &mut Case<'_>) {
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
            ("sleep_stage_statistic", Text(Cow::Borrowed("average"))),
            ("sleep_stage_statistic_denominator", Text(Cow::Borrowed("episode"))),
            ("is_main_sleep", Bool(true)),
        ],
    );
}

/// Food entries.
fn food(case: &mut Case<'_>) {
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
            ("food_name", Text(Cow::Borrowed("oatmeal with milk"))),
            ("food_amount", Amount { value: 1.5, unit: Some(Cow::Borrowed("Cup")) }),
            ("meal", Text(Cow::Borrowed("breakfast"))),
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
        &[("food_name", Text(Cow::Borrowed("apple"))), ("food_amount", Amount { value: 2.0, unit: None }), ("meal", Text(Cow::Borrowed("snack")))],
    );
    case(
        "ieee:food-entry:0.1",
        json!({"food_name": "rice", "food_amount": {"value": 180, "unit": "g"}, "effective_time_frame": at("2025-03-02T19:00:00Z")}),
        &[("food_name", Text(Cow::Borrowed("rice"))), ("food_amount", Amount { value: 180.0, unit: Some(Cow::Borrowed("g")) })],
    );
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
    glucose_pressure_and_heart_rate(&mut case);
    temperature_oxygen_and_breathing(&mut case);
    weight_and_lung_volumes(&mut case);
    activity(&mut case);
    sleep_episodes_and_durations(&mut case);
    sleep_stages(&mut case);
    food(&mut case);

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
