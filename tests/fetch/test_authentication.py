"""Credentials during a fetch: an expired static token, client credentials from the
environment, refresh tokens that rotate."""

from __future__ import annotations

import time

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import observation_ids


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
