"""A real Exchange is slow and sometimes fails: server errors, rate limits and dropped
connections are retried, a bounded number of times, and permission errors are not."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE, GLUCOSE, observation_ids


def statuses(fx: FakeExchange) -> Counter[int]:
    return Counter(r["status"] for r in fx.requests())


def test_a_large_fetch_survives_errors_rate_limits_and_token_expiry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jhe")
    with FakeExchange(
        patients=35, days=30, seed=3, error_rate=0.1, rate_limit_every=15, retry_after_s=1, token_ttl_s=3
    ) as fx:
        client = jhe.Client(fx.url, client_key=fx.client_key, retries=8)
        df = client.fetch_dataframe(study_id=fx.main_study_id, api="fhir")
        expected = fx.expected_observations(study_id=fx.main_study_id)
        assert len(expected) >= 100_000
        assert observation_ids(df) == [row["id"] for row in expected]
        seen = statuses(fx)
        assert seen[503] > 0 and seen[429] > 0, "the faults were really injected"
        token_requests = [r for r in fx.requests() if r["path"] == "/o/token/"]
        assert len(token_requests) >= 2, "the token expired during the fetch and was renewed"
        secrets = [fx.client_secret, fx.client_key, fx.token, fx.refresh_token]
    assert "retrying" in caplog.text and "new access token" in caplog.text
    for secret in secrets:
        assert secret not in caplog.text


def test_dropped_connections_are_retried() -> None:
    with FakeExchange(patients=4, days=3, seed=4, drop_connection_rate=0.2) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=100)
        df = client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE)
        assert df["observation_id"].tolist() == [
            row["id"] for row in fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)
        ]
        assert any(r["fault"] for r in fx.requests())


def test_retries_are_bounded_and_server_errors_reported() -> None:
    with FakeExchange(patients=2, days=1, error_rate=1.0, error_status=503) as fx:
        fx.clear_requests()
        with pytest.raises(jhe.ServerError) as caught:
            jhe.Client(fx.url, fx.token, retries=2).fetch_dataframe(study_id=fx.main_study_id)
        assert caught.value.status == 503
        metadata = [r for r in fx.requests() if r["path"] == "/FHIR/R5/metadata"]
        assert len(metadata) == 3, "the first attempt and two retries"
        # the first page, asked alongside metadata, is retried as boundedly
        assert len(fx.requests()) <= 2 * 3
        fx.clear_requests()
        with pytest.raises(jhe.ServerError):
            jhe.Client(fx.url, fx.token, retries=0).fetch_dataframe(study_id=fx.main_study_id)
        assert [r["path"] for r in fx.requests()].count("/FHIR/R5/metadata") == 1
        assert len(fx.requests()) <= 2


def test_no_retry_for_permission_errors(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    client.fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)  # learns the generation
    fx.clear_requests()
    with pytest.raises(jhe.PermissionDenied, match=f"Group/{fx.hidden_study_id}"):
        client.fetch_dataframe(study_id=fx.hidden_study_id, code=BLOOD_PRESSURE)
    assert [r["status"] for r in fx.requests()] == [403]
