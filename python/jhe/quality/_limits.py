"""Plausibility limits: for every numeric measure of the catalogue, the range outside which
a reading cannot be a valid measurement of a living person, in the measure's canonical
unit, with where the limit comes from.

These flag readings (the ``implausible`` rule); they never drop them. Sources are of
three kinds, named in each row:
- *physiological*: bounds of survivable human physiology, as clinical references give them;
- *device*: the reportable range of the devices that produce such readings;
- *definition*: what the quantity is (a percentage, a duration within one day), with an
  upper bound of jhe's own, far above any real record, where nothing else bounds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY_S = 86_400.0


@dataclass(frozen=True)
class Limit:
    code: str
    measure: str  # the long layout's measure (the catalogue's path)
    low: float
    high: float
    unit: str | None
    source: str


def _durations(code: str, prefix: str, names: tuple[str, ...]) -> list[Limit]:
    return [
        Limit(code, f"{prefix}{name}", 0.0, DAY_S, "sec", "definition: a sleep measure of one night lies within 0 s and 24 h")
        for name in names
    ]


def _shares(code: str, prefix: str, names: tuple[str, ...]) -> list[Limit]:
    return [Limit(code, f"{prefix}{name}", 0.0, 100.0, "%", "definition: a percentage") for name in names]


def _counts(code: str, prefix: str, names: tuple[str, ...]) -> list[Limit]:
    return [
        Limit(code, f"{prefix}{name}", 0.0, 200.0, None, "definition: a count of one night, at least 0; 200 is jhe's bound")
        for name in names
    ]


_NUTRIENT = "definition: an amount in one food entry, at least 0; the upper bound is jhe's, far above any one meal"
_SUMMARY = "ieee:sleep-stage-summary:1.0"

LIMITS: tuple[Limit, ...] = (
    Limit("omh:blood-glucose:4.0", "blood_glucose", 10.0, 1000.0, "mg/dL",
          "device and physiological: hospital glucose meters report 10-600 mg/dL (e.g. Accu-Chek Inform II); "
          "hyperosmolar hyperglycaemic states reach about 1,000 mg/dL"),
    Limit("omh:blood-pressure:4.0", "systolic_blood_pressure", 40.0, 300.0, "mmHg",
          "device and physiological: oscillometric cuffs measure up to 299 mmHg; below 40 mmHg systolic is shock, not a home reading"),
    Limit("omh:blood-pressure:4.0", "diastolic_blood_pressure", 20.0, 200.0, "mmHg",
          "physiological: diastolic pressure below 20 or above 200 mmHg is not compatible with a valid reading"),
    Limit("omh:heart-rate:2.0", "heart_rate", 20.0, 300.0, "beats/min",
          "physiological: below 20 beats/min is agonal; 300 is the fastest conducted ventricular rate (atrial flutter 1:1)"),
    Limit("omh:body-temperature:4.0", "body_temperature", 25.0, 45.0, "C",
          "physiological: core temperature below 25 C (severe accidental hypothermia) or above 45 C is not survivable in a home reading"),
    Limit("omh:oxygen-saturation:2.0", "oxygen_saturation", 50.0, 100.0, "%",
          "device and definition: pulse oximeters are calibrated for 70-100% (ISO 80601-2-61) and read nothing meaningful below 50%; a saturation is at most 100%"),
    Limit("omh:oxygen-saturation:2.0", "supplemental_oxygen_flow_rate", 0.0, 60.0, "L/min",
          "device: high-flow nasal cannula systems deliver at most 60 L/min"),
    Limit("omh:respiratory-rate:2.0", "respiratory_rate", 4.0, 70.0, "breaths/min",
          "physiological: below 4 is apnoea, above 70 breaths/min exceeds adult and child tachypnoea"),
    Limit("omh:rr-interval:1.0", "rr_interval", 200.0, 3000.0, "ms",
          "physiological: the heart-rate limits as intervals (60,000 / 300 and 60,000 / 20 ms)"),
    Limit("omh:body-weight:3.0", "body_weight", 0.5, 650.0, "kg",
          "physiological: the smallest surviving newborns and the heaviest people recorded"),
    Limit("omh:forced-vital-capacity:1.0", "forced_vital_capacity", 0.1, 10.0, "L",
          "physiological: the largest recorded human vital capacities are below 10 L"),
    Limit("omh:forced-expiratory-volume-1-second:1.0", "forced_expiratory_volume_1_second", 0.1, 8.0, "L",
          "physiological: FEV1 is below FVC, and above 8 L in no recorded adult"),
    Limit("omh:physical-activity:1.2", "distance", 0.0, 1_000_000.0, "m",
          "definition: a distance of one activity, at least 0; 1,000 km is jhe's bound"),
    Limit("omh:physical-activity:1.2", "kcal_burned", 0.0, 20_000.0, "kcal",
          "definition: energy of one activity, at least 0; 20,000 kcal is beyond any recorded endurance event's day"),
    Limit("omh:physical-activity:1.2", "met_value", 0.9, 25.0, None,
          "physiological: the Compendium of Physical Activities (Ainsworth et al. 2011) ranges from 0.9 (sleeping) to 23 MET"),
    Limit("omh:step-count:3.0", "step_count", 0.0, 150_000.0, "steps",
          "definition: steps of one record (up to a day), at least 0; 150,000 is beyond ultramarathon days"),
    *_durations("omh:sleep-episode:1.1", "", ("total_sleep_time", "latency_to_sleep_onset", "latency_to_arising", "wake_after_sleep_onset")),
    *_counts("omh:sleep-episode:1.1", "", ("number_of_awakenings",)),
    *_shares("omh:sleep-episode:1.1", "", ("sleep_maintenance_efficiency_percentage",)),
    *_durations("omh:sleep-duration:2.0", "", ("sleep_duration",)),
    *_durations(_SUMMARY, "sleep_stage_summary.", (
        "total_sleep_time", "latency_to_sleep_onset", "latency_to_arising",
        "rem_sleep_duration", "light_sleep_duration", "deep_sleep_duration", "awake_duration",
    )),
    *_counts(_SUMMARY, "sleep_stage_summary.", (
        "rem_sleep_episode_count", "light_sleep_episode_count", "deep_sleep_episode_count", "number_of_awakenings",
    )),
    *_shares(_SUMMARY, "sleep_stage_summary.", (
        "sleep_efficiency_percentage", "rem_sleep_percentage", "light_sleep_percentage", "deep_sleep_percentage", "awake_percentage",
    )),
    Limit("ieee:food-entry:0.1", "food_amount", 0.0, 10_000.0, None, _NUTRIENT),
    Limit("ieee:food-entry:0.1", "calories", 0.0, 10_000.0, "kcal", _NUTRIENT),
    *(Limit("ieee:food-entry:0.1", name, 0.0, 2_000.0, "g", _NUTRIENT)
      for name in ("protein", "carbohydrate", "fat", "saturated_fat", "fiber", "sugar")),
    *(Limit("ieee:food-entry:0.1", name, 0.0, 50_000.0, "mg", _NUTRIENT) for name in ("cholesterol", "sodium", "potassium")),
)


def limits_frame() -> Any:
    """The limits as a polars DataFrame: ``code``, ``measure``, ``low``, ``high``, ``unit``, ``source``."""
    from jhe.quality._frame import polars

    pl = polars()
    return pl.DataFrame(
        [(lim.code, lim.measure, lim.low, lim.high, lim.unit, lim.source) for lim in LIMITS],
        schema={"code": pl.String, "measure": pl.String, "low": pl.Float64, "high": pl.Float64, "unit": pl.String, "source": pl.String},
        orient="row",
    )


def limits_keyed() -> Any:
    """:func:`limits_frame` with categorical ``code``, ``measure`` and ``unit``, to join readings on."""
    from jhe.quality._frame import polars

    pl = polars()
    return limits_frame().with_columns(pl.col("code", "measure", "unit").cast(pl.Categorical))
