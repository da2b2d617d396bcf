"""Running the console script as a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jhe.testing import FakeExchange


def run_jhe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`jhe ...` with no JHE_URL / JHE_TOKEN in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("JHE_URL", "JHE_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "jhe", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run_with(fx: FakeExchange, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`jhe ...` configured for `fx` through JHE_URL / JHE_TOKEN."""
    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token}
    return subprocess.run([sys.executable, "-m", "jhe", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
