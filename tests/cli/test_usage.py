"""Every command's --help, and exit status 2 for missing settings and arguments."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import run_jhe


def test_every_command_has_help_and_bad_settings_exit_2(tmp_path: Path) -> None:
    for command in ["demo", "export", "patients", "studies", "fake-server"]:
        done = run_jhe(command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "usage: jhe" in done.stdout, command
    missing = run_jhe("patients", cwd=tmp_path)  # no JHE_URL / JHE_TOKEN
    assert missing.returncode == 2 and "JHE_URL" in missing.stderr
    assert run_jhe("export", "--study", "1", cwd=tmp_path).returncode == 2  # -o is required
