"""The native client's questions for reports: a query's first and last effective times
(without fetching it on a current server), and several REST documents read at once."""

from __future__ import annotations

from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import HEART_RATE, effective_start


def micros(row: dict[str, Any]) -> int:
    return int(effective_start(row["omh"]["body"]["effective_time_frame"]).value // 1000)


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_effective_range_is_the_first_and_last_start_or_none(legacy: bool) -> None:
    with FakeExchange(patients=3, days=2, seed=8, legacy=legacy) as fx:
        native = jhe.Client(fx.url, fx.token)._native
        study = fx.main_study_id
        starts = sorted(micros(row) for row in fx.expected_observations(study_id=study, code=HEART_RATE))
        assert native.effective_range(study_id=study, codes=HEART_RATE) == (starts[0], starts[-1])
        every = sorted(micros(row) for row in fx.expected_observations(study_id=study))
        assert native.effective_range({}, study_id=study) == (every[0], every[-1])
        assert native.effective_range({"until": "2000-01-01"}, study_id=study, codes=HEART_RATE) is None


def test_several_documents_come_in_the_order_asked_with_requests_in_flight_bounded() -> None:
    with FakeExchange(patients=12, days=1, latency_ms=30) as fx:
        client = jhe.Client(fx.url, fx.token, concurrency=3)
        patients = [int(p["id"]) for p in client.list_patients(study_id=fx.main_study_id).to_dict("records")]
        assert len(patients) > 3
        paths = [f"patients/{patient}/consents" for patient in patients]
        fx.reset_max_in_flight()
        documents = client._native.get_json_many(paths)
        assert 2 <= fx.max_in_flight <= 3
        assert documents == [client._native.get_json(path) for path in paths]
        assert client._native.get_json_many([]) == []


def test_a_document_that_fails_raises_naming_its_path(small_fx: FakeExchange) -> None:
    native = jhe.Client(small_fx.url, small_fx.token)._native
    with pytest.raises(jhe.NotFound, match="/api/v1/patients/999999/consents"):
        native.get_json_many(["users/profile", "patients/999999/consents", "users/profile"])
    with pytest.raises(jhe.JHEError, match="not an API path"):
        native.get_json_many(["../o/token"])
