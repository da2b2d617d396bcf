"""Why a fetch is empty: each cause against the fake Exchange, with the lookups made only
for an empty result."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

GLUCOSE = "omh:blood-glucose:4.0"
STEPS = "omh:step-count:3.0"
MAIN, BP = 30001, 30002


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=6, days=7, seed=3, quality_problems=True) as exchange:
        yield exchange


@pytest.fixture(scope="module")
def client(fx: FakeExchange) -> jhe.Client:
    return jhe.Client(fx.url, fx.token)


def empty(client: jhe.Client, **query: Any) -> tuple[jhe.Observations, str]:
    """The fetch's result and its one EmptyResultWarning's message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obs = client.fetch(progress=False, **query)
    messages = [str(w.message) for w in caught if issubclass(w.category, jhe.EmptyResultWarning)]
    assert obs.total == 0
    assert len(messages) == 1, messages
    assert messages[0] == f"no observations: {obs.source['empty_reason']}"
    return obs, messages[0]


def patients_with(fx: FakeExchange, status: str, code: str) -> list[int]:
    return sorted(p for p, codes in fx.expected_consent(MAIN).items() if codes[code] == status)


def test_a_misspelled_code_gets_the_nearest_catalogue_code(client: jhe.Client) -> None:
    obs, message = empty(client, study_id=MAIN, code="omh:blood-glucoze:4.0")
    assert obs.source["empty_cause"] == "unknown_code"
    assert message.endswith("did you mean omh:blood-glucose:4.0?")
    assert "nor among study 30001's requested scopes" in message


def test_a_code_the_study_requests_is_not_unknown(fx: FakeExchange) -> None:
    # Unknown to jhe's catalogue, but requested by the study: its emptiness has another cause.
    with FakeExchange(patients=2, days=1, unknown_codes=True) as other:
        obs, _ = empty(jhe.Client(other.url, other.token), study_id=MAIN, code="omh:ambient-sound:1.0", since="2030-01-01")
    assert obs.source["empty_cause"] == "no_data_in_range"


def test_a_patient_not_enrolled_in_the_study(fx: FakeExchange, client: jhe.Client) -> None:
    outside = sorted(set(fx.directory["visible_patient_ids"]) - set(fx.directory["patients_by_study"][BP]))[0]
    # The REST list answers such a query with nothing; FHIR refuses it, in the server's words.
    obs, message = empty(client, study_id=BP, patient_id=outside, api="rest")
    assert obs.source["empty_cause"] == "not_enrolled"
    assert message.endswith(f"patient {outside} is not enrolled in study {BP}")
    with pytest.raises(jhe.PermissionDenied, match="not part of the specified Study"):
        client.fetch(study_id=BP, patient_id=outside, api="fhir")


def test_an_unknown_patient_is_refused_by_the_server_itself(client: jhe.Client) -> None:
    with pytest.raises(jhe.PermissionDenied, match="Patient/49999"):
        client.fetch(patient_id=49_999)
    with pytest.raises(jhe.NotFound, match="patients/49999"):
        client.fetch(patient_id=49_999, api="rest")


def test_a_code_the_study_does_not_request(client: jhe.Client) -> None:
    obs, message = empty(client, study_id=BP, code=GLUCOSE)
    assert obs.source["empty_cause"] == "code_not_requested"
    assert "study 30002 does not request omh:blood-glucose:4.0 (it requests omh:blood-pressure:4.0, omh:heart-rate:2.0)" in message


def test_consent_pending(fx: FakeExchange, client: jhe.Client) -> None:
    (patient,) = patients_with(fx, "consent pending", GLUCOSE)
    obs, message = empty(client, study_id=MAIN, patient_id=patient, code=GLUCOSE)
    assert obs.source["empty_cause"] == "consent_pending"
    assert message.endswith(f"patient {patient}'s consent to study {MAIN} is pending")


def test_not_consented(fx: FakeExchange, client: jhe.Client) -> None:
    (patient,) = patients_with(fx, "not consented", GLUCOSE)
    obs, message = empty(client, study_id=MAIN, patient_id=patient, code=GLUCOSE)
    assert obs.source["empty_cause"] == "not_consented"
    assert message.endswith(f"patient {patient} has not consented to share {GLUCOSE} with study {MAIN}")


def test_no_data_in_the_time_range_gives_the_patients_actual_times(fx: FakeExchange, client: jhe.Client) -> None:
    patient = patients_with(fx, "has data", STEPS)[0]
    everything = client.fetch_polars(study_id=MAIN, patient_id=patient, code=STEPS)
    first, last = everything["effective_start"].min(), everything["effective_start"].max()
    obs, message = empty(client, study_id=MAIN, patient_id=patient, code=STEPS, since="2030-01-01")
    assert obs.source["empty_cause"] == "no_data_in_range"
    assert message.endswith(f"its data runs from {first:%Y-%m-%d %H:%M:%S} UTC to {last:%Y-%m-%d %H:%M:%S} UTC")
    assert "since=2030-01-01" in message


def test_no_data_at_all(fx: FakeExchange) -> None:
    with FakeExchange(patients=2, days=3, seed=4) as other:
        client = jhe.Client(other.url, other.token)
        patient = other.directory["visible_patient_ids"][0]
        steps = client.fetch_polars(study_id=MAIN, patient_id=patient, code=STEPS)
        assert steps.height > 0
        other.delete_observations(steps["observation_id"].to_list())
        obs, message = empty(client, study_id=MAIN, patient_id=patient, code=STEPS)
    assert obs.source["empty_cause"] == "no_data"
    assert message.endswith(f"patient {patient} has no {STEPS} on the Exchange")


def test_the_reason_reaches_pandas_attrs_and_the_async_fetch(fx: FakeExchange, client: jhe.Client) -> None:
    with pytest.warns(jhe.EmptyResultWarning, match="does not request"):
        df = client.fetch_dataframe(study_id=BP, code=GLUCOSE)
    assert df.attrs["jhe_source"]["empty_cause"] == "code_not_requested"
    with pytest.warns(jhe.EmptyResultWarning, match="does not request"):
        obs = asyncio.run(client.fetch_async(study_id=BP, code=GLUCOSE))
    assert obs.source["empty_cause"] == "code_not_requested"


def test_the_warning_points_at_the_callers_line(fx: FakeExchange, client: jhe.Client) -> None:
    # Not at a line inside jhe (its argument checks and audit wrap every fetch method).
    for fetch in (client.fetch, client.fetch_dataframe, jhe.Client(fx.url, fx.token, audit_log=None).fetch_polars):
        with pytest.warns(jhe.EmptyResultWarning) as caught:
            fetch(study_id=BP, code=GLUCOSE)
        assert {w.filename for w in caught} == {__file__}, fetch


def test_a_result_with_rows_asks_nothing_more(fx: FakeExchange, client: jhe.Client) -> None:
    fx.clear_requests()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jhe.EmptyResultWarning)
        obs = client.fetch(study_id=MAIN, code=STEPS)
    assert obs.total > 0 and "empty_reason" not in obs.source
    paths = [r["path"] for r in fx.requests()]
    assert not [p for p in paths if "consents" in p or "scope_requests" in p or "/patients" in p], paths


def test_legacy_servers_are_explained_too() -> None:
    with FakeExchange(patients=3, days=2, legacy=True) as old:
        client = jhe.Client(old.url, old.token)
        patient = old.directory["visible_patient_ids"][0]
        obs, message = empty(client, study_id=MAIN, patient_id=patient, code=STEPS, since="2030-01-01")
    assert obs.source["empty_cause"] == "no_data_in_range"
    assert "its data runs from" in message


class _NoPatients:
    """A native client whose study has no patients and requests glucose."""

    def get_json(self, path: str) -> str:
        return '[{"id": 1, "study": {"id": 7}, "scopeCode": {"codingCode": "omh:blood-glucose:4.0"}}]'

    def list_json(self, path: str, params: list[tuple[str, str]]) -> str:
        return "[]"


def test_a_study_without_patients() -> None:
    from jhe._empty import explain

    assert explain(_NoPatients(), 7, None, [GLUCOSE], {}) == ("no_patients", "study 7 has no patients enrolled")  # type: ignore[arg-type]
