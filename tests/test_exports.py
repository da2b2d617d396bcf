"""CSV and Parquet exports, study-wide exports, and atomic writes."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

GLUCOSE = "omh:blood-glucose:4.0"
HEART_RATE = "omh:heart-rate:2.0"
GUIDE_HEADERS = ["Observation ID", "Patient Name", "Date/Time", "Glucose (mg/dL)", "Meal Context", "Data Source", "Created"]


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=3, days=2, seed=4) as exchange:
        yield exchange


def test_csv_with_the_guides_headers(fx: FakeExchange, tmp_path: Path) -> None:
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


def test_csv_and_parquet_hold_the_fetched_rows(fx: FakeExchange, tmp_path: Path) -> None:
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
def test_partitioned_parquet(fx: FakeExchange, tmp_path: Path, partition: str) -> None:
    client = jhe.Client(fx.url, fx.token)
    path = client.export_parquet(tmp_path / "all", study_id=fx.main_study_id, layout="long", partition_by=[partition])
    assert path.is_dir()
    parts = sorted(p.name for p in path.iterdir())
    assert parts and all(p.startswith(f"{partition}=") for p in parts)
    back = pq.read_table(path)
    assert back.num_rows == client.fetch_arrow(study_id=fx.main_study_id, layout="long").num_rows


def test_wide_several_codes_partition_by_code(fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(fx.url, fx.token)
    path = client.export_parquet(
        tmp_path / "wide", study_id=fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide", partition_by=["code"]
    )
    assert len(list(path.iterdir())) == 2
    with pytest.raises(ValueError, match="several codes"):
        client.export_parquet(tmp_path / "x.parquet", study_id=fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="wide")


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_study_wide_export_writes_one_file_per_code(fx: FakeExchange, tmp_path: Path, format: str) -> None:
    client = jhe.Client(fx.url, fx.token)
    organization = client._get(f"studies/{fx.main_study_id}")["organization"]["id"]
    written = client.export_study(organization, fx.main_study_id, path=tmp_path / "study", format=format)  # type: ignore[arg-type]
    expected = fx.expected_observations(study_id=fx.main_study_id)
    assert set(written) == {e["code"] for e in expected}
    assert all(p.exists() and ":" not in p.name for p in written.values())
    if format == "parquet":
        assert sum(pq.read_table(p).num_rows for p in written.values()) == len(expected)
    with pytest.raises(jhe.ConfigurationError, match="belongs to organization"):
        client.export_study(organization + 999, fx.main_study_id, path=tmp_path / "nope")


def test_an_interrupted_export_leaves_no_half_file(fx: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = jhe.Client(fx.url, fx.token)
    target = tmp_path / "hr.parquet"
    target.write_bytes(b"the previous export")

    def fail_halfway(table: object, where: str, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        client.export_parquet(target, study_id=fx.main_study_id, code=HEART_RATE)
    assert target.read_bytes() == b"the previous export", "the old file is untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["hr.parquet"], "no temporary file left behind"
    monkeypatch.undo()
    # a fetch that fails writes nothing at all
    with FakeExchange(patients=1, days=1, error_rate=1.0) as broken:
        with pytest.raises(jhe.ServerError):
            jhe.Client(broken.url, broken.token, retries=0).export_csv(tmp_path / "new.csv", study_id=broken.main_study_id)
    assert not (tmp_path / "new.csv").exists()
