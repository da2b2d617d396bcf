"""The fake Exchange's request log: what each request was, without credentials."""

from __future__ import annotations

from jhe.testing import FakeExchange

from tests.fake.helpers import call, token_grant


def test_the_request_log_has_no_credentials_and_clears() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        call(f"{fx.url}/api/v1/users/profile", fx.token)
        call(f"{fx.url}/api/v1/studies?access_token={fx.token}")
        token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key)
        log = fx.requests()
        assert [(r["method"], r["path"], r["status"]) for r in log] == [
            ("GET", "/api/v1/users/profile", 200),
            ("GET", "/api/v1/studies", 401),
            ("POST", "/o/token/", 200),
        ]
        assert log[1]["query"] == "access_token=REDACTED"
        for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
            assert secret not in str(log)
            assert secret not in repr(fx)
            assert secret not in repr(fx._native)
        fx.clear_requests()
        assert fx.requests() == []

