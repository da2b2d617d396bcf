"""The columns and dtypes of a code's table, an empty result's columns, and the long layout
for several codes."""

from __future__ import annotations

import pandas as pd

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE, GLUCOSE, HEART_RATE, observation_ids

COMMON_COLUMNS = ["observation_id", "patient_id", "code", "timestamp", "last_updated", "created"]


def test_glucose_columns_and_dtypes(glucose: pd.DataFrame) -> None:
    for column in [*COMMON_COLUMNS, "glucose_mg_dl", "meal_context"]:
        assert column in glucose.columns
    assert str(glucose["timestamp"].dt.tz) == "UTC"
    assert str(glucose["last_updated"].dt.tz) == "UTC"
    assert str(glucose["created"].dt.tz) == "UTC"
    columns = list(glucose.columns)
    assert columns[columns.index("last_updated") + 1] == "created"
    assert glucose["observation_id"].dtype == "int64"
    assert glucose["patient_id"].dtype == "int64"
    assert glucose["glucose_mg_dl"].dtype == "float64"
    assert isinstance(glucose["meal_context"].dtype, pd.CategoricalDtype)
    assert glucose["meal_context"].notna().any() and glucose["meal_context"].isna().any()
    assert glucose["glucose_mg_dl"].between(20, 600).all()


def test_an_empty_result_has_the_typed_columns(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    bp_study = next(study for study, codes in fx.directory["codes_by_study"].items() if GLUCOSE not in codes)
    df = client.fetch_dataframe(study_id=bp_study, code=GLUCOSE)
    assert len(df) == 0
    assert {"glucose_mg_dl", "meal_context", "timestamp"} <= set(df.columns)


def test_several_codes_are_one_row_per_observation_and_measure(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    df = client.fetch_dataframe(study_id=fx.main_study_id, code=[BLOOD_PRESSURE, HEART_RATE])
    n_bp = len(fx.expected_observations(study_id=fx.main_study_id, code=BLOOD_PRESSURE))
    n_hr = len(fx.expected_observations(study_id=fx.main_study_id, code=HEART_RATE))
    # several codes: the long layout by default, one row per observation and measure
    assert len(observation_ids(df)) == n_bp + n_hr
    counts = df["measure"].value_counts()
    assert (counts["systolic_blood_pressure"], counts["diastolic_blood_pressure"], counts["heart_rate"]) == (n_bp, n_bp, n_hr)
    assert set(df["code"]) == {BLOOD_PRESSURE, HEART_RATE}
