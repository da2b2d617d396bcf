"""The stubs are honest (stubtest against the built extension), the README's examples
type-check with mypy --strict, and the fetch methods' results type as they are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# The working directory of the mypy runs: not tests/, where this package would shadow the
# standard library's typing module.
HERE = Path(__file__).parent
README = HERE.parent.parent / "README.md"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, cwd=HERE)


def test_stubs_match_the_extension() -> None:
    done = run("mypy.stubtest", "jhe._jhe")
    assert done.returncode == 0, done.stdout + done.stderr


def test_examples_type_check_strictly() -> None:
    done = run("mypy", "--strict", "--no-incremental", str(HERE / "examples.py"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_results_type_as_one_table_or_a_dict_per_code() -> None:
    done = run("mypy", "--strict", "--no-incremental", str(HERE / "result_types.py"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readmes_headline_example_type_checks_strictly(tmp_path: Path) -> None:
    """The first Python block of the README, exactly as written there."""
    headline = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert headline is not None and "fetch_dataframe" in headline.group(1)
    module = tmp_path / "readme_headline.py"
    module.write_text(headline.group(1))
    done = run("mypy", "--strict", "--no-incremental", str(module))
    assert done.returncode == 0, done.stdout + done.stderr
