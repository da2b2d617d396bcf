"""The fake Exchange's authentication: bearer tokens on every API path, the token endpoint's
grants, expiry and refresh rotation, observed with plain ``urllib`` (no jhe client)."""

from __future__ import annotations

import base64
import time

from jhe.testing import FakeExchange

from tests.fake.helpers import call, study_search, token_grant
from tests.helpers import http_get


def test_requests_without_a_valid_token_get_401(fx: FakeExchange) -> None:
    for path in ["/FHIR/R5/Observation", "/api/v1/observations", "/api/v1/users/profile"]:
        assert http_get(fx.url + path, None)[0] == 401
        assert http_get(fx.url + path, "not-the-token")[0] == 401
        assert http_get(fx.url + path, fx.token)[0] == 200


def test_a_token_expires_and_client_credentials_mint_a_working_one() -> None:
    with FakeExchange(patients=1, days=1, token_ttl_s=1) as fx:
        profile = f"{fx.url}/api/v1/users/profile"
        assert call(profile, fx.token).status == 200
        time.sleep(1.2)
        expired = call(profile, fx.token)
        assert (expired.status, expired.json()) == (401, {"detail": "Authentication credentials were not provided."})
        assert fx.requests()[-1]["fault"] == "token_expired"
        assert call(study_search(fx), fx.token).status == 401

        grant = token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key)
        assert grant.status == 200
        body = grant.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 1
        assert "refresh_token" not in body
        assert call(profile, body["access_token"]).status == 200
        assert base64.b64decode(fx.client_key).decode() == f"{fx.client_id}:{fx.client_secret}"
        form = {"grant_type": "client_credentials", "client_id": fx.client_id, "client_secret": fx.client_secret}
        assert call(profile, token_grant(fx, form).json()["access_token"]).status == 200

        wrong = token_grant(fx, {**form, "client_secret": "wrong"})
        assert (wrong.status, wrong.json()) == (401, {"error": "invalid_client"})
        password = token_grant(fx, {"grant_type": "password", "username": "u", "password": "p"}, fx.client_key)
        assert (password.status, password.json()) == (400, {"error": "unauthorized_client"})
        bogus = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": "bogus"})
        assert (bogus.status, bogus.json()) == (400, {"error": "invalid_grant"})


def test_refresh_rotates_and_revokes_the_replaced_token() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        profile = f"{fx.url}/api/v1/users/profile"
        first = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": fx.refresh_token})
        assert first.status == 200
        pair = first.json()
        assert set(pair) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
        assert pair["expires_in"] == 1_209_600
        assert call(profile, fx.token).status == 401, "refreshing revokes the access token it replaces"
        assert call(profile, pair["access_token"]).status == 200
        reused = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": fx.refresh_token})
        assert (reused.status, reused.json()) == (400, {"error": "invalid_grant"})
        second = token_grant(
            fx, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "client_id": fx.client_id}
        ).json()
        assert call(profile, pair["access_token"]).status == 401
        assert call(profile, second["access_token"]).status == 200

