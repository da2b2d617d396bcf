"""Each check on frames built by hand, against answers worked out in the test."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import jhe

from tests.quality.frames import GLUCOSE, HEART_RATE, T0, long_frame, series

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ids(frame: pl.DataFrame, **equal: object) -> set[int]:
    for column, value in equal.items():
        frame = frame.filter(pl.col(column) == value)
    return set(frame.get_column("observation_id").to_list())


# Outliers


def test_zscore_flags_what_the_guides_rule_flags_per_patient() -> None:
    a = [100.0] * 20 + [101.0, 99.0, 400.0]
    b = [50.0, 52.0, 51.0, 49.0] * 5 + [400.0]
    frame = long_frame(series(a, patient_id=1, first_id=100) + series(b, patient_id=2, first_id=200))
    flagged = jhe.quality.outliers(frame, "glucose_mg_dl", method="zscore", threshold_std=3)
    expected = set()
    for first_id, values in ((100, a), (200, b)):
        mean, sd = statistics.mean(values), statistics.stdev(values)
        expected |= {first_id + i for i, v in enumerate(values) if abs(v - mean) > 3 * sd}
    assert ids(flagged) == expected == {122, 220}
    assert set(flagged.get_column("rule")) == {"zscore"}


def test_mad_is_robust_where_the_zscore_is_masked() -> None:
    # Two large spikes inflate the SD so that the z rule at 3 flags neither; the MAD rule does.
    values = [100.0, 101.0, 99.0, 100.0, 102.0, 98.0, 100.0, 300.0, 310.0, 100.0]
    frame = long_frame(series(values))
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    expected = {1000 + i for i, v in enumerate(values) if abs(v - median) > 3 * 1.4826 * mad}
    assert ids(jhe.quality.outliers(frame, method="mad", k=3)) == expected == {1007, 1008}
    assert ids(jhe.quality.outliers(frame, method="zscore")) == set()


def test_implausible_uses_the_catalogue_limits_and_never_drops_rows() -> None:
    frame = long_frame(
        series([5.0, 120.0, 1500.0], first_id=1) + series([400.0, 60.0, 19.0], code=HEART_RATE, first_id=10)
    )
    flagged = jhe.quality.outliers(frame, method="implausible")
    assert ids(flagged) == {1, 3, 10, 12}
    low_glucose = flagged.filter(pl.col("observation_id") == 1).row(0, named=True)
    assert (low_glucose["low"], low_glucose["high"]) == (10.0, 1000.0)
    assert frame.height == 6


def test_every_numeric_measure_of_the_catalogue_has_a_limit_with_a_source() -> None:
    limits = {(lim.code, lim.measure): lim for lim in jhe.quality.LIMITS}
    for entry in jhe.catalog():
        for m in entry["measures"]:
            if m["kind"] not in ("quantity", "amount", "number", "count"):
                continue
            lim = limits.pop((entry["code"], m["path"]))
            assert lim.low < lim.high
            assert lim.source
            assert lim.unit == (m["units"] or [None])[0], (entry["code"], m["path"])
    assert not limits, f"limits for measures the catalogue does not have: {sorted(limits)}"


def test_an_unknown_column_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no numeric measure named 'glucose'"):
        jhe.quality.outliers(long_frame(series([1.0])), "glucose")
    with pytest.raises(ValueError, match="unknown outlier method 'iqr'"):
        jhe.quality.outliers(long_frame(series([1.0])), method="iqr")


# Timestamps


def test_each_timestamp_rule() -> None:
    rows = [
        {"observation_id": 1, "minutes": 0, "value": 100, "created_minutes": 2},  # fine
        {"observation_id": 2, "start": NOW + timedelta(days=400), "value": 100, "created_minutes": 10, "offset_minutes": 540},  # future, after creation
        {"observation_id": 3, "minutes": 60, "value": 100, "created_minutes": 30},  # 30 min after creation
        {"observation_id": 4, "start": datetime(1970, 1, 1, tzinfo=timezone.utc), "value": 100},  # clock reset
        {"observation_id": 5, "minutes": 120, "value": 100, "offset_minutes": None},  # no offset
        {"observation_id": 6, "minutes": 180, "value": 100, "offset_minutes": 540},  # travel: +09:00
        {"observation_id": 7, "minutes": 240, "value": 100, "offset_minutes": 540},
    ]
    found = jhe.quality.timestamps(long_frame(rows), now=NOW, tolerance=timedelta(minutes=5), birth_dates={1: "1980-05-01"})
    assert ids(found, rule="future") == {2}
    assert ids(found, rule="after_creation") == {2, 3}
    assert ids(found, rule="before_2000") == {4}
    assert ids(found, rule="before_birth") == {4}
    assert ids(found, rule="missing_offset") == {5}
    assert ids(found, rule="offset_change") == {6}
    assert found.filter(pl.col("rule") == "offset_change").row(0, named=True)["detail"] == "+00:00 to +09:00"


def test_birth_dates_from_list_patients_frame() -> None:
    rows = [{"observation_id": 1, "start": datetime(1990, 1, 1, tzinfo=timezone.utc), "value": 100}]
    patients = pd.DataFrame({"id": [1], "birthDate": ["1995-02-03"]})
    found = jhe.quality.timestamps(long_frame(rows), now=NOW, birth_dates=patients)
    assert ids(found, rule="before_birth") == {1}


# Duplicates and units


def test_duplicates_by_uuid_and_by_reading() -> None:
    rows = [
        {"observation_id": 1, "minutes": 0, "value": 100, "uuid": "a"},
        {"observation_id": 2, "minutes": 5, "value": 101, "uuid": "a"},  # same uuid, other reading
        {"observation_id": 3, "minutes": 10, "value": 102, "uuid": "c"},
        {"observation_id": 4, "minutes": 10, "value": 102, "uuid": "d"},  # same reading as 3
        {"observation_id": 5, "minutes": 10, "value": 103, "uuid": "e"},  # same time, other value
    ]
    found = jhe.quality.duplicates(long_frame(rows))
    assert ids(found, kind="same uuid") == {1, 2}
    assert ids(found, kind="same reading") == {3, 4}
    assert set(found.filter(pl.col("kind") == "same reading").get_column("duplicate_of")) == {3}


def test_units_counts_the_decoders_unit_problems_per_code() -> None:
    errors = [
        {"observation_id": 1, "code": GLUCOSE, "reason": 'blood_glucose has unknown unit "g/L" (expected one of mg/dL, mmol/L)'},
        {"observation_id": 2, "code": GLUCOSE, "reason": 'blood_glucose has unknown unit "g/L" (expected one of mg/dL, mmol/L)'},
        {"observation_id": 3, "code": GLUCOSE, "reason": "blood_glucose has no unit: 5"},
        {"observation_id": 4, "code": GLUCOSE, "reason": "the body has no effective_time_frame"},
    ]
    found = jhe.quality.units(errors)
    assert found.shape[0] == 2
    row = found.filter(pl.col("unit") == "g/L").row(0, named=True)
    assert (row["observations"], row["observation_ids"], row["allowed"]) == (2, [1, 2], "mg/dL, mmol/L")
    assert found.filter(pl.col("unit") == "").row(0, named=True)["observation_ids"] == [3]


# Gaps and coverage


def test_gaps_longer_than_k_median_intervals() -> None:
    minutes = [0, 15, 30, 45, 60, 75, 200, 215, 230, 245, 1000]
    frame = long_frame([{"minutes": m, "value": 100, "observation_id": i} for i, m in enumerate(minutes)])
    found = jhe.quality.gaps(frame, k=3, now=NOW)
    assert [(g["start"], g["end"]) for g in found.iter_rows(named=True)] == [
        (T0 + timedelta(minutes=75), T0 + timedelta(minutes=200)),
        (T0 + timedelta(minutes=245), T0 + timedelta(minutes=1000)),
    ]
    assert found.get_column("length").to_list() == [timedelta(minutes=125), timedelta(minutes=755)]
    assert jhe.quality.gaps(frame, k=10, now=NOW).height == 1


def test_coverage_per_local_day() -> None:
    # Day 1: 96 readings every 15 min; day 2 (after an empty day): 48.
    readings = series([100.0] * 96, every_minutes=15) + series([100.0] * 48, every_minutes=15, start_minutes=2 * 1440, first_id=5000)
    found = jhe.quality.coverage(long_frame(readings), now=NOW).sort("day")
    assert found.get_column("readings").to_list() == [96, 0, 48]
    assert set(found.get_column("expected_readings")) == {96}
    assert found.get_column("active_percent").to_list() == [100.0, 0.0, 50.0]
    assert found.get_column("valid_day").to_list() == [True, False, False]


def test_local_day_follows_the_utc_offset() -> None:
    # 23:30 UTC at +02:00 is 01:30 the next local day.
    frame = long_frame([{"minutes": 23 * 60 + 30, "value": 100, "offset_minutes": 120}, {"minutes": 23 * 60 + 45, "value": 100, "offset_minutes": 120}])
    assert jhe.quality.coverage(frame, now=NOW).get_column("day").to_list() == [(T0 + timedelta(days=1)).date()]


# Kinds of frame


def test_pandas_in_pandas_out_and_wide_equals_long() -> None:
    long = long_frame(series([100.0, 101.0, 99.0, 100.0, 500.0, 100.0, 101.0, 99.0, 100.0, 100.0, 100.0, 99.0]))
    wide = long.rename({"canonical_value": "glucose_mg_dl"}).drop("measure", "value", "unit", "canonical_unit")
    from_long = jhe.quality.outliers(long, method=("zscore", "mad", "implausible"))
    from_wide = jhe.quality.outliers(wide.to_pandas(), "glucose_mg_dl", method=("zscore", "mad", "implausible"))
    assert isinstance(from_wide, pd.DataFrame)
    assert from_wide["observation_id"].tolist() == from_long.get_column("observation_id").to_list()
    assert isinstance(jhe.quality.cgm_metrics(wide.to_arrow(), now=NOW), pa.Table)


def test_not_a_jhe_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="not a jhe frame"):
        jhe.quality.gaps(pl.DataFrame({"x": [1]}))
    with pytest.raises(TypeError, match="expected a pandas or polars DataFrame"):
        jhe.quality.gaps([1, 2, 3])
