"""The study lookups of the quality report and of an empty result's explanation, against a
server whose answers to them are not what the API promises: a clear error or a stated
inability, never a traceback from deep inside."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.hostile.server import Hostile, Reply


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=3, days=2, seed=2) as exchange:
        yield exchange


def garbling(fragment: str, body: bytes) -> object:
    def answer(request: object) -> Reply | None:
        return Reply(200, body, {"Content-Type": "application/json"}) if fragment in request.path else None  # type: ignore[attr-defined]

    return answer


@pytest.mark.parametrize("body", [b"not json", b"[1, 2, 3]"])
def test_consents_that_are_not_a_document_are_a_protocol_error(fx: FakeExchange, body: bytes) -> None:
    with Hostile(garbling("/consents", body), behind=fx) as hostile:  # type: ignore[arg-type]
        client = jhe.Client(hostile.url, fx.token)
        with pytest.raises(jhe.ProtocolError, match=r"patients/4000\d/consents is not a JSON object"):
            client.quality(fx.main_study_id, "omh:blood-glucose:4.0")


def test_consents_without_the_study_count_as_not_consented(fx: FakeExchange) -> None:
    with Hostile(garbling("/consents", b'{"results": []}'), behind=fx) as hostile:  # type: ignore[arg-type]
        report = jhe.Client(hostile.url, fx.token).quality(fx.main_study_id, "omh:blood-glucose:4.0")
    assert set(report.completeness["status"]) == {"not consented"}


def test_scope_requests_that_are_garbage_are_a_protocol_error(fx: FakeExchange) -> None:
    with Hostile(garbling("/scope_requests", b"<html>oops</html>"), behind=fx) as hostile:  # type: ignore[arg-type]
        client = jhe.Client(hostile.url, fx.token)
        with pytest.raises(jhe.ProtocolError, match="studies/30001/scope_requests is not a JSON array"):
            client.quality(fx.main_study_id)


def test_an_empty_result_whose_cause_cannot_be_read_says_so(fx: FakeExchange) -> None:
    with Hostile(garbling("/scope_requests", b"oops"), behind=fx) as hostile:  # type: ignore[arg-type]
        client = jhe.Client(hostile.url, fx.token)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obs = client.fetch(study_id=fx.main_study_id, since="2030-01-01")
    assert obs.total == 0
    assert obs.source["empty_cause"] == "no_data"
    assert "jhe could not look up why" in obs.source["empty_reason"]
    assert any(issubclass(w.category, jhe.EmptyResultWarning) for w in caught)
