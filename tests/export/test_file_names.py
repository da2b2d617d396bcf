"""One file per code in a study export: names that never clobber each other, bounded in
length, and all files moved into place together or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jhe import _export

LOOK_ALIKES = [
    "omh:blood-glucose:4.0",
    "omh_blood-glucose_4.0",
    "omh/blood-glucose/4.0",
    "OMH:blood-glucose:4.0",
    "omh:blood-glucose:4.0.errors",
    "omh:" + "x" * 300 + ":1.0",
    "",
    "..",
    "con",
]


class Fetched:
    """What `write_per_code` reads of a fetch result: one table per code, no errors."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.errors: list[dict[str, Any]] = []
        self.source = {"observations": len(codes)}

    def to_arrow(self) -> dict[str, pa.Table]:
        return {code: pa.table({"code": [code]}) for code in self.codes}


def test_every_code_gets_its_own_bounded_file_name(tmp_path: Path) -> None:
    written = _export.write_per_code(Fetched(LOOK_ALIKES), tmp_path / "study", "parquet")  # type: ignore[arg-type]
    assert len({path.name.casefold() for path in written.values()}) == len(LOOK_ALIKES)
    for code, path in written.items():
        assert pq.read_table(path)["code"].to_pylist() == [code], "each file holds its own code's rows"
        assert len(path.name.encode()) <= 128 and not path.name.startswith(".")
    assert sorted(p.name for p in (tmp_path / "study").iterdir()) == sorted(p.name for p in written.values())
    assert written["omh:blood-glucose:4.0"].name == "omh_blood-glucose_4.0.parquet", "plain codes keep readable names"


def test_a_study_export_that_fails_midway_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "notes.txt").write_text("mine")
    real_write, calls = pq.write_table, []

    def fail_on_the_second(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls.append(where)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", fail_on_the_second)
    codes = ["omh:blood-glucose:4.0", "omh:heart-rate:2.0", "omh:step-count:3.0"]
    with pytest.raises(OSError, match="disk full"):
        _export.write_per_code(Fetched(codes), study, "parquet")  # type: ignore[arg-type]
    assert [p.name for p in study.iterdir()] == ["notes.txt"], "no file of the failed export, no temporary directory"
    assert all(Path(where).parent != study for where in calls), "written under a temporary directory first"


class OneTable(Fetched):
    is_single_table = True

    def to_arrow(self) -> pa.Table:  # type: ignore[override]
        return pa.table({"code": self.codes})


def test_a_partition_no_file_system_can_name_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too long for a partition directory name"):
        _export.write_parquet(OneTable(["omh:" + "x" * 300 + ":1.0"]), tmp_path / "all", ["code"])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
