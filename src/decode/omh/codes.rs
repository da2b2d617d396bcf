//! The catalogue: every OMH and IEEE 1752 code the Exchange serves, with the typed columns
//! each one becomes. Checked against the JSON Schemas in `tests/reference/omh-schemas/`
//! (`tests/schema.rs`): every body property is a measure (but `effective_time_frame`,
//! decoded separately, and IEEE `sleep_stage_episodes`, an array), `required` is the
//! schema's, and each quantity lists exactly the units its schema allows.
//!
//! Qualifiers several codes share (`descriptive_statistic`, `temporal_relationship_to_*`,
//! `measurement_location`, ...) carry the code's stem (`glucose_statistic`,
//! `bp_activity_context`) so that every column name is unique across the catalogue.

use super::catalog::{CodeSpec, Measure, MeasureKind, UnitConversion, affine, unit};

/// mg/dL per mmol/L of glucose (molar mass 180.156 g/mol).
pub(crate) const GLUCOSE_MG_DL_PER_MMOL_L: f64 = 18.0156;

// Units: the canonical unit first (factor 1), then every other unit the schema allows, in
// the schema's order, with its exact factor to the canonical unit.

const GLUCOSE: &[UnitConversion] = &[unit("mg/dL", 1.0), unit("mmol/L", GLUCOSE_MG_DL_PER_MMOL_L)];
const MMHG: &[UnitConversion] = &[unit("mmHg", 1.0)];
const BEATS_PER_MIN: &[UnitConversion] = &[unit("beats/min", 1.0)];
const BREATHS_PER_MIN: &[UnitConversion] = &[unit("breaths/min", 1.0)];
const PERCENT: &[UnitConversion] = &[unit("%", 1.0)];
const LITRES_PER_MIN: &[UnitConversion] = &[unit("L/min", 1.0)];
const LITRES: &[UnitConversion] = &[unit("L", 1.0)];
const MILLISECONDS: &[UnitConversion] = &[unit("ms", 1.0)];
const KCAL: &[UnitConversion] = &[unit("kcal", 1.0)];

/// Temperature in degrees Celsius: K - 273.15, (F - 32) * 5/9.
const CELSIUS: &[UnitConversion] = &[
    affine("C", 1.0, 0.0),
    affine("K", 1.0, -273.15),
    affine("F", 5.0 / 9.0, -160.0 / 9.0),
];

/// Duration in seconds (`duration-unit-value`); months and years by their mean length
/// (365.2425 / 12 days and 365.2425 days).
const SECONDS: &[UnitConversion] = &[
    unit("sec", 1.0),
    unit("ps", 1e-12),
    unit("ns", 1e-9),
    unit("us", 1e-6),
    unit("ms", 1e-3),
    unit("min", 60.0),
    unit("h", 3_600.0),
    unit("d", 86_400.0),
    unit("wk", 604_800.0),
    unit("Mo", 2_629_746.0),
    unit("yr", 31_556_952.0),
];

/// `sleep-duration-2.0` narrows the duration units to seconds, minutes and hours.
const SLEEP_SECONDS: &[UnitConversion] = &[unit("sec", 1.0), unit("min", 60.0), unit("h", 3_600.0)];

/// Length in metres (`length-unit-value`): international inch, foot, yard and mile.
const METRES: &[UnitConversion] = &[
    unit("m", 1.0),
    unit("fm", 1e-15),
    unit("pm", 1e-12),
    unit("nm", 1e-9),
    unit("um", 1e-6),
    unit("mm", 1e-3),
    unit("cm", 1e-2),
    unit("km", 1e3),
    unit("in", 0.0254),
    unit("ft", 0.3048),
    unit("yd", 0.9144),
    unit("mi", 1_609.344),
];

// Mass (`mass-unit-value`): grain, avoirdupois ounce and pound, and `Ton` is the short ton
// (UCUM [ston_av], 2000 lb), as the schema's description says.

/// Mass in kilograms.
const KILOGRAMS: &[UnitConversion] = &[
    unit("kg", 1.0),
    unit("fg", 1e-18),
    unit("pg", 1e-15),
    unit("ng", 1e-12),
    unit("ug", 1e-9),
    unit("mg", 1e-6),
    unit("g", 1e-3),
    unit("Metric Ton", 1e3),
    unit("gr", 6.479891e-5),
    unit("oz", 0.028349523125),
    unit("lb", 0.45359237),
    unit("Ton", 907.18474),
];

/// Mass in grams (food: protein, carbohydrate, fat, ...).
const GRAMS: &[UnitConversion] = &[
    unit("g", 1.0),
    unit("fg", 1e-15),
    unit("pg", 1e-12),
    unit("ng", 1e-9),
    unit("ug", 1e-6),
    unit("mg", 1e-3),
    unit("kg", 1e3),
    unit("Metric Ton", 1e6),
    unit("gr", 0.06479891),
    unit("oz", 28.349523125),
    unit("lb", 453.59237),
    unit("Ton", 907_184.74),
];

/// Mass in milligrams (food: cholesterol, sodium, potassium, as nutrition labels give them).
const MILLIGRAMS: &[UnitConversion] = &[
    unit("mg", 1.0),
    unit("fg", 1e-12),
    unit("pg", 1e-9),
    unit("ng", 1e-6),
    unit("ug", 1e-3),
    unit("g", 1e3),
    unit("kg", 1e6),
    unit("Metric Ton", 1e9),
    unit("gr", 64.79891),
    unit("oz", 28_349.523125),
    unit("lb", 453_592.37),
    unit("Ton", 907_184_740.0),
];

// Constructors, so that each code's measures read as a list of columns.

pub(crate) type Path = &'static [&'static str];

pub(crate) const fn measure(column: &'static str, path: Path, kind: MeasureKind) -> Measure {
    Measure { column, path, kind, required: false }
}

/// A measure the schema requires.
pub(crate) const fn required(measure: Measure) -> Measure {
    Measure { required: true, ..measure }
}

/// `{value, unit}` in one allowed unit: the canonical column only.
pub(crate) const fn quantity(column: &'static str, path: Path, units: &'static [UnitConversion]) -> Measure {
    measure(column, path, MeasureKind::Quantity { units, stated: None })
}

/// `{value, unit}` in several allowed units: the canonical column, and the value and unit
/// as written in `{stem}_value` and `{stem}_unit`.
pub(crate) const fn stated(column: &'static str, path: Path, units: &'static [UnitConversion], stem: &'static str) -> Measure {
    measure(column, path, MeasureKind::Quantity { units, stated: Some(stem) })
}

pub(crate) const fn category(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Category)
}

pub(crate) const fn text(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Text)
}

pub(crate) const fn number(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Number)
}

/// A bare whole number.
pub(crate) const fn count(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Count { unit: None })
}

pub(crate) const fn boolean(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Boolean)
}

const fn amount(column: &'static str, path: Path) -> Measure {
    measure(column, path, MeasureKind::Amount)
}

const STATISTIC: Path = &["descriptive_statistic"];
const STATISTIC_DENOMINATOR: Path = &["descriptive_statistic_denominator"];
const SLEEP_CONTEXT: Path = &["temporal_relationship_to_sleep"];
const ACTIVITY_CONTEXT: Path = &["temporal_relationship_to_physical_activity"];
const LOCATION: Path = &["measurement_location"];
const QUALITY: Path = &["measurement_quality"];

pub static CATALOG: &[CodeSpec] = &[
    CodeSpec {
        code: "omh:blood-glucose:4.0",
        measures: &[
            required(stated("glucose_mg_dl", &["blood_glucose"], GLUCOSE, "glucose")),
            category("meal_context", &["temporal_relationship_to_meal"]),
            category("specimen_source", &["specimen_source"]),
            category("glucose_sleep_context", SLEEP_CONTEXT),
            category("glucose_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:blood-pressure:4.0",
        measures: &[
            required(quantity("systolic_mmhg", &["systolic_blood_pressure"], MMHG)),
            required(quantity("diastolic_mmhg", &["diastolic_blood_pressure"], MMHG)),
            category("body_posture", &["body_posture"]),
            category("bp_measurement_location", LOCATION),
            category("bp_activity_context", ACTIVITY_CONTEXT),
            category("bp_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:heart-rate:2.0",
        measures: &[
            required(quantity("heart_rate_bpm", &["heart_rate"], BEATS_PER_MIN)),
            category("heart_rate_activity_context", ACTIVITY_CONTEXT),
            category("heart_rate_sleep_context", SLEEP_CONTEXT),
            category("heart_rate_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:body-temperature:4.0",
        measures: &[
            required(stated("body_temperature_c", &["body_temperature"], CELSIUS, "body_temperature")),
            category("body_temperature_measurement_location", LOCATION),
            category("body_temperature_sleep_context", SLEEP_CONTEXT),
            category("body_temperature_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:oxygen-saturation:2.0",
        measures: &[
            required(quantity("spo2_pct", &["oxygen_saturation"], PERCENT)),
            category("spo2_system", &["system"]),
            category("spo2_measurement_method", &["measurement_method"]),
            quantity("supplemental_oxygen_l_min", &["supplemental_oxygen_flow_rate"], LITRES_PER_MIN),
            category("oxygen_therapy_mode", &["oxygen_therapy_mode_of_administration"]),
            category("spo2_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:respiratory-rate:2.0",
        measures: &[
            required(quantity("respiratory_rate_per_min", &["respiratory_rate"], BREATHS_PER_MIN)),
            category("respiratory_rate_activity_context", ACTIVITY_CONTEXT),
            category("respiratory_rate_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:rr-interval:1.0",
        measures: &[
            // rr-interval-1.0 narrows duration-unit-value to ms; it does not require a time frame.
            required(quantity("rr_interval_ms", &["rr_interval"], MILLISECONDS)),
            category("rr_interval_activity_context", ACTIVITY_CONTEXT),
            category("rr_interval_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:body-weight:3.0",
        measures: &[
            required(stated("body_weight_kg", &["body_weight"], KILOGRAMS, "body_weight")),
            category("body_weight_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:forced-vital-capacity:1.0",
        measures: &[
            required(quantity("fvc_l", &["forced_vital_capacity"], LITRES)),
            category("fvc_quality", QUALITY),
            category("fvc_activity_context", ACTIVITY_CONTEXT),
            category("fvc_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:forced-expiratory-volume-1-second:1.0",
        measures: &[
            required(quantity("fev1_l", &["forced_expiratory_volume_1_second"], LITRES)),
            category("fev1_quality", QUALITY),
            category("fev1_activity_context", ACTIVITY_CONTEXT),
            category("fev1_statistic", STATISTIC),
        ],
    },
    CodeSpec {
        code: "omh:physical-activity:1.2",
        measures: &[
            required(text("activity_name", &["activity_name"])),
            stated("distance_m", &["distance"], METRES, "distance"),
            quantity("kcal_burned", &["kcal_burned"], KCAL),
            category("reported_activity_intensity", &["reported_activity_intensity"]),
            number("met_value", &["met_value"]),
        ],
    },
    CodeSpec {
        code: "omh:step-count:3.0",
        measures: &[
            required(measure("steps", &["step_count"], MeasureKind::Count { unit: Some("steps") })),
            category("steps_statistic", STATISTIC),
            category("steps_statistic_denominator", STATISTIC_DENOMINATOR),
        ],
    },
    CodeSpec {
        code: "omh:sleep-episode:1.1",
        measures: &[
            // Only the time frame is required. The measures sleep-stage-summary shares
            // carry the `sleep_episode_` stem.
            stated("sleep_episode_total_sleep_time_s", &["total_sleep_time"], SECONDS, "sleep_episode_total_sleep_time"),
            stated("sleep_episode_latency_to_sleep_onset_s", &["latency_to_sleep_onset"], SECONDS, "sleep_episode_latency_to_sleep_onset"),
            stated("sleep_episode_latency_to_arising_s", &["latency_to_arising"], SECONDS, "sleep_episode_latency_to_arising"),
            stated("wake_after_sleep_onset_s", &["wake_after_sleep_onset"], SECONDS, "wake_after_sleep_onset"),
            count("sleep_episode_number_of_awakenings", &["number_of_awakenings"]),
            quantity("sleep_maintenance_efficiency_percentage", &["sleep_maintenance_efficiency_percentage"], PERCENT),
            boolean("sleep_episode_is_main_sleep", &["is_main_sleep"]),
        ],
    },
    CodeSpec {
        code: "omh:sleep-duration:2.0",
        measures: &[
            required(stated("sleep_duration_s", &["sleep_duration"], SLEEP_SECONDS, "sleep_duration")),
            category("sleep_duration_statistic", STATISTIC),
            category("sleep_duration_statistic_denominator", STATISTIC_DENOMINATOR),
        ],
    },
    CodeSpec {
        code: "ieee:sleep-stage-summary:1.0",
        measures: &[
            required(stated("total_sleep_time_s", &["sleep_stage_summary", "total_sleep_time"], SECONDS, "total_sleep_time")),
            quantity("sleep_efficiency_percentage", &["sleep_stage_summary", "sleep_efficiency_percentage"], PERCENT),
            stated("latency_to_sleep_onset_s", &["sleep_stage_summary", "latency_to_sleep_onset"], SECONDS, "latency_to_sleep_onset"),
            stated("latency_to_arising_s", &["sleep_stage_summary", "latency_to_arising"], SECONDS, "latency_to_arising"),
            stated("rem_sleep_duration_s", &["sleep_stage_summary", "rem_sleep_duration"], SECONDS, "rem_sleep_duration"),
            count("rem_sleep_episode_count", &["sleep_stage_summary", "rem_sleep_episode_count"]),
            quantity("rem_sleep_percentage", &["sleep_stage_summary", "rem_sleep_percentage"], PERCENT),
            stated("light_sleep_duration_s", &["sleep_stage_summary", "light_sleep_duration"], SECONDS, "light_sleep_duration"),
            count("light_sleep_episode_count", &["sleep_stage_summary", "light_sleep_episode_count"]),
            quantity("light_sleep_percentage", &["sleep_stage_summary", "light_sleep_percentage"], PERCENT),
            stated("deep_sleep_duration_s", &["sleep_stage_summary", "deep_sleep_duration"], SECONDS, "deep_sleep_duration"),
            count("deep_sleep_episode_count", &["sleep_stage_summary", "deep_sleep_episode_count"]),
            quantity("deep_sleep_percentage", &["sleep_stage_summary", "deep_sleep_percentage"], PERCENT),
            stated("awake_duration_s", &["sleep_stage_summary", "awake_duration"], SECONDS, "awake_duration"),
            count("number_of_awakenings", &["sleep_stage_summary", "number_of_awakenings"]),
            quantity("awake_percentage", &["sleep_stage_summary", "awake_percentage"], PERCENT),
            category("sleep_stage_statistic", &["sleep_stage_summary", "descriptive_statistic"]),
            category("sleep_stage_statistic_denominator", &["sleep_stage_summary", "descriptive_statistic_denominator"]),
            boolean("is_main_sleep", &["is_main_sleep"]),
            // `sleep_stage_episodes` (an array of stage + time frame) has no column.
        ],
    },
    CodeSpec {
        code: "ieee:food-entry:0.1",
        measures: &[
            required(text("food_name", &["food_name"])),
            // mass, volume or a bare number: kept as written.
            required(amount("food_amount", &["food_amount"])),
            category("meal", &["meal"]),
            quantity("calories_kcal", &["calories"], KCAL),
            stated("protein_g", &["protein"], GRAMS, "protein"),
            stated("carbohydrate_g", &["carbohydrate"], GRAMS, "carbohydrate"),
            stated("fat_g", &["fat"], GRAMS, "fat"),
            stated("saturated_fat_g", &["saturated_fat"], GRAMS, "saturated_fat"),
            stated("fiber_g", &["fiber"], GRAMS, "fiber"),
            stated("sugar_g", &["sugar"], GRAMS, "sugar"),
            stated("cholesterol_mg", &["cholesterol"], MILLIGRAMS, "cholesterol"),
            stated("sodium_mg", &["sodium"], MILLIGRAMS, "sodium"),
            stated("potassium_mg", &["potassium"], MILLIGRAMS, "potassium"),
        ],
    },
];

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;
