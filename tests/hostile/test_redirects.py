"""Redirects: followed only on the configured origin (scheme, host and port), never from
the token endpoint, so neither a query nor a credential reaches another server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, bundle

REDIRECTS = [301, 302, 303, 307, 308]


@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=3) as exchange:
        yield exchange


@pytest.fixture
def elsewhere() -> Iterator[Hostile]:
    """Another origin (same host, another port) that would mint tokens and serve rows."""

    def answer(request):  # type: ignore[no-untyped-def]
        if request.path.endswith("/o/token/"):
            return Reply.json({"access_token": "minted-elsewhere", "token_type": "Bearer", "expires_in": 3600})
        return Reply.json(bundle([], total=0))

    with Hostile(answer) as server:
        yield server


@pytest.mark.parametrize("status", REDIRECTS)
def test_the_token_endpoint_is_never_redirected_elsewhere(small: FakeExchange, elsewhere: Hostile, status: int) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if request.path == "/o/token/":
            return Reply.redirect(elsewhere.url + "/o/token/", status)
        return None

    with Hostile(answer, behind=small) as exchange:
        for options in [{"refresh_token": "the-refresh-token"}, {"client_key": small.client_key}]:
            with pytest.raises(jhe.ProtocolError, match="redirect") as caught:
                jhe.Client(exchange.url, retries=0, **options).fetch(study_id=small.main_study_id, code=GLUCOSE)
            assert "the-refresh-token" not in str(caught.value)
    assert elsewhere.requests == []


def test_the_token_endpoint_is_not_redirected_even_on_its_own_origin(small: FakeExchange) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if request.path == "/o/token/":
            return Reply.redirect("/o/token2/", 307)
        if request.path == "/o/token2/":
            return Reply.json({"access_token": small.token, "expires_in": 3600})
        return None

    with Hostile(answer, behind=small) as exchange:
        with pytest.raises(jhe.ProtocolError, match="token endpoint"):
            jhe.Client(exchange.url, client_key=small.client_key, retries=0).fetch(study_id=small.main_study_id)
        assert "/o/token2/" not in exchange.paths()


@pytest.mark.parametrize("status", REDIRECTS)
def test_api_requests_are_not_redirected_to_another_origin(small: FakeExchange, elsewhere: Hostile, status: int) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path:
            return Reply.redirect(elsewhere.url + request.target, status)
        return None

    with Hostile(answer, behind=small) as exchange:
        client = jhe.Client(exchange.url, small.token, retries=0)
        with pytest.raises(jhe.ProtocolError, match="another origin") as caught:
            client.fetch(study_id=small.main_study_id, patient_identifier=("http://hospital.example/mrn", "MRN-1"))
    assert elsewhere.url in str(caught.value)
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "https://127.0.0.1:{port}{target}",  # same host and port, another scheme
        "http://localhost:{port}{target}",  # another name for this host is another origin
        "http://127.0.0.1:{other}{target}",  # another port
    ],
)
def test_scheme_host_and_port_all_count(small: FakeExchange, target: str) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path:
            port = exchange.url.rsplit(":", 1)[1]
            return Reply.redirect(target.format(port=port, other=int(port) + 1, target=request.target), 302)
        return None

    with Hostile(answer, behind=small) as exchange:
        with pytest.raises(jhe.ProtocolError, match="another origin"):
            jhe.Client(exchange.url, small.token, retries=0).fetch(study_id=small.main_study_id, code=GLUCOSE)


def test_a_redirect_within_the_exchange_is_followed(small: FakeExchange) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path and "moved" not in request.query:
            return Reply.redirect(request.target + "&moved=1", 307)
        return None

    with Hostile(answer, behind=small) as exchange:
        rows = jhe.Client(exchange.url, small.token, retries=0).fetch_arrow(study_id=small.main_study_id, code=GLUCOSE)
        moved = [r for r in exchange.requests if "moved" in r.query]
    assert rows.num_rows == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))
    assert moved and all(r.headers.get("authorization") == f"Bearer {small.token}" for r in moved)


def test_a_redirect_loop_on_the_exchange_ends(small: FakeExchange) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path:
            return Reply.redirect(request.target, 302)
        return None

    with Hostile(answer, behind=small) as exchange:
        with pytest.raises(jhe.ProtocolError, match="redirects in a row"):
            jhe.Client(exchange.url, small.token, retries=0).fetch(study_id=small.main_study_id, code=GLUCOSE)
        assert sum("Observation" in path for path in exchange.paths()) <= 12
