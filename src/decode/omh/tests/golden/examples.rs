//! The schemas' own example data points, every one of them.

use std::borrow::Cow;
use std::path::Path;

use super::*;

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
        &[("body_temperature_c", q(97.0, "F", 36.111111111111)), ("body_temperature_measurement_location", Text(Cow::Borrowed("forehead")))],
    );
    case("omh_heart-rate_2-0.json", "omh:heart-rate:2.0", &[("heart_rate_bpm", q(67.5, "beats/min", 67.5))]);
    case("omh_oxygen-saturation_2-0.json", "omh:oxygen-saturation:2.0", &[("spo2_pct", q(95.0, "%", 95.0))]);
    case("omh_respiratory-rate_2-0.json", "omh:respiratory-rate:2.0", &[("respiratory_rate_per_min", q(12.0, "breaths/min", 12.0))]);
    case("omh_rr-interval_1-0.json", "omh:rr-interval:1.0", &[("rr_interval_ms", q(30.0, "ms", 30.0))]);
    assert!(files.is_empty(), "example data points without a golden test: {files:?}");
}
