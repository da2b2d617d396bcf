"""Fixtures shared by more than one test group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE

if TYPE_CHECKING:
    import pandas as pd


@pytest.fixture(scope="session")
def fx() -> Iterator[FakeExchange]:
    """One fake Exchange shared by every test that asks for it: 20 patients, 14 days (about
    30,000 observations)."""
    with FakeExchange(patients=20, days=14, seed=0) as exchange:
        yield exchange


@pytest.fixture(scope="session")
def glucose(fx: FakeExchange) -> "pd.DataFrame":
    """The main study's blood glucose, fetched with a page size well below the total, so
    that the fetch crosses many pages."""
    client = jhe.Client(fx.url, fx.token, page_size=700)
    return client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE)
