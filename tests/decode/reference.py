"""A slow, obviously-correct Python reference decoder: unit conversion, time frames and the
measures of an OMH body, with the standard library and pandas, independent of jhe's Rust code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd

from tests.helpers import DURATION_SECONDS, PART_OF_DAY_HOURS, utc

# Physical units by dimension: the factor to the dimension's base unit (temperature apart).
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "glucose": {"mg/dL": 1.0, "mmol/L": 18.0156},
    "mass": {
        "fg": 1e-18, "pg": 1e-15, "ng": 1e-12, "ug": 1e-9, "mg": 1e-6, "g": 1e-3, "kg": 1.0,
        "Metric Ton": 1000.0, "gr": 64.79891e-6, "oz": 0.028349523125, "lb": 0.45359237,
        "Ton": 907.18474,
    },
    "length": {
        "fm": 1e-15, "pm": 1e-12, "nm": 1e-9, "um": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0,
        "km": 1e3, "in": 0.0254, "ft": 0.3048, "yd": 0.9144, "mi": 1609.344,
    },
    "duration": DURATION_SECONDS,
    "energy": {"kcal": 1.0},
    "same": {
        "mmHg": 1.0, "beats/min": 1.0, "breaths/min": 1.0, "%": 1.0, "L": 1.0, "L/min": 1.0,
        "steps": 1.0,
    },
}


def to_celsius(value: float, unit: str) -> float:
    return {"C": value, "F": (value - 32.0) * 5.0 / 9.0, "K": value - 273.15}[unit]


def convert(value: float, unit: str, target: str) -> float:
    """The reference unit conversion; a unit pair it does not know fails the test."""
    if target == "C":
        return to_celsius(value, unit)
    for factors in UNIT_FACTORS.values():
        if unit in factors and target in factors:
            return value * factors[unit] / factors[target]
    raise AssertionError(f"the reference decoder cannot convert {unit!r} to {target!r}")


def reference_times(frame: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp | None, timedelta | None]:
    """(start, end, utc_offset) of an effective_time_frame, every form."""
    from datetime import datetime

    def offset_of(text: str) -> timedelta | None:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).utcoffset()

    if "date_time" in frame:
        return utc(frame["date_time"]), None, offset_of(frame["date_time"])
    if "full_date" in frame:
        day = pd.Timestamp(frame["full_date"], tz="UTC")
        return day, day + pd.Timedelta(days=1), None
    interval = frame["time_interval"]

    def duration() -> pd.Timedelta:
        d = interval["duration"]
        return pd.Timedelta(microseconds=round(float(d["value"]) * DURATION_SECONDS[d["unit"]] * 1e6))

    if "start_date_time" in interval and "end_date_time" in interval:
        return utc(interval["start_date_time"]), utc(interval["end_date_time"]), offset_of(interval["start_date_time"])
    if "start_date_time" in interval:
        start = utc(interval["start_date_time"])
        return start, start + duration(), offset_of(interval["start_date_time"])
    if "end_date_time" in interval:
        end = utc(interval["end_date_time"])
        return end - duration(), end, offset_of(interval["end_date_time"])
    day = pd.Timestamp(interval["date"], tz="UTC")
    start = day + pd.Timedelta(hours=PART_OF_DAY_HOURS[interval["part_of_day"]])
    return start, start + pd.Timedelta(hours=6), None


def reference_measures(body: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any, Any, Any]]:
    """(measure path, value, unit, text) for every leaf of a body: the long layout's rows."""
    for key, value in sorted(body.items()):
        path = f"{prefix}{key}"
        if not prefix and key == "effective_time_frame" or value is None:
            continue
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "unit"}:
            yield path, float(value["value"]), value.get("unit"), None
        elif isinstance(value, dict):
            yield from reference_measures(value, f"{path}.")
        elif isinstance(value, bool):
            yield path, float(value), None, str(value).lower()
        elif isinstance(value, int | float):
            yield path, float(value), None, None
        elif isinstance(value, str):
            yield path, None, None, value
        else:
            yield path, None, None, json.dumps(value, separators=(",", ":"))


def cell(value: Any) -> Any:
    """A DataFrame cell as plain Python, with missing values as None."""
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return None
    return value
