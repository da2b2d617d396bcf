"""`jhe export`, `jhe patients` and `jhe studies` against an Exchange named by JHE_URL / JHE_TOKEN."""

from __future__ import annotations

import csv
from pathlib import Path

from jhe.testing import FakeExchange

from tests.cli.helpers import run_with


def test_export_patients_and_studies_commands(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with FakeExchange(patients=3, days=1, seed=2) as fx:
        study = str(fx.main_study_id)
        done = run_with(fx, "export", "--study", study, "--code", "omh:heart-rate:2.0", "-o", "hr.csv", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        with open(tmp_path / "hr.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        expected = fx.expected_observations(study_id=fx.main_study_id, code="omh:heart-rate:2.0")
        assert [int(r["observation_id"]) for r in rows] == [e["id"] for e in expected]
        done = run_with(fx, "export", "--study", study, "--format", "parquet", "--partition-by", "code", "-o", "all", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert pq.read_table(tmp_path / "all").num_rows > 0
        patients = run_with(fx, "patients", "--study", study, "--csv", cwd=tmp_path)
        assert patients.returncode == 0, patients.stderr
        listed = list(csv.DictReader(patients.stdout.splitlines()))
        assert sorted(int(p["id"]) for p in listed) == sorted(fx.directory["patients_by_study"][fx.main_study_id])
        studies = run_with(fx, "studies", cwd=tmp_path)
        assert studies.returncode == 0 and study in studies.stdout
        hidden = run_with(fx, "export", "--study", str(fx.hidden_study_id), "--code", "omh:heart-rate:2.0", "-o", "x.csv", cwd=tmp_path)
        assert hidden.returncode == 1 and "403" in hidden.stderr and fx.token not in hidden.stderr
        assert not (tmp_path / "x.csv").exists()
