"""Results in every form, async, progress and display."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import observation_ids, query_of

GLUCOSE = "omh:blood-glucose:4.0"
HEART_RATE = "omh:heart-rate:2.0"
STEPS = "omh:step-count:3.0"


@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=3, days=2, seed=8) as exchange:
        yield exchange


def test_arrow_polars_and_pandas_agree(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    observations = client.fetch(study_id=small.main_study_id, code=GLUCOSE)
    assert isinstance(observations, jhe.Observations)
    table = pa.table(observations)  # through the PyCapsule stream
    polars = pl.DataFrame(observations)
    frame = observations.to_pandas()
    assert table.num_rows == polars.height == len(frame) == len(
        small.expected_observations(study_id=small.main_study_id, code=GLUCOSE)
    )
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert polars.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert polars["observation_id"].to_list() == frame["observation_id"].tolist() == table["observation_id"].to_pylist()
    arrow = client.fetch_arrow(study_id=small.main_study_id, code=GLUCOSE)
    assert isinstance(arrow, pa.Table) and arrow.equals(table)
    as_polars = client.fetch_polars(study_id=small.main_study_id, code=GLUCOSE)
    assert isinstance(as_polars, pl.DataFrame) and as_polars.equals(polars)


def test_several_codes_in_the_wide_layout_are_dicts_everywhere(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    observations = client.fetch(study_id=small.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide")
    assert observations.codes == [GLUCOSE, HEART_RATE]
    for converted in (observations.to_arrow(), observations.to_polars(), observations.to_pandas()):
        assert isinstance(converted, dict) and set(converted) == {GLUCOSE, HEART_RATE}
    with pytest.raises(TypeError, match="one table per code"):
        pa.table(observations)


def test_pandas_keeps_nullable_dtypes_and_timezones() -> None:
    # damaged step counts leave gaps in an integer column
    with FakeExchange(patients=4, days=3, seed=2, damaged_every=3) as fx:
        with pytest.warns(jhe.DecodeWarning):
            steps = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, code=STEPS)
    assert steps["steps"].isna().any()
    assert steps["steps"].dtype == "Int64"
    assert steps["observation_id"].dtype == "int64"
    assert str(steps["effective_start"].dt.tz) == "UTC"
    assert isinstance(steps["steps_statistic"].dtype, pd.CategoricalDtype)


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


def test_async_errors_are_the_same_exceptions(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    with pytest.raises(jhe.PermissionDenied, match=f"Group/{small.hidden_study_id}"):
        asyncio.run(client.fetch_async(study_id=small.hidden_study_id, code=GLUCOSE))


def test_progress_counts_every_page_and_observation(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token, page_size=50)
    seen: list[tuple[int, int, int, int]] = []
    result = client._native.fetch(study_id=small.main_study_id, codes=[GLUCOSE], layout="wide", progress=lambda *c: seen.append(c))
    pages_done, pages_total, rows_done, rows_total = seen[-1]
    assert rows_done == rows_total == result.total
    assert pages_done == pages_total == -(-result.total // 50)
    # the progress bars themselves (tqdm) draw and close without error
    assert len(client.fetch_dataframe(study_id=small.main_study_id, code=GLUCOSE, progress=True)) == result.total


def test_client_and_result_display(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    assert small.token not in repr(client)
    page = client._repr_html_()
    profile = client.profile()
    assert profile["email"] in page and small.token not in page
    observations = client.fetch(study_id=small.main_study_id, code=[GLUCOSE, HEART_RATE], layout="long")
    text, html = repr(observations), observations._repr_html_()
    for code in (GLUCOSE, HEART_RATE):
        assert code in text and code in html
    summary = {row["code"]: row for row in observations.summary()}
    assert summary[GLUCOSE]["patients"] == 3
    assert summary[GLUCOSE]["observations"] == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))
    assert "0 errors" in text


def test_unknown_filters_are_refused(small: FakeExchange) -> None:
    with pytest.raises(TypeError, match="unexpected filter"):
        jhe.Client(small.url, small.token).fetch(study_id=small.main_study_id, colour="red")  # type: ignore[call-arg]
