from __future__ import annotations

from collections.abc import Iterator

import pytest

from jhe.testing import FakeExchange

pytest.importorskip("deltalake")


@pytest.fixture(params=[False, True], ids=["current", "legacy"])
def fx(request: pytest.FixtureRequest) -> Iterator[FakeExchange]:
    """A small running fake Exchange of each generation, for rows to change in."""
    with FakeExchange(patients=3, days=2, seed=21, legacy=request.param) as exchange:
        yield exchange
