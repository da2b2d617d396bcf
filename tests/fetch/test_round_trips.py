"""A slow server costs round trips: jhe asks ``metadata`` and the first page at once, and
raises the pages in flight from ``concurrency`` towards ``max_concurrency`` while the
server keeps up, backing off when it answers 429. The fake counts the requests in flight
and numbers arrivals and answers, so these tests read no clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["arrived"] < b["answered"] and b["arrived"] < a["answered"])


def glucose_ids(client: jhe.Client, fx: FakeExchange) -> tuple[list[int], list[int]]:
    rows = client.fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE)
    got = sorted(rows.column("observation_id").to_pylist())
    expected = sorted(row["id"] for row in fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE))
    return got, expected


@pytest.fixture()
def slow_fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=3, seed=5, latency_ms=40) as fx:
        yield fx


def test_pages_in_flight_rise_above_the_start_and_never_past_the_ceiling(slow_fx: FakeExchange) -> None:
    client = jhe.Client(slow_fx.url, slow_fx.token, page_size=10, concurrency=2, max_concurrency=6)
    assert (client._native.concurrency, client._native.max_concurrency) == (2, 6)
    got, expected = glucose_ids(client, slow_fx)
    assert got == expected and len(expected) > 400
    # the pages in flight, and the count asked alongside them
    assert 2 + 1 < slow_fx.max_in_flight <= 6 + 1
    slow_fx.reset_max_in_flight()
    assert slow_fx.max_in_flight == 0


def test_a_fixed_concurrency_stays_fixed(slow_fx: FakeExchange) -> None:
    client = jhe.Client(slow_fx.url, slow_fx.token, page_size=10, concurrency=3, max_concurrency=3)
    got, expected = glucose_ids(client, slow_fx)
    assert got == expected
    assert slow_fx.max_in_flight <= 3 + 1


def test_a_server_throttling_above_a_few_in_flight_is_still_read_exactly() -> None:
    with FakeExchange(patients=2, days=3, seed=5, latency_ms=20, rate_limit_above=3, retry_after_s=0) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=10, concurrency=8, retries=10)
        got, expected = glucose_ids(client, fx)
        throttled = [r for r in fx.requests() if r["status"] == 429]
    assert got == expected
    assert throttled and all(r["fault"] == "rate_limit" for r in throttled)


def test_a_request_waiting_to_retry_gives_its_place_in_flight_back() -> None:
    # Eight retrying at once against a server serving two would keep it crowded and fail
    # within three retries; backing off as the first 429s arrive lets them through.
    with FakeExchange(patients=2, days=3, seed=5, latency_ms=20, rate_limit_above=2, retry_after_s=0) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=10, concurrency=8, retries=3)
        got, expected = glucose_ids(client, fx)
        throttled = [r for r in fx.requests() if r["status"] == 429]
    assert got == expected and throttled


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_metadata_and_the_first_page_are_asked_at_once(legacy: bool) -> None:
    with FakeExchange(patients=1, days=2, seed=5, latency_ms=100, legacy=legacy) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=50)
        got, expected = glucose_ids(client, fx)
        log = fx.requests()
        fx.clear_requests()
        again, _ = glucose_ids(client, fx)
        second = fx.requests()
    assert got == expected == again
    metadata = next(r for r in log if r["path"] == "/FHIR/R5/metadata")
    guessed = next(r for r in log if r["path"] == "/FHIR/R5/Observation")
    assert overlap(metadata, guessed)
    # on an older server: 404, or 499 when jhe dropped it on learning the generation first
    assert (metadata["status"], guessed["status"]) in ([(404, 404), (404, 499)] if legacy else [(200, 200)])
    if legacy:
        own = [r for r in log if r["path"] == "/fhir/r5/Observation"]
        assert own and all(r["status"] == 200 and r["arrived"] > metadata["answered"] for r in own)
    assert all(r["path"] != "/FHIR/R5/metadata" for r in second), "the generation is asked once per client"


@pytest.mark.parametrize("value", [0, 65, "8"])
def test_max_concurrency_is_checked(value: Any) -> None:
    with pytest.raises((jhe.ConfigurationError, TypeError, ValueError)):
        jhe.Client("https://jhe.example.org", "t", concurrency=8, max_concurrency=value)


def test_max_concurrency_below_concurrency_is_refused() -> None:
    with pytest.raises(jhe.ConfigurationError, match="max_concurrency must be between concurrency"):
        jhe.Client("https://jhe.example.org", "t", concurrency=8, max_concurrency=4)
