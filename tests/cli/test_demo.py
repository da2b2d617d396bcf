"""`jhe demo`: an in-process fake Exchange, a summary and the guide's CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from jhe.testing import FakeExchange

from tests.cli.helpers import run_jhe
from tests.helpers import GUIDE_HEADERS


def test_demo_prints_a_summary_and_writes_the_guides_csv(tmp_path: Path) -> None:
    done = run_jhe("demo", "--patients", "4", "--days", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for label in ["rows:", "patients:", "date range:", "mean glucose:"]:
        assert label in done.stdout
    assert "patients:     4" in done.stdout
    with open(tmp_path / "blood_glucose.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == GUIDE_HEADERS
    body = rows[1:]
    # the same arguments generate the same data, so the in-process twin knows the answer
    with FakeExchange(patients=4, days=3, seed=0) as twin:
        expected = twin.expected_observations(study_id=twin.main_study_id, code="omh:blood-glucose:4.0")
    assert [int(row[0]) for row in body] == [row["id"] for row in expected]
    assert all(row[1].strip() for row in body), "every row names its patient"
    assert all(float(row[3]) > 0 for row in body)
    assert f"{len(body):,}" in done.stdout


def test_demo_output_option_and_bad_command(tmp_path: Path) -> None:
    done = run_jhe("demo", "--patients", "2", "--days", "1", "-o", "out.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").exists()
    assert run_jhe("no-such-command", cwd=tmp_path).returncode == 2
