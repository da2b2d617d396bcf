"""Damaged records in an export: a DecodeWarning, and the records listed in a sidecar
beside the export; strict=True writes nothing."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


@pytest.fixture(scope="module")
def damaged_fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=3, damaged_every=5) as exchange:
        yield exchange


def damaged_ids(fx: FakeExchange, code: str | None = None) -> set[int]:
    expected = fx.expected_observations(study_id=fx.main_study_id, code=code)
    return {e["id"] for e in expected if e["damage"] is not None}


def test_csv_export_lists_damaged_records_beside_it(damaged_fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(damaged_fx.url, damaged_fx.token)
    with pytest.warns(jhe.DecodeWarning, match=r"listed in .*glucose\.errors\.csv"):
        client.export_csv(tmp_path / "glucose.csv", study_id=damaged_fx.main_study_id, code=GLUCOSE)
    with open(tmp_path / "glucose.errors.csv", newline="") as handle:
        listed = list(csv.DictReader(handle))
    assert {int(row["observation_id"]) for row in listed} == damaged_ids(damaged_fx, GLUCOSE) != set()
    assert all(row["reason"] and row["code"] == GLUCOSE for row in listed)


def test_parquet_exports_list_damaged_records_beside_them(damaged_fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(damaged_fx.url, damaged_fx.token)
    with pytest.warns(jhe.DecodeWarning):
        client.export_parquet(tmp_path / "all", study_id=damaged_fx.main_study_id, layout="long", partition_by=["code"])
    listed = pq.read_table(tmp_path / "all.errors.parquet")
    assert set(listed["observation_id"].to_pylist()) == damaged_ids(damaged_fx)
    organization = client._get(f"studies/{damaged_fx.main_study_id}")["organization"]["id"]
    with pytest.warns(jhe.DecodeWarning):
        written = client.export_study(organization, damaged_fx.main_study_id, path=tmp_path / "study")
    sidecars = sorted((tmp_path / "study").glob("*.errors.parquet"))
    assert sum(pq.read_metadata(p).num_rows for p in sidecars) == len(damaged_ids(damaged_fx))
    assert {p.name.removesuffix(".errors.parquet") for p in sidecars} <= {p.name.removesuffix(".parquet") for p in written.values()}


def test_a_clean_export_removes_an_old_sidecar_and_strict_writes_nothing(damaged_fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(damaged_fx.url, damaged_fx.token)
    target = tmp_path / "glucose.csv"
    with pytest.raises(jhe.DecodeError, match="could not be decoded"):
        client.export_csv(target, study_id=damaged_fx.main_study_id, code=GLUCOSE, strict=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.warns(jhe.DecodeWarning):
        client.export_csv(target, study_id=damaged_fx.main_study_id, code=GLUCOSE)
    assert (tmp_path / "glucose.errors.csv").exists()
    with FakeExchange(patients=1, days=1) as clean, warnings.catch_warnings():
        warnings.simplefilter("error")
        jhe.Client(clean.url, clean.token).export_csv(target, study_id=clean.main_study_id, code=GLUCOSE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glucose.csv"], "the old sidecar described the old file"


def test_unwritable_targets_are_refused_before_anything_is_fetched(damaged_fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(damaged_fx.url, damaged_fx.token)
    damaged_fx.clear_requests()
    with pytest.raises(jhe.ConfigurationError, match="is a directory"):
        client.export_csv(tmp_path, study_id=damaged_fx.main_study_id, code=GLUCOSE)
    with pytest.raises(jhe.ConfigurationError, match="does not exist"):
        client.export_parquet(tmp_path / "missing" / "x.parquet", study_id=damaged_fx.main_study_id, code=GLUCOSE)
    assert damaged_fx.requests() == [], "nothing was sent"
