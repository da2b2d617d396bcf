"""Every way a command can fail is one line on stderr with the right exit status (2 for
usage and settings, 1 for the Exchange), naming the command line's flags; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.cli.helpers import run_jhe, run_with
from tests.helpers import GLUCOSE, HEART_RATE


@pytest.fixture(scope="module")
def cli_fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=5) as exchange:
        yield exchange


def assert_one_line(done: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_version_and_every_commands_help(tmp_path: Path) -> None:
    done = run_jhe("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"jhe {jhe.__version__}"
    for command in ["export", "export-study", "fake-server"]:
        help_text = run_jhe(command, "--help", cwd=tmp_path).stdout
        for flag in {"export": ["--updated-since", "--strict"], "export-study": ["--organization", "--strict"], "fake-server": ["--port"]}[command]:
            assert flag in help_text, (command, flag)


def test_settings_are_named_as_flags(tmp_path: Path) -> None:
    assert_one_line(run_jhe("patients", cwd=tmp_path), 2, "--url", "--token")
    insecure = run_jhe("export", "--url", "http://jhe.example", "--token", "t", "-o", "x.csv", cwd=tmp_path)
    assert_one_line(insecure, 2, "--allow-insecure")
    assert "allow_insecure" not in insecure.stderr


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--identifier", "nobar"], "--identifier must be SYSTEM|VALUE"),
        (["--format", "csv", "-o", "x.parquet"], "--format csv does not match -o x.parquet"),
        (["--partition-by", "code", "-o", "x.csv"], "--partition-by"),
        (["--partition-by", "code", "--format", "csv", "-o", "out"], "--format parquet"),
        (["--since", "nope"], '--since "nope"'),
        (["-o", "."], "is a directory"),
        (["-o", "missing/x.csv"], "does not exist"),
        (["--source", "nope"], '--source must be "imported"'),
    ],
)
def test_usage_errors_exit_2(cli_fx: FakeExchange, tmp_path: Path, arguments: list[str], named: str) -> None:
    if "-o" not in arguments:
        arguments = [*arguments, "-o", "x.csv"]
    done = run_with(cli_fx, "export", "--study", str(cli_fx.main_study_id), "--code", GLUCOSE, *arguments, cwd=tmp_path)
    assert_one_line(done, 2, named)
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_library_advice_names_flags(cli_fx: FakeExchange, tmp_path: Path) -> None:
    study = str(cli_fx.main_study_id)
    wide = run_with(cli_fx, "export", "--study", study, "--code", GLUCOSE, "--code", HEART_RATE, "--layout", "wide", "-o", "w.parquet", cwd=tmp_path)
    assert_one_line(wide, 2, "--layout long", "--partition-by code", "jhe export-study")
    rest = run_with(cli_fx, "export", "--study", study, "--api", "rest", "--since", "2025-01-01", "-o", "r.csv", cwd=tmp_path)
    assert_one_line(rest, 2, "--api fhir")


def test_source_on_a_server_without_it_names_the_flag(tmp_path: Path) -> None:
    with FakeExchange(patients=2, days=1, seed=5, source_search=False) as old:
        done = run_with(old, "export", "--study", str(old.main_study_id), "--source", "imported", "-o", "x.csv", cwd=tmp_path)
        assert_one_line(done, 2, "does not list _source", "--source needs")
        assert list(tmp_path.iterdir()) == [], "nothing written"


def test_format_follows_the_suffix(cli_fx: FakeExchange, tmp_path: Path) -> None:
    done = run_with(cli_fx, "export", "--study", str(cli_fx.main_study_id), "--code", GLUCOSE, "-o", "g.parquet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "g.parquet").read_bytes()[:4] == b"PAR1"


def test_a_closed_stdout_ends_quietly(cli_fx: FakeExchange, tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already gone: every write fails with EPIPE
    env = {**os.environ, "JHE_URL": cli_fx.url, "JHE_TOKEN": cli_fx.token}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jhe", "patients"], cwd=tmp_path, env=env, stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=300,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_missing_optional_dependency_is_one_line(cli_fx: FakeExchange, tmp_path: Path) -> None:
    script = "import sys; sys.modules['pandas'] = None; from jhe.cli import main; sys.exit(main(['patients']))"
    env = {**os.environ, "JHE_URL": cli_fx.url, "JHE_TOKEN": cli_fx.token}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert_one_line(done, 2, "pandas", "pip install")


def test_the_servers_words_are_quoted_as_they_are(tmp_path: Path) -> None:
    from tests.hostile.server import Hostile, Reply

    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "patient_id and study_id disagree"}]}
    with Hostile(lambda request: Reply.json(outcome, status=400)) as hostile:
        done = run_jhe("export", "--url", hostile.url, "--token", "t", "--study", "1", "-o", "x.csv", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "patient_id and study_id disagree" in done.stderr, done.stderr
