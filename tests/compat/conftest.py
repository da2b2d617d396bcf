from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import jupyterhealth_client as official  # type: ignore[import-untyped]
from jhe import compat
from jhe.testing import FakeExchange


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeExchange]:
    """The exchange both clients talk to: 4 patients, 4 days, with a code jhe's catalogue
    does not know."""
    with FakeExchange(patients=4, days=4, seed=3, unknown_codes=True) as exchange:
        yield exchange


@pytest.fixture
def clients(fake: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, compat.JupyterHealthClient]:
    """Both clients configured from JHE_URL / JHE_TOKEN. The official client reads JHE_URL
    when it is imported (its default argument), so it gets the URL from the environment
    explicitly; compat reads both when it is made."""
    monkeypatch.setenv("JHE_URL", fake.url)
    monkeypatch.setenv("JHE_TOKEN", fake.token)
    return official.JupyterHealthClient(os.environ["JHE_URL"]), compat.JupyterHealthClient()

