"""Counts that are true: what a result says it holds is what its tables hold, on every
server generation, with the server's own count kept beside it. Older servers ignore time
filters and match codes loosely, so their count is larger than what jhe keeps."""

from __future__ import annotations

import pyarrow.compute as pc

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE, GLUCOSE, HEART_RATE, effective_start


def middle_start(fx: FakeExchange, code: str) -> str:
    """An effective time with about half of `code`'s observations at or after it."""
    rows = fx.expected_observations(study_id=fx.main_study_id, code=code)
    starts = sorted(effective_start(row["omh"]["body"]["effective_time_frame"]) for row in rows)
    return starts[len(starts) // 2].isoformat()


def test_a_time_filtered_result_counts_its_rows_on_every_generation(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    everything = client.fetch(study_id=any_fx.main_study_id, code=GLUCOSE)
    since = middle_start(any_fx, GLUCOSE)
    result = client.fetch(study_id=any_fx.main_study_id, code=GLUCOSE, since=since)
    rows = result.to_arrow().num_rows  # type: ignore[union-attr]
    assert 0 < rows < everything.total
    assert result.total == result.source["observations"] == rows
    assert [row["observations"] for row in result.summary()] == [rows]
    assert repr(result).startswith(f"<jhe.Observations: {rows:,} observations,")
    assert f"{rows:,} observations, wide layout" in result._repr_html_()
    # The server's own count: what it matched, which an older server does before jhe's filter.
    legacy = any_fx.generation != "current"
    assert result.server_total == (everything.total if legacy else rows)
    assert result.source["server_total"] == result.server_total
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, code=GLUCOSE, since=since)
    assert df.attrs["jhe_source"]["observations"] == len(df) == rows


def test_the_long_layout_counts_observations_not_measure_rows(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    since = middle_start(any_fx, BLOOD_PRESSURE)
    result = client.fetch(study_id=any_fx.main_study_id, code=[BLOOD_PRESSURE, HEART_RATE], since=since, layout="long")
    table = result.to_arrow()
    observations = pc.count_distinct(table["observation_id"]).as_py()  # type: ignore[index]
    assert observations < table.num_rows  # type: ignore[union-attr]  # two measures per blood pressure
    assert result.total == result.source["observations"] == observations
    assert sum(row["observations"] for row in result.summary()) == observations
    assert repr(result).startswith(f"<jhe.Observations: {observations:,} observations,")
    assert result.server_total >= observations
