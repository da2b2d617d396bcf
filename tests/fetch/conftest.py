from __future__ import annotations

from collections.abc import Iterator

import pytest

from jhe.testing import FakeExchange

GENERATIONS = [False, True, "guide"]


@pytest.fixture(scope="package", params=GENERATIONS, ids=["current", "legacy", "legacy-guide"])
def any_fx(request: pytest.FixtureRequest) -> Iterator[FakeExchange]:
    """A small exchange of each API generation."""
    with FakeExchange(patients=6, days=4, seed=7, legacy=request.param) as exchange:
        exchange.generation_param = request.param  # type: ignore[attr-defined]
        yield exchange


@pytest.fixture()
def paging_fx() -> Iterator[FakeExchange]:
    """A fresh exchange whose request log holds only the test's requests."""
    with FakeExchange(patients=8, days=3, seed=11) as exchange:
        yield exchange
