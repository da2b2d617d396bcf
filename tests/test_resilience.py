"""A real Exchange is slow and sometimes fails: retries, token renewal, interruption,
and no secret ever shown."""

from __future__ import annotations

import _thread
import logging
import threading
import time
from collections import Counter

import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import observation_ids

GLUCOSE = "omh:blood-glucose:4.0"
BLOOD_PRESSURE = "omh:blood-pressure:4.0"


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
        assert len(fx.requests()) == 3, "the first attempt and two retries"
        fx.clear_requests()
        with pytest.raises(jhe.ServerError):
            jhe.Client(fx.url, fx.token, retries=0).fetch_dataframe(study_id=fx.main_study_id)
        assert len(fx.requests()) == 1


def test_no_retry_for_permission_errors(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    client.fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)  # learns the generation
    fx.clear_requests()
    with pytest.raises(jhe.PermissionDenied, match=f"Group/{fx.hidden_study_id}"):
        client.fetch_dataframe(study_id=fx.hidden_study_id, code=BLOOD_PRESSURE)
    assert [r["status"] for r in fx.requests()] == [403]


def test_unreachable_server_is_a_transport_error() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        url, token = fx.url, fx.token
    with pytest.raises(jhe.TransportError) as caught:
        jhe.Client(url, token, retries=1, timeout=5).fetch_dataframe(study_id=30001)
    assert caught.value.url is not None and caught.value.url.startswith(url)


def test_a_static_token_that_expires_is_an_authentication_error() -> None:
    with FakeExchange(patients=1, days=1, token_ttl_s=1) as fx:
        client = jhe.Client(fx.url, fx.token)
        time.sleep(1.5)
        with pytest.raises(jhe.AuthenticationError) as caught:
            client.fetch_dataframe(study_id=fx.main_study_id)
        assert caught.value.status == 401
        assert fx.token not in str(caught.value)


def test_client_id_and_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeExchange(patients=2, days=1, token_ttl_s=60) as fx:
        monkeypatch.delenv("JHE_TOKEN", raising=False)
        monkeypatch.setenv("JHE_URL", fx.url)
        monkeypatch.setenv("JHE_CLIENT_ID", fx.client_id)
        monkeypatch.setenv("JHE_CLIENT_SECRET", fx.client_secret)
        client = jhe.Client()
        assert "client_credentials" in repr(client)
        assert len(observation_ids(client.fetch_dataframe(study_id=fx.main_study_id))) == len(
            fx.expected_observations(study_id=fx.main_study_id)
        )
        assert client.profile()["id"] == fx.directory["user_id"]
        monkeypatch.setenv("JHE_CLIENT_SECRET", "wrong")
        with pytest.raises(jhe.AuthenticationError, match="invalid_client") as caught:
            jhe.Client().profile()
        assert fx.client_secret not in str(caught.value)


def test_refresh_tokens_rotate() -> None:
    with FakeExchange(patients=2, days=1, token_ttl_s=2) as fx:
        client = jhe.Client(fx.url, refresh_token=fx.refresh_token)
        first = client.fetch_dataframe(study_id=fx.main_study_id)
        time.sleep(2.2)  # the access token has expired: the next call refreshes again
        second = client.fetch_dataframe(study_id=fx.main_study_id)
        assert first["observation_id"].tolist() == second["observation_id"].tolist()
        grants = [r for r in fx.requests() if r["path"] == "/o/token/" and r["status"] == 200]
        assert len(grants) >= 2


def test_keyboard_interrupt_cancels_a_fetch_and_leaves_the_client_usable() -> None:
    with FakeExchange(patients=3, days=2, latency_ms=400) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=50, concurrency=1)
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.fetch_dataframe(study_id=fx.main_study_id)
        timer.join()
        assert time.monotonic() - started < 30  # not a timing claim: a hang would fail here
        df = client.fetch_dataframe(patient_id=fx.directory["visible_patient_ids"][0], code=BLOOD_PRESSURE)
        assert len(df) == len(
            fx.expected_observations(patient_id=fx.directory["visible_patient_ids"][0], code=BLOOD_PRESSURE)
        )


def test_no_secret_in_reprs_or_errors() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        for client in [
            jhe.Client(fx.url, fx.token),
            jhe.Client(fx.url, client_key=fx.client_key),
            jhe.Client(fx.url, client_id=fx.client_id, client_secret=fx.client_secret),
            jhe.Client(fx.url, refresh_token=fx.refresh_token),
        ]:
            for text in [repr(client), repr(client._native), str(vars(client))]:
                for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
                    assert secret not in text
        with pytest.raises(jhe.AuthenticationError) as caught:
            jhe.Client(fx.url, client_id=fx.client_id, client_secret="not-" + fx.client_secret).profile()
        assert fx.client_secret not in str(caught.value)
        for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
            assert secret not in repr(fx)
        assert all(fx.token not in str(r) for r in fx.requests())


def test_listing_calls(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    patients = client.list_patients(study_id=fx.main_study_id)
    assert sorted(patients["id"]) == sorted(fx.directory["patients_by_study"][fx.main_study_id])
    studies = client.list_studies()
    assert set(studies["id"]) == set(fx.directory["visible_study_ids"])
    assert set(studies["organizationId"]) <= set(fx.directory["organization_ids"])
    organizations = client.list_organizations()
    assert set(fx.directory["member_organization_ids"]) <= set(organizations["id"])
    patient = client.get_patient(int(patients["id"].iloc[0]))
    assert patient["id"] == patients["id"].iloc[0]
    consents = client.get_consents(patient["id"])
    assert consents["patient"]["id"] == patient["id"]
    assert client.profile()["id"] == fx.directory["user_id"]
    with pytest.raises(jhe.NotFound):
        client.get_patient(1)
    with pytest.raises(jhe.PermissionDenied):
        client._get(f"studies/{fx.hidden_study_id}")


def test_gzip_responses_are_decoded() -> None:
    import gzip
    import urllib.request

    with FakeExchange(patients=3, days=2, gzip=True) as fx:
        request = urllib.request.Request(
            f"{fx.url}/api/v1/observations?page_size=50",
            headers={"Authorization": f"Bearer {fx.token}", "Accept-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()).startswith(b"{")
        df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)
        assert observation_ids(df) == [row["id"] for row in fx.expected_observations(study_id=fx.main_study_id)]
