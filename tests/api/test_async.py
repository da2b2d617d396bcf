"""The async methods: concurrent inside a running event loop, with the same exceptions."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, observation_ids, query_of


def test_async_fetches_run_concurrently_inside_a_running_loop() -> None:
    with FakeExchange(patients=4, days=2, seed=5, latency_ms=30) as fx:
        first, second = fx.directory["visible_patient_ids"][:2]
        client = jhe.Client(fx.url, fx.token, page_size=20, concurrency=1)
        client.fetch(patient_id=first, code=GLUCOSE)  # learn the server's generation first
        fx.clear_requests()

        async def both() -> list[pd.DataFrame]:
            assert asyncio.get_running_loop().is_running()
            results = await asyncio.gather(
                client.fetch_dataframe_async(patient_id=first, code=GLUCOSE),
                client.fetch_dataframe_async(patient_id=second, code=GLUCOSE),
            )
            return [r for r in results if isinstance(r, pd.DataFrame)]

        a, b = asyncio.run(both())
        assert observation_ids(a) == [r["id"] for r in fx.expected_observations(patient_id=first, code=GLUCOSE)]
        assert observation_ids(b) == [r["id"] for r in fx.expected_observations(patient_id=second, code=GLUCOSE)]
        # one page at a time each, yet the server saw their pages interleaved: concurrent
        order = [query_of(r)["patient"][0] for r in fx.requests() if r["path"].endswith("/Observation")]
        switches = sum(1 for x, y in zip(order, order[1:], strict=False) if x != y)
        assert len(order) > 6 and switches >= 2, order


def test_async_errors_are_the_same_exceptions(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    with pytest.raises(jhe.PermissionDenied, match=f"Group/{small_fx.hidden_study_id}"):
        asyncio.run(client.fetch_async(study_id=small_fx.hidden_study_id, code=GLUCOSE))
