"""Secrets jhe knows never show in the text it quotes: a server echoing the request in its
error (OAuth `error_description`, OperationOutcome `diagnostics`, DRF `detail`, an HTML
page), and URLs quoted in a ConfigurationError."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, Request

TOKEN = "static-token-5f2a9c"
REFRESH = "refresh-token-77e1b0"
CLIENT_ID, CLIENT_SECRET = "client-id-1", "client-secret-c0ffee"
CLIENT_KEY = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
SECRETS = [TOKEN, REFRESH, CLIENT_SECRET, CLIENT_KEY]


@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=4) as exchange:
        yield exchange


def echo(request: Request) -> str:
    """Everything the request carried, as a careless server quotes it back."""
    return f"{request.method} {request.target} Authorization: {request.headers.get('authorization')} body: {request.body.decode()}"


def caught_by(answer: Callable[[Request], Reply | None], behind: Any = None, **options: Any) -> tuple[str, Hostile]:
    """The text of the error a fetch through `answer` raises."""
    with Hostile(answer, behind=behind) as server:
        client = jhe.Client(server.url, retries=0, **options)
        with pytest.raises(jhe.JHEError) as caught:
            client.fetch(study_id=1, code=GLUCOSE)
    error = caught.value
    return " ".join(str(part) for part in [error, *error.args, error.diagnostics, error.url]), server


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} in {text!r}"
        assert secret.replace("=", "%3D") not in text


@pytest.mark.parametrize(
    "options",
    [
        {"refresh_token": REFRESH},
        {"refresh_token": REFRESH, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        {"client_key": CLIENT_KEY},
    ],
)
def test_an_oauth_error_description_echoing_the_request(options: dict[str, str]) -> None:
    def answer(request: Request) -> Reply | None:
        if request.path == "/o/token/":
            return Reply.json({"error": "invalid_grant", "error_description": echo(request)}, status=400)
        return Reply(404)

    text, server = caught_by(answer, **options)
    assert "invalid_grant" in text
    assert server.requests[-1].path == "/o/token/" and server.requests[-1].body
    assert_clean(text, SECRETS)


@pytest.mark.parametrize(
    "shape",
    [
        lambda said: Reply.json({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": said}]}, status=400),
        lambda said: Reply.json({"detail": said}, status=403),
        lambda said: Reply.json([said], status=400),
        lambda said: Reply(500, f"<html><head><title>{said}</title></head></html>".encode()),
        lambda said: Reply(502, said.encode()),
        # A 200 that is an OperationOutcome, not a Bundle.
        lambda said: Reply.json({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": said}]}),
    ],
)
def test_an_api_error_echoing_the_request(shape: Callable[[str], Reply]) -> None:
    def answer(request: Request) -> Reply | None:
        if "Observation" in request.path:
            return shape(echo(request) + f" ?access_token={TOKEN}&token={TOKEN}")
        return Reply(404)

    text, _ = caught_by(answer, token=TOKEN)
    assert_clean(text, [TOKEN])


def test_a_minted_token_echoed_back(small: FakeExchange) -> None:
    def answer(request: Request) -> Reply | None:
        if "Observation" in request.path:
            return Reply.json({"detail": f"token {request.headers['authorization']} and {echo(request)}"}, status=403)
        return None

    text, server = caught_by(answer, behind=small, client_key=small.client_key)
    minted = server.requests[-1].headers["authorization"].removeprefix("Bearer ")
    assert len(minted) > 8
    assert_clean(text, [minted, small.client_key, small.client_secret])


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pa55word-x@exa mple.org",
        "https://exa mple.org/?token=abc123secret",
        "htps://user:pa55word-x@jhe.example.org/?access_token=abc123secret",
        "ftp://user:pa55word-x@jhe.example.org/",
    ],
)
def test_configuration_errors_do_not_quote_credentials_in_urls(url: str) -> None:
    with pytest.raises(jhe.ConfigurationError) as caught:
        jhe.Client(url, token="t")
    assert_clean(str(caught.value), ["pa55word-x", "abc123secret"])


def test_configuration_errors_do_not_quote_the_secrets_given() -> None:
    with pytest.raises(jhe.ConfigurationError) as caught:
        jhe.Client(f"https://{TOKEN} .example.org", token=TOKEN)
    assert_clean(str(caught.value), [TOKEN])
