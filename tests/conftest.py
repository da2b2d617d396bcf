from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from jhe.testing import FakeExchange


@pytest.fixture(scope="session")
def fx() -> Iterator[FakeExchange]:
    """One fake Exchange for the session: 20 patients, 14 days (about 30,000 observations)."""
    with FakeExchange(patients=20, days=14, seed=0) as exchange:
        yield exchange


def http_get(url: str, token: str | None) -> tuple[int, Any]:
    """A plain GET, independent of jhe, returning (status, parsed JSON or text)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")
