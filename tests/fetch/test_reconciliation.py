"""Rows written on the server while a fetch runs: none lost, none doubled."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import expected_ids, observation_ids


@pytest.mark.parametrize("api", ["fhir", "rest"])
@pytest.mark.parametrize("legacy", [False, True])
def test_rows_written_during_a_fetch_are_reconciled(api: str, legacy: bool) -> None:
    with FakeExchange(patients=6, days=3, seed=5, legacy=legacy) as calm:
        before = len(calm.expected_observations(study_id=calm.main_study_id))
    with FakeExchange(patients=6, days=3, seed=5, legacy=legacy, insert_during_fetch=350) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=250, concurrency=3)
        df = client.fetch_dataframe(study_id=fx.main_study_id, api=api)  # type: ignore[arg-type]
        expected = fx.expected_observations(study_id=fx.main_study_id)
        assert len(expected) == before + 350, "the rows were written while the fetch ran"
        assert observation_ids(df) == expected_ids(expected), "exactly the rows there are at the end: none lost, none doubled"
