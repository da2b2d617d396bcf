//! The real payloads, one per code the sample file has one for.

use std::borrow::Cow;
use super::*;

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
            ("heart_rate_statistic", Text(Cow::Borrowed("average"))),
            ("heart_rate_sleep_context", Text(Cow::Borrowed("during sleep"))),
        ],
    );
    case(
        "omh:physical-activity:1.2",
        &[
            ("activity_name", Text(Cow::Borrowed("Total Daily Physical Activity"))),
            ("distance_m", q(5112.3, "m", 5112.3)),
            ("kcal_burned", q(558.1, "kcal", 558.1)),
            ("reported_activity_intensity", Text(Cow::Borrowed("moderate"))),
        ],
    );
    case(
        "omh:step-count:3.0",
        &[("steps", Count(7411)), ("steps_statistic", Text(Cow::Borrowed("sum"))), ("steps_statistic_denominator", Text(Cow::Borrowed("d")))],
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
        &[("respiratory_rate_per_min", q(13.9, "breaths/min", 13.9)), ("respiratory_rate_statistic", Text(Cow::Borrowed("average")))],
    );
    case(
        "omh:oxygen-saturation:2.0",
        &[
            ("spo2_pct", q(97.3, "%", 97.3)),
            ("spo2_system", Text(Cow::Borrowed("peripheral capillary"))),
            ("spo2_measurement_method", Text(Cow::Borrowed("pulse oximetry"))),
            ("spo2_statistic", Text(Cow::Borrowed("average"))),
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
