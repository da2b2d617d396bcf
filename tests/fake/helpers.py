"""Plain ``urllib`` requests to the fake Exchange, with HTTP errors as answers too."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from jhe.testing import FakeExchange

HEART_RATE = "https://w3id.org/openmhealth|omh:heart-rate:2.0"


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    token: str | None = None,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request; HTTP errors are answers too."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def study_search(fx: FakeExchange, extra: str = "") -> str:
    return f"{fx.fhir_url}/Observation?patient._has:Group:member:_id={fx.main_study_id}&_count=10{extra}"


def token_grant(fx: FakeExchange, form: dict[str, str], basic: str | None = None) -> Answer:
    headers = {"Authorization": f"Basic {basic}"} if basic else {}
    return call(f"{fx.url}/o/token/", form=form, headers=headers)
