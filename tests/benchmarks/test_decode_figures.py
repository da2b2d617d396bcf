"""The decode benchmark's figures as the harness reads them from criterion: per byte and per
observation, for the Exchange's own pages and the EHR-imported ones, side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _floors  # noqa: E402
import _report  # noqa: E402


def saved(target: Path, group: str, bench: str, unit: str, amount: int, nanoseconds: float) -> None:
    directory = target / "criterion" / group / bench / "new"
    directory.mkdir(parents=True)
    (directory / "benchmark.json").write_text(json.dumps({"throughput": {unit: amount}}))
    (directory / "estimates.json").write_text(json.dumps({"mean": {"point_estimate": nanoseconds}, "slope": None}))


def test_both_corpora_are_read_per_byte_and_per_observation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for group, per_second in (("fhir_pages", 200_000), ("clinical_pages", 150_000)):
        for bench in ("jhe_wide", "jhe_long", "serde_json_value"):
            saved(tmp_path, group, f"{bench}_observations", "Elements", 9_000, 9_000 / per_second * 1e9)
            saved(tmp_path, group, f"{bench}_bytes", "Bytes", 2**20, 1e9)
    monkeypatch.setattr(_floors, "target_directory", lambda: tmp_path)
    figures = _floors.saved_decode_bench()
    assert figures is not None
    assert (figures["wide_obs_s"], figures["clinical_wide_obs_s"], figures["clinical_long_mib_s"]) == (200_000, 150_000, 1.0)
    rows = _report.clinical_rows({"status": "ok", **figures})
    assert "| jhe, wide layout | 200,000 | 150,000 | 0.75× |" in rows
