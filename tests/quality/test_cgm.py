"""The consensus CGM metrics, against values worked out here from the published formulas
(Battelino et al. 2019; GMI: Bergenstal et al. 2018; GRI: Klonoff et al. 2022; active
time: iglu's active_percent)."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone

import polars as pl
import pytest

import jhe

from tests.quality.frames import long_frame, series

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
# Ten readings, 5 minutes apart but for one 25-minute gap (after the fifth).
VALUES = [40, 60, 65, 100, 150, 180, 200, 260, 300, 120]
MINUTES = [0, 5, 10, 15, 20, 45, 50, 55, 60, 65]


def fixed_series() -> list[dict[str, object]]:
    return [{"patient_id": 1, "minutes": m, "value": v, "observation_id": 100 + i} for i, (m, v) in enumerate(zip(MINUTES, VALUES, strict=True))]


def test_metrics_of_a_fixed_series_match_the_formulas() -> None:
    row = jhe.quality.cgm_metrics(long_frame(fixed_series()), now=NOW).row(0, named=True)
    mean = sum(VALUES) / 10  # 147.5
    sd = statistics.stdev(VALUES)  # sample SD, n - 1
    assert row["readings"] == 10
    assert row["mean_glucose_mg_dl"] == pytest.approx(147.5)
    assert row["sd_mg_dl"] == pytest.approx(sd)
    assert row["gmi"] == pytest.approx(3.31 + 0.02392 * mean)
    assert row["cv_percent"] == pytest.approx(100 * sd / mean)
    # < 54: 40. < 70: 40, 60, 65. 70-180: 100, 150, 180, 120. > 180: 200, 260, 300. > 250: 260, 300.
    assert (row["tbr_54"], row["tbr_70"], row["tir_70_180"], row["tar_180"], row["tar_250"]) == pytest.approx((10, 30, 40, 30, 20))
    # VLow 10, Low 20, High 10, VHigh 20: hypo 10 + 0.8 * 20 = 26, hyper 20 + 0.5 * 10 = 25.
    assert row["gri_hypo"] == pytest.approx(26)
    assert row["gri_hyper"] == pytest.approx(25)
    assert row["gri"] == 100  # 3 * 26 + 1.6 * 25 = 118, capped
    # iglu: dt0 = 5; theoretical = round(65 / 5) + 1 = 14; missing = round((25 - 5) / 5) = 4.
    assert row["interval_minutes"] == 5
    assert row["active_percent"] == pytest.approx(100 * (14 - 4) / 14)
    assert row["span_days"] == pytest.approx(65 / 1440)
    assert row["days"] == 1
    assert row["meets_data_sufficiency"] is False


def test_gri_below_its_cap() -> None:
    # 20 readings: 1 below 54, 1 within 54-69, 2 within 181-250, 1 above 250, 15 in range.
    values = [50, 60, 200, 220, 300] + [120] * 15
    row = jhe.quality.cgm_metrics(long_frame(series(values)), now=NOW).row(0, named=True)
    vlow, low, high, vhigh = 5.0, 5.0, 10.0, 5.0
    assert row["gri"] == pytest.approx(3.0 * (vlow + 0.8 * low) + 1.6 * (vhigh + 0.5 * high))
    assert row["tir_70_180"] == pytest.approx(75)


def test_fourteen_full_days_meet_data_sufficiency() -> None:
    readings = series([110.0] * (14 * 96), every_minutes=15)
    row = jhe.quality.cgm_metrics(long_frame(readings), now=NOW).row(0, named=True)
    assert row["days"] == 14
    assert row["active_percent"] == pytest.approx(100)
    assert row["tir_70_180"] == 100
    assert row["gri"] == 0
    assert row["meets_data_sufficiency"] is True
    # One reading fewer than 70% active over the same span is not sufficient.
    sparse = [r for i, r in enumerate(readings) if i % 10 < 6 or i == len(readings) - 1]
    row = jhe.quality.cgm_metrics(long_frame(sparse), now=NOW).row(0, named=True)
    assert row["active_percent"] < 70
    assert row["meets_data_sufficiency"] is False


def test_mmol_readings_count_in_mg_dl() -> None:
    # The long layout's canonical_value is mg/dL; the metrics read it, not the stated value.
    frame = long_frame(series([5.0, 10.0])).with_columns(
        value=pl.Series([5.0, 10.0]),
        unit=pl.lit("mmol/L"),
        canonical_value=pl.Series([5.0 * 18.0156, 10.0 * 18.0156]),
    )
    row = jhe.quality.cgm_metrics(frame, now=NOW).row(0, named=True)
    assert row["mean_glucose_mg_dl"] == pytest.approx(7.5 * 18.0156)
