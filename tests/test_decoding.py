"""Cross-check: jhe's Rust decoder against a slow, obviously-correct Python reference decoder
on a generated study of every code, in both layouts (same values, same times)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import DURATION_SECONDS, PART_OF_DAY_HOURS, utc

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


@pytest.fixture(scope="module")
def study() -> Iterator[tuple[FakeExchange, list[dict[str, Any]]]]:
    with FakeExchange(patients=5, days=3, seed=21) as fx:
        yield fx, fx.expected_observations(study_id=fx.main_study_id)


def test_every_catalogue_code_is_in_the_study(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    _, expected = study
    assert {row["code"] for row in expected} == {spec["code"] for spec in jhe.catalog()}
    assert len(jhe.catalog()) == 16


def test_long_layout_matches_the_reference_decoder(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, expected = study
    df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="long")
    assert df.attrs["jhe_errors"] == []
    by_observation = {key: rows for key, rows in df.groupby("observation_id", sort=False)}
    assert list(by_observation) == [row["id"] for row in expected]
    checked_conversions = 0
    for row in expected:
        rows = by_observation[row["id"]]
        body = row["omh"]["body"]
        got = sorted(
            (r.measure, cell(r.value), cell(r.unit), cell(r.text)) for r in rows.itertuples(index=False)
        )
        assert got == sorted(reference_measures(body)), row["code"]
        start, end, offset = reference_times(body["effective_time_frame"])
        assert (rows["effective_start"] == start).all()
        assert (rows["effective_end"].isna() if end is None else rows["effective_end"] == end).all()
        assert (rows["utc_offset"].isna() if offset is None else rows["utc_offset"] == offset).all()
        assert (rows["patient_id"] == row["patient_id"]).all()
        assert (rows["uuid"] == row["omh"]["header"]["uuid"]).all()
        for r in rows.itertuples(index=False):
            if cell(r.canonical_unit) is not None:
                assert r.canonical_value == pytest.approx(convert(r.value, r.unit, r.canonical_unit), rel=1e-12)
                checked_conversions += r.unit != r.canonical_unit
    assert checked_conversions > 0, "the study exercised real unit conversions"


def test_wide_layout_matches_the_reference_decoder(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, expected = study
    frames = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    assert isinstance(frames, dict)
    catalog = {spec["code"]: spec["measures"] for spec in jhe.catalog()}
    expected_by_code: dict[str, list[dict[str, Any]]] = {}
    for row in expected:
        expected_by_code.setdefault(row["code"], []).append(row)
    assert set(frames) == set(expected_by_code)
    for code, frame in frames.items():
        rows = expected_by_code[code]
        assert frame["observation_id"].tolist() == [row["id"] for row in rows]
        for position, row in enumerate(rows):
            body = row["omh"]["body"]
            got = frame.iloc[position]
            start, end, offset = reference_times(body["effective_time_frame"])
            assert got["timestamp"] == start and got["effective_start"] == start
            assert cell(got["effective_end"]) == end
            assert cell(got["utc_offset"]) == offset
            leaves = {path: (value, unit, text) for path, value, unit, text in reference_measures(body)}
            for measure in catalog[code]:
                value, unit, text = leaves.get(measure["path"], (None, None, None))
                column, kind = measure["column"], measure["kind"]
                if kind == "quantity":
                    canonical = None if value is None else convert(value, unit, measure["units"][0])
                    assert cell(got[column]) == (None if canonical is None else pytest.approx(canonical, rel=1e-12))
                    if measure["stated"]:
                        assert cell(got[f"{measure['stated']}_value"]) == value
                        assert cell(got[f"{measure['stated']}_unit"]) == unit
                elif kind == "amount":
                    assert cell(got[f"{column}_value"]) == value
                    assert cell(got[f"{column}_unit"]) == unit
                elif kind in ("number", "count"):
                    assert cell(got[column]) == value
                elif kind == "boolean":
                    assert cell(got[column]) == (None if text is None else text == "true")
                else:
                    assert cell(got[column]) == text
            # every leaf of the body has a column: nothing is left out of the wide table
            assert set(leaves) <= {m["path"] for m in catalog[code]}, code


def test_wide_dtypes_follow_the_measure_kinds(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, _ = study
    frames = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    assert isinstance(frames, dict)
    expected_dtype = {
        "quantity": "float64", "number": "float64", "count": "int64", "boolean": "bool", "text": "object",
    }
    for spec in jhe.catalog():
        frame = frames[spec["code"]]
        assert str(frame["effective_start"].dt.tz) == "UTC"
        assert str(frame["utc_offset"].dtype).startswith("timedelta64")
        assert frame["duplicate_uuid"].dtype == "bool"
        for measure in spec["measures"]:
            column, kind = measure["column"], measure["kind"]
            if kind == "category":
                assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
            elif kind == "amount":
                assert frame[f"{column}_value"].dtype == "float64"
            elif frame[column].notna().all() or kind in ("quantity", "number"):
                # pandas turns an int64 or bool column with nulls into float64/object
                # text is "object" on pandas 2 and the new "str" on pandas 3
                allowed = ("object", "str") if kind == "text" else (expected_dtype[kind],)
                assert str(frame[column].dtype) in allowed, (column, frame[column].dtype)
