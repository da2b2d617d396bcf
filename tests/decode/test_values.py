"""Decoded values equal the generator's: blood glucose in mg/dL whatever unit was sent, blood
pressure, and the time each observation starts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE, GLUCOSE, MG_DL_PER_MMOL_L, effective_start, utc


def expected_glucose_mg_dl(body: dict[str, Any]) -> float:
    quantity = body["blood_glucose"]
    factor = {"mg/dL": 1.0, "mmol/L": MG_DL_PER_MMOL_L}[quantity["unit"]]
    return float(quantity["value"]) * factor


def test_glucose_values_equal_the_generators(fx: FakeExchange, glucose: pd.DataFrame) -> None:
    expected = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)
    assert len(expected) == len(glucose)
    by_id = glucose.set_index("observation_id")
    assert set(by_id.index) == {row["id"] for row in expected}
    units = set()
    for row in expected:
        got = by_id.loc[row["id"]]
        body = row["omh"]["body"]
        units.add(body["blood_glucose"]["unit"])
        assert got["patient_id"] == row["patient_id"]
        assert got["glucose_mg_dl"] == pytest.approx(expected_glucose_mg_dl(body), rel=1e-12)
        meal = body.get("temporal_relationship_to_meal")
        assert (got["meal_context"] if pd.notna(got["meal_context"]) else None) == meal
        assert got["timestamp"] == effective_start(body["effective_time_frame"])
        assert got["last_updated"] == utc(row["last_updated"])
        assert got["created"] == utc(row["omh"]["header"]["source_creation_date_time"])
        assert got["uuid"] == row["omh"]["header"]["uuid"]
    # the generator mixes units, so the conversion above was exercised
    assert units == {"mg/dL", "mmol/L"}


def test_blood_pressure_columns_and_values(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    df = client.fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)
    expected = {row["id"]: row["omh"]["body"] for row in fx.expected_observations(study_id=fx.main_study_id, code=BLOOD_PRESSURE)}
    assert len(df) == len(expected) > 0
    assert df["systolic_mmhg"].dtype == "float64" and df["diastolic_mmhg"].dtype == "float64"
    assert str(df["timestamp"].dt.tz) == "UTC"
    for row in df.itertuples():
        body = expected[row.observation_id]
        assert row.systolic_mmhg == body["systolic_blood_pressure"]["value"]
        assert row.diastolic_mmhg == body["diastolic_blood_pressure"]["value"]
        assert row.timestamp == effective_start(body["effective_time_frame"])
    assert (df["systolic_mmhg"] > df["diastolic_mmhg"]).all()
