"""The first end-to-end path: FHIR pages from the fake Exchange into a pandas DataFrame."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import MG_DL_PER_MMOL_L, effective_start, http_get, observation_ids, utc

GLUCOSE = "omh:blood-glucose:4.0"
BLOOD_PRESSURE = "omh:blood-pressure:4.0"
HEART_RATE = "omh:heart-rate:2.0"
COMMON_COLUMNS = ["observation_id", "patient_id", "code", "timestamp", "last_updated"]


def server_total(fx: FakeExchange, **params: Any) -> int:
    """What the server itself says matches, asked with _summary=count, without jhe."""
    query = urllib.parse.urlencode({**params, "_summary": "count"})
    status, bundle = http_get(f"{fx.url}/FHIR/R5/Observation?{query}", fx.token)
    assert status == 200, bundle
    return int(bundle["total"])


def start_of(frame: dict[str, Any]) -> pd.Timestamp:
    return effective_start(frame)


def expected_glucose_mg_dl(body: dict[str, Any]) -> float:
    quantity = body["blood_glucose"]
    factor = {"mg/dL": 1.0, "mmol/L": MG_DL_PER_MMOL_L}[quantity["unit"]]
    return float(quantity["value"]) * factor


@pytest.fixture(scope="module")
def glucose(fx: FakeExchange) -> pd.DataFrame:
    # A page size well below the total, so the fetch crosses many pages.
    client = jhe.Client(fx.url, fx.token, page_size=700)
    return client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE)


def test_multi_page_fetch_returns_exactly_the_servers_total(fx: FakeExchange, glucose: pd.DataFrame) -> None:
    total = server_total(
        fx,
        **{"patient._has:Group:member:_id": fx.main_study_id, "code": f"https://w3id.org/openmhealth|{GLUCOSE}"},
    )
    assert total > 700 * 3, "the fixture must span several pages"
    assert len(glucose) == total
    assert glucose["observation_id"].is_unique
    assert (glucose["code"] == GLUCOSE).all()
    assert glucose.attrs["jhe_errors"] == []


def test_values_equal_the_generators(fx: FakeExchange, glucose: pd.DataFrame) -> None:
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
        assert got["timestamp"] == start_of(body["effective_time_frame"])
        assert got["last_updated"] == utc(row["last_updated"])
        assert got["uuid"] == row["omh"]["header"]["uuid"]
    # the generator mixes units, so the conversion above was exercised
    assert units == {"mg/dL", "mmol/L"}


def test_rows_come_newest_first_like_the_server(fx: FakeExchange, glucose: pd.DataFrame) -> None:
    expected = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)
    assert glucose["observation_id"].tolist() == [row["id"] for row in expected]


def test_glucose_columns_and_dtypes(glucose: pd.DataFrame) -> None:
    for column in [*COMMON_COLUMNS, "glucose_mg_dl", "meal_context"]:
        assert column in glucose.columns
    assert str(glucose["timestamp"].dt.tz) == "UTC"
    assert str(glucose["last_updated"].dt.tz) == "UTC"
    assert glucose["observation_id"].dtype == "int64"
    assert glucose["patient_id"].dtype == "int64"
    assert glucose["glucose_mg_dl"].dtype == "float64"
    assert isinstance(glucose["meal_context"].dtype, pd.CategoricalDtype)
    assert glucose["meal_context"].notna().any() and glucose["meal_context"].isna().any()
    assert glucose["glucose_mg_dl"].between(20, 600).all()


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
        assert row.timestamp == start_of(body["effective_time_frame"])
    assert (df["systolic_mmhg"] > df["diastolic_mmhg"]).all()


def test_heart_rate_for_one_patient(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    patient = fx.expected_observations(study_id=fx.main_study_id, code=HEART_RATE)[0]["patient_id"]
    df = client.fetch_dataframe(patient_id=patient, code=HEART_RATE)
    expected = fx.expected_observations(patient_id=patient, code=HEART_RATE)
    assert len(df) == len(expected) > 0
    assert (df["patient_id"] == patient).all()
    assert df["heart_rate_bpm"].dtype == "float64"
    assert df["heart_rate_bpm"].tolist() == [row["omh"]["body"]["heart_rate"]["value"] for row in expected]


def test_every_code_of_a_study_is_kept(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    frames = client.fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    expected = fx.expected_observations(study_id=fx.main_study_id)
    assert isinstance(frames, dict)
    total = server_total(fx, **{"patient._has:Group:member:_id": fx.main_study_id})
    assert sum(len(frame) for frame in frames.values()) == len(expected) == total
    assert set(frames) == {row["code"] for row in expected}
    assert len(frames) == 16
    for code, frame in frames.items():
        assert (frame["code"] == code).all()
        assert frame["timestamp"].notna().all()
        assert frame.attrs["jhe_errors"] == []
    assert frames[GLUCOSE]["glucose_mg_dl"].notna().all()


def test_several_codes_at_once(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    df = client.fetch_dataframe(study_id=fx.main_study_id, code=[BLOOD_PRESSURE, HEART_RATE])
    n_bp = len(fx.expected_observations(study_id=fx.main_study_id, code=BLOOD_PRESSURE))
    n_hr = len(fx.expected_observations(study_id=fx.main_study_id, code=HEART_RATE))
    # several codes: the long layout by default, one row per observation and measure
    assert len(observation_ids(df)) == n_bp + n_hr
    counts = df["measure"].value_counts()
    assert (counts["systolic_blood_pressure"], counts["diastolic_blood_pressure"], counts["heart_rate"]) == (n_bp, n_bp, n_hr)
    assert set(df["code"]) == {BLOOD_PRESSURE, HEART_RATE}


def test_an_empty_result_still_has_the_typed_columns(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    bp_study = next(study for study, codes in fx.directory["codes_by_study"].items() if GLUCOSE not in codes)
    df = client.fetch_dataframe(study_id=bp_study, code=GLUCOSE)
    assert len(df) == 0
    assert {"glucose_mg_dl", "meal_context", "timestamp"} <= set(df.columns)
