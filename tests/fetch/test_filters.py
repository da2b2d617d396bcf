"""Every filter (codes, times, update times, patients, identifiers, organizations) on every
server generation, and the filters the REST API cannot apply."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import (
    BLOOD_PRESSURE,
    GLUCOSE,
    HEART_RATE,
    effective_start,
    expected_ids,
    observation_ids,
    query_of,
    utc,
)


def test_code_and_time_filters_on_every_generation(any_fx: FakeExchange) -> None:
    """Older servers ignore date filters: jhe applies them itself, so the answer is the same."""
    expected_all = any_fx.expected_observations(study_id=any_fx.main_study_id, code=HEART_RATE)
    starts = sorted(effective_start(row["omh"]["body"]["effective_time_frame"]) for row in expected_all)
    since, until = starts[len(starts) // 4], starts[3 * len(starts) // 4]
    client = jhe.Client(any_fx.url, any_fx.token)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, code=HEART_RATE, since=since, until=until)
    expected = [
        row for row in expected_all if since <= effective_start(row["omh"]["body"]["effective_time_frame"]) < until
    ]
    assert 0 < len(expected) < len(expected_all)
    assert observation_ids(df) == expected_ids(expected)
    assert (df["timestamp"] >= since).all() and (df["timestamp"] < until).all()


def test_updated_since_on_every_generation(any_fx: FakeExchange) -> None:
    expected_all = any_fx.expected_observations(study_id=any_fx.main_study_id, code=BLOOD_PRESSURE)
    bound = sorted(utc(row["last_updated"]) for row in expected_all)[len(expected_all) // 2]
    df = jhe.Client(any_fx.url, any_fx.token).fetch_dataframe(
        study_id=any_fx.main_study_id, code=BLOOD_PRESSURE, updated_since=bound.isoformat()
    )
    assert observation_ids(df) == expected_ids([row for row in expected_all if utc(row["last_updated"]) >= bound])


def test_several_codes_on_every_generation(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, code=[BLOOD_PRESSURE, HEART_RATE])
    expected = any_fx.expected_observations(study_id=any_fx.main_study_id, code=BLOOD_PRESSURE)
    expected += any_fx.expected_observations(study_id=any_fx.main_study_id, code=HEART_RATE)
    assert sorted(observation_ids(df)) == sorted(expected_ids(expected))
    required = {"systolic_blood_pressure", "diastolic_blood_pressure", "heart_rate"}
    assert required <= set(df["measure"])


def test_a_patient_id_returns_that_patients_observations(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    patient = fx.expected_observations(study_id=fx.main_study_id, code=HEART_RATE)[0]["patient_id"]
    df = client.fetch_dataframe(patient_id=patient, code=HEART_RATE)
    expected = fx.expected_observations(patient_id=patient, code=HEART_RATE)
    assert len(df) == len(expected) > 0
    assert (df["patient_id"] == patient).all()
    assert df["heart_rate_bpm"].dtype == "float64"
    assert df["heart_rate_bpm"].tolist() == [row["omh"]["body"]["heart_rate"]["value"] for row in expected]


def test_patient_identifier_is_sent_as_system_and_value(paging_fx: FakeExchange) -> None:
    fx = paging_fx
    patient, identifiers = next((p, ids) for p, ids in fx.directory["patient_identifiers"].items() if ids)
    system, value = identifiers[0]
    fx.clear_requests()
    df = jhe.Client(fx.url, fx.token).fetch_dataframe(patient_identifier=(system, value), code=HEART_RATE)
    assert observation_ids(df) == expected_ids(fx.expected_observations(patient_id=patient, code=HEART_RATE))
    sent = [query_of(r) for r in fx.requests() if r["path"].endswith("/Observation")]
    assert sent and all(q["patient.identifier"] == [f"{system}|{value}"] for q in sent)
    with pytest.raises(TypeError, match="system, value"):
        jhe.Client(fx.url, fx.token).fetch_dataframe(patient_identifier=value)  # type: ignore[arg-type]


def test_organization_filter(paging_fx: FakeExchange) -> None:
    fx = paging_fx
    organization = fx.directory["member_organization_ids"][0]
    client = jhe.Client(fx.url, fx.token)
    via_fhir = client.fetch_dataframe(organization_id=organization, code=BLOOD_PRESSURE)
    via_rest = client.fetch_dataframe(organization_id=organization)
    assert len(via_fhir) > 0 and set(via_fhir["code"]) == {BLOOD_PRESSURE}
    assert set(via_fhir["observation_id"]) <= set(via_rest["observation_id"])


def test_rest_cannot_filter_by_code_or_time(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    with pytest.raises(jhe.ConfigurationError, match="REST API cannot filter by code"):
        client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE, api="rest")
    with pytest.raises(jhe.ConfigurationError, match="since/until"):
        client.fetch_dataframe(study_id=fx.main_study_id, since="2025-12-20", api="rest")
    with pytest.raises(jhe.ConfigurationError, match="api must be"):
        client.fetch_dataframe(study_id=fx.main_study_id, api="graphql")  # type: ignore[arg-type]
