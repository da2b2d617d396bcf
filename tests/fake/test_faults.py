"""The fake Exchange's fault injection (server errors, rate limits, latency, dropped
connections, rows inserted during a fetch), observed with plain ``urllib`` (no jhe client),
so these hold whatever the client does."""

from __future__ import annotations

import http.client
import time
import urllib.request
from collections import Counter

import pytest

from jhe.testing import FakeExchange

from tests.fake.helpers import call, study_search, token_grant


def test_error_rate_fails_about_that_share_with_a_proxy_page() -> None:
    with FakeExchange(patients=2, days=1, seed=1, error_rate=0.3, error_status=502) as fx:
        statuses = [call(f"{fx.url}/api/v1/users/profile", fx.token).status for _ in range(100)]
        failed = statuses.count(502)
        assert 12 <= failed <= 50, statuses
        assert set(statuses) == {200, 502}
        page = call(f"{fx.url}/api/v1/users/profile", fx.token)
        while page.status != 502:
            page = call(f"{fx.url}/api/v1/users/profile", fx.token)
        assert page.headers["Content-Type"].startswith("text/html")
        assert b"502 Bad Gateway" in page.body
        faults = Counter(r["fault"] for r in fx.requests())
        assert faults["error"] == failed + 1
        # The same seed fails the same requests.
        with FakeExchange(patients=2, days=1, seed=1, error_rate=0.3, error_status=502) as twin:
            replay = [call(f"{twin.url}/api/v1/users/profile", twin.token).status for _ in range(100)]
        assert replay == statuses


def test_faults_spare_discovery_and_ground_truth() -> None:
    with FakeExchange(patients=2, days=1, error_rate=1.0) as fx:
        assert call(study_search(fx), fx.token).status == 503
        assert call(f"{fx.url}/api/v1/observations", fx.token).status == 503
        assert call(f"{fx.url}/o/.well-known/openid-configuration").status == 200
        assert fx.expected_observations(study_id=fx.main_study_id)
        assert token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key).status == 503


def test_every_nth_request_is_429_with_retry_after() -> None:
    with FakeExchange(patients=2, days=1, rate_limit_every=4, retry_after_s=3) as fx:
        answers = [call(study_search(fx), fx.token) for _ in range(12)]
        assert [a.status for a in answers] == [200, 200, 200, 429] * 3
        for a in answers[3::4]:
            assert a.headers["Retry-After"] == "3"
            assert "throttled" in a.json()["detail"]
        assert [r["fault"] for r in fx.requests()].count("rate_limit") == 3


def test_latency_delays_api_responses() -> None:
    with FakeExchange(patients=1, days=1, latency_ms=300) as fx:
        started = time.monotonic()
        assert call(f"{fx.url}/api/v1/users/profile", fx.token).status == 200
        assert time.monotonic() - started >= 0.3  # a lower bound: the sleep happened



def test_dropped_connections_break_mid_response() -> None:
    with FakeExchange(patients=2, days=1, drop_connection_rate=1.0) as fx:
        for url in [study_search(fx), f"{fx.url}/api/v1/users/profile"]:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {fx.token}"})
            with pytest.raises((http.client.IncompleteRead, http.client.HTTPException, OSError)):
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
        assert [(r["status"], r["fault"]) for r in fx.requests()] == [(200, "drop_connection")] * 2


def test_insert_during_fetch_changes_the_total_after_the_first_page() -> None:
    with FakeExchange(patients=2, days=1, insert_during_fetch=5) as fx:
        before = len(fx.expected_observations(study_id=fx.main_study_id))
        count = call(study_search(fx, "&_summary=count"), fx.token).json()
        assert count["total"] == before, "a count-only search does not trigger it"
        page1 = call(study_search(fx, "&_sort=-_lastUpdated"), fx.token).json()
        assert page1["total"] == before
        nxt = next(link["url"] for link in page1["link"] if link["relation"] == "next")
        page2 = call(nxt, fx.token).json()
        assert page2["total"] == before + 5
        newest = fx.expected_observations(study_id=fx.main_study_id)
        assert len(newest) == before + 5
        ids1 = [int(e["resource"]["id"]) for e in page1["entry"]]
        ids2 = [int(e["resource"]["id"]) for e in page2["entry"]]
        assert set(ids1) & set(ids2), "rows shifted: page 2 repeats rows of page 1"
        assert min(e["id"] for e in newest[:5]) > max(ids1)
        assert [r["fault"] for r in fx.requests()].count("insert_during_fetch") == 1
        again = call(study_search(fx), fx.token).json()
        assert again["total"] == before + 5, "only once"

