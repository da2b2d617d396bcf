"""Tokens under faults: each attempt sends the token current then (a retry after a long
`Retry-After` does not reuse an expired one), a rejected token is renewed as often as the
server rejects fresh ones (a few times in a row at most), and no token response, however
odd, panics."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, Request


@pytest.mark.parametrize("credentials", ["client_key", "refresh_token"])
def test_a_fetch_through_expiring_tokens_errors_and_rate_limits(credentials: str) -> None:
    with FakeExchange(patients=20, days=14, seed=0, error_rate=0.1, rate_limit_every=7, token_ttl_s=1) as fx:
        client = jhe.Client(fx.url, **{credentials: getattr(fx, credentials)})
        obs = client.fetch(study_id=fx.main_study_id, progress=False)
        assert sum(row["observations"] for row in obs.summary()) == len(fx.expected_observations(study_id=fx.main_study_id))
        faults = Counter(r["fault"] for r in fx.requests())
    assert faults["rate_limit"] and faults["error"]


@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=6) as exchange:
        yield exchange


def minting(small: FakeExchange, **response: Any) -> Reply:
    """A token response handing out the fake's own token, so the fake accepts it."""
    return Reply.json({"access_token": small.token, "token_type": "Bearer", **response})


@pytest.mark.parametrize("expires_in", [1e19, 1e300, "3600", " 3600 ", 3600.5, -5, 0, "soon", None, [1], {"s": 1}])
def test_any_expires_in_is_accepted(small: FakeExchange, expires_in: Any) -> None:
    def answer(request: Request) -> Reply | None:
        return minting(small, expires_in=expires_in) if request.path == "/o/token/" else None

    with Hostile(answer, behind=small) as server:
        rows = jhe.Client(server.url, client_key=small.client_key).fetch_arrow(study_id=small.main_study_id, code=GLUCOSE)
    assert rows.num_rows == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))


@pytest.mark.parametrize(
    "body, why",
    [
        (b'{"token_type": "Bearer", "refresh_token": "rt-secret-1234"}', "no access_token"),
        (b'{"access_token": "", "refresh_token": "rt-secret-1234"}', "no access_token"),
        (b'{"access_token": 12345678, "refresh_token": "rt-secret-1234"}', "no access_token"),
        (b'{"access_token": "bad\\nvalue-rt-secret-1234"}', "header"),
        (b"access_token=rt-secret-1234", "not JSON"),
        (b"<html>rt-secret-1234</html>", "not JSON"),
    ],
)
def test_a_token_response_that_is_not_oauth2_is_a_protocol_error(body: bytes, why: str) -> None:
    def answer(request: Request) -> Reply | None:
        return Reply(200, body, {"Content-Type": "application/json"}) if request.path == "/o/token/" else Reply(404)

    with Hostile(answer) as server:
        with pytest.raises(jhe.ProtocolError, match=why) as caught:
            jhe.Client(server.url, client_key=_key(), retries=0).fetch(study_id=1, code=GLUCOSE)
    assert "rt-secret" not in str(caught.value)


def _key() -> str:
    import base64

    return base64.b64encode(b"an-id:a-secret").decode()


def test_a_retry_after_a_long_wait_takes_a_fresh_token(small: FakeExchange) -> None:
    """Tokens live 1.5 s; the first two searches are told to come back in 2 s. An attempt
    that reused the token it was first sent with would be rejected."""
    lifetime = 1.5
    issued: list[float] = []
    limited: list[str] = []
    rejected: list[str] = []
    lock = threading.Lock()

    def answer(request: Request) -> Reply | None:
        with lock:
            if request.path == "/o/token/":
                issued.append(time.monotonic())
                return minting(small, expires_in=lifetime)
            if "Observation" not in request.path:
                return None
            # The same text each time: the server tells tokens apart by when it issued them.
            if time.monotonic() - issued[-1] > lifetime:
                rejected.append(request.target)
                return Reply.json({"detail": "token expired"}, status=401)
            if len(limited) < 2:
                limited.append(request.target)
                return Reply(429, b"", {"Retry-After": "2"})
            return None

    with Hostile(answer, behind=small) as server:
        rows = jhe.Client(server.url, client_key=small.client_key, concurrency=1).fetch_arrow(
            study_id=small.main_study_id, code=GLUCOSE
        )
    assert rows.num_rows == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))
    assert len(limited) == 2 and rejected == []
    assert len(issued) >= 3


def test_a_token_rejected_again_and_again_is_renewed_each_time(small: FakeExchange) -> None:
    """The first three searches are refused whatever token they carry; the fourth passes."""
    refused: list[str] = []

    def answer(request: Request) -> Reply | None:
        if request.path == "/o/token/":
            return minting(small, expires_in=3600)
        if "Observation" in request.path and len(refused) < 3:
            refused.append(request.headers["authorization"])
            return Reply.json({"detail": "Authentication credentials were not provided."}, status=401)
        return None

    with Hostile(answer, behind=small) as server:
        rows = jhe.Client(server.url, client_key=small.client_key).fetch_arrow(study_id=small.main_study_id, code=GLUCOSE)
        tokens = server.paths().count("/o/token/")
    assert rows.num_rows == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))
    assert len(refused) == 3 and tokens == 4


def test_a_server_rejecting_every_fresh_token_is_asked_a_bounded_number_of_times() -> None:
    def answer(request: Request) -> Reply | None:
        if request.path == "/o/token/":
            return Reply.json({"access_token": f"fresh-{len(server.requests)}", "expires_in": 3600})
        return Reply.json({"detail": "Invalid token."}, status=401)

    with Hostile(answer) as server:
        with pytest.raises(jhe.AuthenticationError, match="Invalid token"):
            jhe.Client(server.url, client_key=_key()).fetch(study_id=1, code=GLUCOSE)
        assert 2 <= server.paths().count("/o/token/") <= 5
        # metadata and the first page asked at once, each tried at most four times
        assert len(server.requests) <= 2 * 4 + 5


def test_a_static_token_is_not_renewed() -> None:
    with Hostile(lambda request: Reply.json({"detail": "Invalid token."}, status=401)) as server:
        with pytest.raises(jhe.AuthenticationError):
            jhe.Client(server.url, "a-static-token").fetch(study_id=1, code=GLUCOSE)
        assert "/o/token/" not in server.paths()
        # metadata, and the first page asked alongside it: neither retried
        assert len(server.requests) <= 2
