from __future__ import annotations

from collections.abc import Iterator

import pytest

from jhe.testing import FakeExchange


@pytest.fixture(scope="package")
def small_fx() -> Iterator[FakeExchange]:
    """A small exchange: 3 patients, 2 days."""
    with FakeExchange(patients=3, days=2, seed=8) as exchange:
        yield exchange
