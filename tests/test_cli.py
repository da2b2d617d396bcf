"""The console script, run as a user would."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from jhe.testing import FakeExchange

GUIDE_HEADERS = [
    "Observation ID",
    "Patient Name",
    "Date/Time",
    "Glucose (mg/dL)",
    "Meal Context",
    "Data Source",
    "Created",
]


def run_jhe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JHE_URL", "JHE_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "jhe", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


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


def run_with(fx: FakeExchange, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token}
    return subprocess.run([sys.executable, "-m", "jhe", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


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


def test_every_command_has_help_and_bad_settings_exit_2(tmp_path: Path) -> None:
    for command in ["demo", "export", "patients", "studies", "fake-server"]:
        done = run_jhe(command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "usage: jhe" in done.stdout, command
    missing = run_jhe("patients", cwd=tmp_path)  # no JHE_URL / JHE_TOKEN
    assert missing.returncode == 2 and "JHE_URL" in missing.stderr
    assert run_jhe("export", "--study", "1", cwd=tmp_path).returncode == 2  # -o is required


def test_fake_server_serves_until_interrupted(tmp_path: Path) -> None:
    import signal

    import jhe

    server = subprocess.Popen(
        [sys.executable, "-m", "jhe", "fake-server", "--patients", "2", "--days", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        url = lines[1].strip().split("=", 1)[1]
        token = lines[2].strip().split("=", 1)[1]
        assert url.startswith("http://127.0.0.1:")
        assert len(jhe.Client(url, token).list_studies()) >= 2
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "stopped" in out
