"""Results in every form: jhe.Observations, Arrow, polars and pandas."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE, STEPS


def test_arrow_polars_and_pandas_agree(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    observations = client.fetch(study_id=small_fx.main_study_id, code=GLUCOSE)
    assert isinstance(observations, jhe.Observations)
    table = pa.table(observations)  # through the PyCapsule stream
    polars = pl.DataFrame(observations)
    frame = observations.to_pandas()
    assert table.num_rows == polars.height == len(frame) == len(
        small_fx.expected_observations(study_id=small_fx.main_study_id, code=GLUCOSE)
    )
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert polars.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert polars["observation_id"].to_list() == frame["observation_id"].tolist() == table["observation_id"].to_pylist()
    arrow = client.fetch_arrow(study_id=small_fx.main_study_id, code=GLUCOSE)
    assert isinstance(arrow, pa.Table) and arrow.equals(table)
    as_polars = client.fetch_polars(study_id=small_fx.main_study_id, code=GLUCOSE)
    assert isinstance(as_polars, pl.DataFrame) and as_polars.equals(polars)


def test_several_codes_in_the_wide_layout_are_dicts_everywhere(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    observations = client.fetch(study_id=small_fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide")
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


def test_pandas_conversion_keeps_column_order_values_and_writable_columns() -> None:
    from jhe._convert import arrow_to_pandas

    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "count": pa.array([2**60 + 1, None, 7], pa.int64()),
            "value": pa.array([1.5, 2.5, None], pa.float64()),
            "flag": pa.array([True, None, False]),
            "kept": pa.array([True, False, True]),
        }
    )
    frame = arrow_to_pandas(table)
    assert list(frame.columns) == ["id", "count", "value", "flag", "kept"]
    assert [str(dtype) for dtype in frame.dtypes] == ["int64", "Int64", "float64", "boolean", "bool"]
    # converted straight to Int64: no detour through float64, which would round 2**60 + 1
    assert frame["count"].tolist() == [2**60 + 1, pd.NA, 7]
    assert frame["flag"].tolist() == [True, pd.NA, False]
    # the frame owns its memory: numeric columns are not read-only views of the Arrow buffers
    frame.loc[0, "id"] = 10
    frame.loc[1, "value"] = 0.0
    frame.loc[1, "count"] = 5
    assert frame["id"].tolist() == [10, 2, 3] and frame["value"].tolist()[:2] == [1.5, 0.0]


def test_fetch_dataframe_moves_the_tables_into_the_same_frames(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    study = small_fx.main_study_id
    for query in ({}, {"code": GLUCOSE}, {"code": [GLUCOSE, HEART_RATE], "layout": "wide"}):
        kept = client.fetch(study_id=study, **query).to_pandas()
        taken = client.fetch_dataframe(study_id=study, **query)
        pairs = [(kept, taken)] if isinstance(kept, pd.DataFrame) else [(kept[c], taken[c]) for c in kept]
        assert isinstance(taken, type(kept)) and len(pairs) == (2 if "layout" in query else 1)
        for expected, frame in pairs:
            pd.testing.assert_frame_equal(frame, expected)
            assert frame.attrs == expected.attrs


def test_a_result_whose_tables_were_moved_into_pandas_says_so(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    observations = client.fetch(study_id=small_fx.main_study_id, code=GLUCOSE)
    frame = observations._take_pandas()
    assert len(frame) == observations.total > 0
    with pytest.raises(RuntimeError, match="moved into pandas; fetch again"):
        observations.to_arrow()
    with pytest.raises(RuntimeError, match="moved into pandas"):
        observations._native.take_tables()


def test_columns_moved_into_pandas_keep_dtypes_and_are_writable() -> None:
    from jhe._convert import columns_to_pandas

    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "count": pa.array([2**60 + 1, None, 7], pa.int64()),
            "kind": pa.array(["a", "b", "a"]).dictionary_encode(),
            "flag": pa.array([True, None, False]),
        }
    ).replace_schema_metadata({"source": "test"})
    arrays = [column.combine_chunks() for column in table.columns]
    frame = columns_to_pandas(table.schema, arrays)
    assert arrays == []
    assert [str(dtype) for dtype in frame.dtypes] == ["int64", "Int64", "category", "boolean"]
    assert frame["count"].tolist() == [2**60 + 1, pd.NA, 7]
    frame.loc[0, "id"] = 10
    assert frame["id"].tolist() == [10, 2, 3]
