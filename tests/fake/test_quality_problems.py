"""The fake Exchange's ``quality_problems``: the ground truth (``expected_*``) agrees with what
is served over HTTP (plain ``urllib``, no jhe client), so a quality report can be tested
against it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jhe.testing import FakeExchange

from tests.fake.helpers import call

GLUCOSE = "omh:blood-glucose:4.0"
HEART = "omh:heart-rate:2.0"
STATUSES = {"has data", "no data", "not consented", "consent pending", "not requested by study"}


@pytest.fixture(scope="module")
def fx():
    with FakeExchange(patients=6, days=7, seed=1, quality_problems=True) as fx:
        yield fx


def _main_value(omh: dict) -> float:
    """The first ``{value, unit}`` of a body: its main measure for these codes."""
    return next(v["value"] for v in omh["body"].values() if isinstance(v, dict) and "value" in v)


def test_needs_six_patients_and_seven_days():
    with pytest.raises(ValueError, match="quality_problems"):
        FakeExchange(patients=5, days=7, quality_problems=True)
    with pytest.raises(ValueError, match="quality_problems"):
        FakeExchange(patients=6, days=6, quality_problems=True)


def test_consent_statuses(fx):
    consent = fx.expected_consent(fx.main_study_id)
    assert sorted(consent) == list(range(40001, 40007))
    assert all(set(codes.values()) <= STATUSES for codes in consent.values())
    assert set(consent[40002].values()) == {"consent pending"}
    assert consent[40003][GLUCOSE] == consent[40003][HEART] == "not consented"
    assert consent[40001][GLUCOSE] == "has data"
    answer = call(f"{fx.url}/api/v1/patients/40003/consents", fx.token).json()
    (main,) = [s for s in answer["studies"] if s["id"] == fx.main_study_id]
    declined = {s["code"]["codingCode"] for s in main["scopeConsents"] if s["consented"] is False}
    assert declined == {GLUCOSE, HEART}
    bp = fx.expected_consent(30002)
    assert all(codes[GLUCOSE] == "not requested by study" for codes in bp.values())
    assert fx.expected_consent(fx.hidden_study_id) == {}


def test_scope_requests_route(fx):
    rows = call(f"{fx.url}/api/v1/studies/{fx.main_study_id}/scope_requests", fx.token).json()
    assert [r["scopeCode"]["codingCode"] for r in rows] == fx.directory["codes_by_study"][fx.main_study_id]
    assert rows[0]["study"]["organization"] == 20001
    assert call(f"{fx.url}/api/v1/studies/{fx.hidden_study_id}/scope_requests", fx.token).status == 403


def test_injected_lists_match_the_payloads(fx):
    rows = {r["id"]: r for r in fx.expected_observations(fx.main_study_id)}
    values = {(rows[i]["patient_id"], code, _main_value(rows[i]["omh"])) for i, code in fx.expected_implausible()}
    assert {(p, c, v) for p, c, v in values if c == GLUCOSE} == {(40004, GLUCOSE, 5), (40004, GLUCOSE, 1500)}
    assert (40004, HEART, 400) in values
    assert (40005, "omh:oxygen-saturation:2.0", 30.0) in values
    spikes = fx.expected_spikes()
    assert [rows[i]["omh"]["body"]["blood_glucose"]["value"] for i, c in spikes if c == GLUCOSE] == [400, 400, 400]
    for i in fx.expected_future():
        assert rows[i]["omh"]["body"]["effective_time_frame"]["date_time"].startswith("2036-")
    (reset,) = fx.expected_clock_reset()
    when = datetime.fromisoformat(rows[reset]["omh"]["body"]["effective_time_frame"]["date_time"])
    assert when == datetime(1970, 1, 1, tzinfo=timezone.utc)
    copies = fx.expected_duplicate_readings()
    assert len(copies) == 5
    for original, copy in copies:
        assert rows[original]["omh"]["body"] == rows[copy]["omh"]["body"]
        assert rows[original]["omh"]["header"]["uuid"] != rows[copy]["omh"]["header"]["uuid"]
    ((patient, first),) = fx.expected_offset_changes()
    assert patient == 40006 and rows[first]["patient_id"] == 40006


def test_gaps_hold_the_outages(fx):
    outages = fx.expected_outages()
    assert [(p, c) for p, c, _, _ in outages] == [(40001, GLUCOSE), (40001, GLUCOSE), (40001, HEART)]
    for patient, code, start, end in outages:
        assert start.tzinfo is timezone.utc
        gaps = fx.expected_gaps(code, k=3)
        assert any(p == patient and a < start and b >= end for p, a, b in gaps), (start, end, gaps)
        series = fx.expected_series(patient, code)
        assert not [t for _, t, _ in series if start <= t < end]
    glucose = fx.expected_gaps(GLUCOSE)
    assert len(glucose) == 2
    assert glucose[1][2] - glucose[1][1] < timedelta(hours=24, minutes=30)
    with pytest.raises(ValueError, match="unknown code"):
        fx.expected_gaps("omh:blood-glucoze:4.0")
