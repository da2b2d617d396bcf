"""CSV and Parquet files of a fetch: the guide's CSV, the fetched rows, partitioned Parquet."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, GUIDE_HEADERS, HEART_RATE


def test_csv_with_the_guides_headers(small_fx: FakeExchange, tmp_path: Path) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    path = client.export_csv(tmp_path / "blood_glucose.csv", study_id=fx.main_study_id, preset="guide")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == GUIDE_HEADERS
    expected = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)
    assert [int(r[0]) for r in rows[1:]] == [e["id"] for e in expected]
    names = {p["id"]: f"{p['nameGiven']} {p['nameFamily']}" for p in client.list_patients().to_dict("records")}
    assert all(r[1] == names[e["patient_id"]] for r, e in zip(rows[1:], expected, strict=True))
    assert {r[4] for r in rows[1:]} >= {"N/A"}


def test_csv_and_parquet_hold_the_fetched_rows(small_fx: FakeExchange, tmp_path: Path) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    expected = client.fetch_arrow(study_id=fx.main_study_id, code=HEART_RATE)
    csv_path = client.export_csv(tmp_path / "hr.csv", study_id=fx.main_study_id, code=HEART_RATE)
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["observation_id"]) for r in rows] == expected["observation_id"].to_pylist()
    assert [float(r["heart_rate_bpm"]) for r in rows] == expected["heart_rate_bpm"].to_pylist()
    parquet_path = client.export_parquet(tmp_path / "hr.parquet", study_id=fx.main_study_id, code=HEART_RATE)
    assert pq.read_table(parquet_path).equals(expected)


@pytest.mark.parametrize("partition", ["code", "patient_id"])
def test_partitioned_parquet(small_fx: FakeExchange, tmp_path: Path, partition: str) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    path = client.export_parquet(tmp_path / "all", study_id=fx.main_study_id, layout="long", partition_by=[partition])
    assert path.is_dir()
    parts = sorted(p.name for p in path.iterdir())
    assert parts and all(p.startswith(f"{partition}=") for p in parts)
    back = pq.read_table(path)
    assert back.num_rows == client.fetch_arrow(study_id=fx.main_study_id, layout="long").num_rows


def test_wide_several_codes_partition_by_code(small_fx: FakeExchange, tmp_path: Path) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    path = client.export_parquet(
        tmp_path / "wide", study_id=fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide", partition_by=["code"]
    )
    assert len(list(path.iterdir())) == 2
    with pytest.raises(ValueError, match="several codes"):
        client.export_parquet(tmp_path / "x.parquet", study_id=fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide")
