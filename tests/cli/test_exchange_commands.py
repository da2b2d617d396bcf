"""`jhe export`, `jhe patients` and `jhe studies` against an Exchange named by JHE_URL / JHE_TOKEN."""

from __future__ import annotations

import csv
from pathlib import Path

import jhe
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


def test_damaged_records_are_reported_and_strict_fails(tmp_path: Path) -> None:
    with FakeExchange(patients=2, days=1, seed=3, damaged_every=5) as fx:
        study = str(fx.main_study_id)
        expected = fx.expected_observations(study_id=fx.main_study_id, code="omh:blood-glucose:4.0")
        damaged = [e["id"] for e in expected if e["damage"]]
        done = run_with(fx, "export", "--study", study, "--code", "omh:blood-glucose:4.0", "-o", "g.csv", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"warning: {len(damaged)} of {len(expected)} observations could not be fully decoded" in done.stderr
        assert "g.errors.csv" in done.stderr
        with open(tmp_path / "g.errors.csv", newline="") as handle:
            assert sorted(int(r["observation_id"]) for r in csv.DictReader(handle)) == sorted(damaged)
        strict = run_with(fx, "export", "--study", study, "--code", "omh:blood-glucose:4.0", "--strict", "-o", "s.csv", cwd=tmp_path)
        assert strict.returncode == 1 and "could not be decoded" in strict.stderr, strict.stderr
        assert not (tmp_path / "s.csv").exists()


def test_export_study_and_updated_since(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with FakeExchange(patients=2, days=1, seed=2) as fx:
        organization = jhe.Client(fx.url, fx.token)._get(f"studies/{fx.main_study_id}")["organization"]["id"]
        study = ["--organization", str(organization), "--study", str(fx.main_study_id)]
        done = run_with(fx, "export-study", *study, "--code", "omh:heart-rate:2.0", "--code", "omh:blood-glucose:4.0", "-o", "study", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        files = sorted(p.name for p in (tmp_path / "study").iterdir())
        assert files == ["omh_blood-glucose_4.0.parquet", "omh_heart-rate_2.0.parquet"]
        rows = pq.read_table(tmp_path / "study" / "omh_heart-rate_2.0.parquet").num_rows
        assert rows == len(fx.expected_observations(study_id=fx.main_study_id, code="omh:heart-rate:2.0"))
        later = run_with(fx, "export", "--study", str(fx.main_study_id), "--code", "omh:heart-rate:2.0", "--updated-since", "2100-01-01", "-o", "none.csv", cwd=tmp_path)
        assert later.returncode == 0, later.stderr
        assert len((tmp_path / "none.csv").read_text().splitlines()) == 1, "only the header: nothing changed after 2100"


def test_wrong_token_and_api_url(tmp_path: Path) -> None:
    with FakeExchange(patients=2, days=1, seed=2) as fx:
        wrong = run_with(fx, "patients", "--token", "not-the-token", cwd=tmp_path)
        assert wrong.returncode == 1 and "the token is invalid or expired" in wrong.stderr, wrong.stderr
        for suffix in ["/api/v1/", "/api/v1", "/FHIR/R5/"]:
            listed = run_with(fx, "studies", "--url", fx.url + suffix, cwd=tmp_path)
            assert listed.returncode == 0 and str(fx.main_study_id) in listed.stdout, (suffix, listed.stderr)


def test_export_of_imported_lab_results(tmp_path: Path) -> None:
    """`--source imported --code 4548-4`: the EHR's HbA1c, typed, each row its FHIR id and source."""
    import json

    with FakeExchange(patients=2, days=1, seed=2) as fx:
        study = str(fx.main_study_id)
        done = run_with(fx, "export", "--study", study, "--source", "imported", "--code", "4548-4", "-o", "a1c.csv", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        with open(tmp_path / "a1c.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        records = [json.loads(t) for p in fx.directory["patients_by_study"][fx.main_study_id] for t in fx.expected_imported("Observation", patient_id=p)]
        hba1c = {r["id"]: r for r in records if any(c["code"] == "4548-4" for c in r["code"]["coding"])}
        assert {row["resource_id"] for row in rows} == set(hba1c)
        for row in rows:
            assert float(row["hba1c_percent"]) == hba1c[row["resource_id"]]["valueQuantity"]["value"]
            assert row["source"] == hba1c[row["resource_id"]]["meta"]["source"]
        assert not (tmp_path / "a1c.errors.csv").exists()
