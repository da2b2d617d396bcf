"""jhe.dask.export_study and jhe.dask.quality on the two-process cluster: the dataset holds
the study's rows once each, and the report equals the single-machine report part for part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE

import jhe.dask  # noqa: E402


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=6, days=15, seed=11, quality_problems=True, damaged_every=97) as exchange:
        yield exchange


def test_the_dataset_holds_every_row_once(cluster: Any, fx: FakeExchange, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with pytest.warns(jhe.DecodeWarning, match="_errors"):
        folders = jhe.dask.export_study(
            tmp_path / "study", fx.main_study_id, url=fx.url, credentials=jhe.dask.Credentials(fx.token), target_rows=3_000
        )
    single = jhe.Client(fx.url, fx.token).fetch(study_id=fx.main_study_id, layout="long", progress=False)
    assert single.errors
    dataset = pq.read_table(tmp_path / "study")
    expected = single.to_arrow()
    assert dataset.num_rows == expected.num_rows
    key = lambda table: sorted(zip(table["observation_id"].to_pylist(), table["measure"].to_pylist(), map(str, table["code"].to_pylist())))  # noqa: E731
    assert key(dataset) == key(expected)
    assert set(folders) == set(map(str, expected["code"].to_pylist()))
    assert all(folder.is_dir() and len(list(folder.glob("part-*.parquet"))) >= 2 for folder in folders.values())
    errors = pq.read_table(tmp_path / "study" / "_errors")
    assert sorted(errors["observation_id"].to_pylist()) == sorted(e["observation_id"] for e in single.errors)
    assert not list((tmp_path / "study").rglob(".jhe-writing-*"))


def test_the_wide_layout_gives_each_code_its_columns(cluster: Any, fx: FakeExchange, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with pytest.warns(jhe.DecodeWarning):
        folders = jhe.dask.export_study(
            tmp_path / "wide", fx.main_study_id, GLUCOSE, url=fx.url, credentials=jhe.dask.Credentials(fx.token), layout="wide"
        )
    glucose = pq.read_table(folders[GLUCOSE])
    assert "glucose_mg_dl" in glucose.column_names
    assert glucose.num_rows == jhe.Client(fx.url, fx.token).fetch(fx.main_study_id, code=GLUCOSE, progress=False).total


def test_an_export_needs_a_new_or_empty_folder(fx: FakeExchange, tmp_path: Path) -> None:
    (tmp_path / "old.parquet").write_bytes(b"x")
    with pytest.raises(jhe.ConfigurationError, match="not an empty folder"):
        jhe.dask.export_study(tmp_path, fx.main_study_id, url=fx.url, credentials=jhe.dask.Credentials(fx.token))


def test_the_report_equals_the_single_machine_report(cluster: Any, fx: FakeExchange) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jhe.DecodeWarning)
        single = jhe.Client(fx.url, fx.token).quality(fx.main_study_id, progress=False)
        spread = jhe.dask.quality(fx.main_study_id, url=fx.url, credentials=jhe.dask.Credentials(fx.token), target_rows=2_000)
    assert spread.summary().equals(single.summary())
    import polars as pl

    for name, part in single.to_polars().items():
        other = spread.to_polars()[name]
        if name == "timestamps":
            # "future" names the instant of each report, which differ.
            at = pl.when(pl.col("rule") == "future").then(pl.lit("")).otherwise(pl.col("detail")).alias("detail")
            part, other = part.with_columns(at), other.with_columns(at)
        assert other.schema == part.schema, name
        assert other.sort(other.columns).equals(part.sort(part.columns)), name
        # Not trivially equal: every part the fake's problems show up in has rows.
        assert name in ("units",) or part.height, name
    assert spread.context["observations"] == single.context["observations"]
