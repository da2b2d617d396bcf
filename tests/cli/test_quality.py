"""`jhe quality`, run as a user runs it: one line per check, the HTML page written."""

from __future__ import annotations

from pathlib import Path

from jhe.testing import FakeExchange

from tests.cli.helpers import run_with


def test_quality_prints_each_check_and_writes_the_report(tmp_path: Path) -> None:
    with FakeExchange(patients=6, days=7, seed=3, quality_problems=True) as fx:
        done = run_with(fx, "quality", "--study", str(fx.main_study_id), "--code", "omh:blood-glucose:4.0", "-o", "report.html", cwd=tmp_path)
        implausible = sum(1 for _, code in fx.expected_implausible() if code == "omh:blood-glucose:4.0")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Data quality: study {fx.main_study_id}"
    checks = {line.split("  ")[1].strip(): line for line in lines[1:] if line.startswith("  ")}
    assert {"completeness", "coverage", "gaps", "outliers: zscore", "timestamps: future", "duplicates: same reading", "units", "cgm"} <= set(checks)
    assert f" {implausible} " in checks["outliers: implausible"]
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and "<svg" in page
    assert lines[-1] == f"Wrote the report to {Path('report.html')}"


def test_quality_needs_a_study(tmp_path: Path) -> None:
    with FakeExchange(patients=1, days=1) as fx:
        done = run_with(fx, "quality", cwd=tmp_path)
    assert done.returncode == 2
    assert "--study" in done.stderr
