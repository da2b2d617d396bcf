"""A polars-only install (`pip install "jhe[polars]"`): pyarrow, pandas and numpy absent.

Each test runs Python in a subprocess whose `sitecustomize` marks those modules as not
installed before anything else is imported, so jhe and polars see them as absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE

ABSENT = ("pyarrow", "pandas", "numpy")

# sys.modules[name] = None: `import name` raises ImportError and importlib.util.find_spec
# answers None, as when the package is not installed.
BLOCKER = f"import sys\nfor name in {ABSENT!r}:\n    sys.modules[name] = None\n"

FETCH = """
import json, sys, warnings
import polars as pl
import jhe
from jhe.testing import FakeExchange

warnings.simplefilter("error")
with FakeExchange(patients=3, days=2, seed=0, damaged_every=9) as fx:
    client = jhe.Client(fx.url, fx.token)
    study = fx.main_study_id
    glucose = client.fetch_polars(study_id=study, code="{glucose}", progress=False)
    assert isinstance(glucose, pl.DataFrame), type(glucose)
    per_code = client.fetch_polars(study_id=study, code=["{glucose}", "{heart_rate}"], layout="wide", progress=False)
    observations = client.fetch(study_id=study, code=["{glucose}", "{heart_rate}"], layout="long", progress=False)
    shown = repr(observations) + observations._repr_html_()
    print(json.dumps({{
        "absent": [name for name in {absent!r} if sys.modules.get(name, 0) is not None],
        "glucose_rows": glucose.height,
        "expected_glucose_rows": len(fx.expected_observations(study_id=study, code="{glucose}")),
        "glucose_dtypes": {{name: str(dtype) for name, dtype in glucose.schema.items()}},
        "per_code": {{code: frame.height for code, frame in per_code.items()}},
        "errors": len(observations.errors),
        "summary": observations.summary(),
        "shown": "{glucose}" in shown and "{heart_rate}" in shown,
    }}, default=lambda value: value.isoformat()))
""".format(glucose=GLUCOSE, heart_rate=HEART_RATE, absent=ABSENT)


@pytest.fixture
def polars_only(tmp_path: Path) -> dict[str, str]:
    """The environment of a subprocess that cannot import pyarrow, pandas or numpy."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k not in ("JHE_URL", "JHE_TOKEN")}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_blocker_hides_the_modules(polars_only: dict[str, str], tmp_path: Path) -> None:
    done = run(polars_only, "-c", "import importlib.util as u; print([u.find_spec(m) for m in %r])" % (ABSENT,), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[None, None, None]"


def test_fetch_polars_and_the_summary_work_without_pyarrow(polars_only: dict[str, str], tmp_path: Path) -> None:
    done = run(polars_only, "-c", FETCH, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["absent"] == [], "a blocked module was imported after all"
    assert seen["glucose_rows"] == seen["expected_glucose_rows"] > 0
    assert seen["glucose_dtypes"]["effective_start"] == "Datetime(time_unit='us', time_zone='UTC')"
    assert seen["glucose_dtypes"]["meal_context"] == "Categorical"
    assert set(seen["per_code"]) == {GLUCOSE, HEART_RATE}
    assert seen["errors"] > 0 and seen["shown"]

    # The same fetch here, where pyarrow computes the summary, agrees with polars' one.
    with FakeExchange(patients=3, days=2, seed=0, damaged_every=9) as fx:
        client = jhe.Client(fx.url, fx.token)
        observations = client.fetch(study_id=fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="long", progress=False)
        summary = json.loads(json.dumps(observations.summary(), default=lambda value: value.isoformat()))
    assert seen["summary"] == summary
    assert seen["errors"] == len(observations.errors)


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["demo", "--patients", "2", "--days", "1"], "pandas"),
        (["patients"], "pandas"),
        (["studies"], "pandas"),
        (["export", "--code", GLUCOSE, "-o", "out.csv"], "pyarrow"),
        (["export", "--format", "parquet", "-o", "out.parquet"], "pyarrow"),
    ],
)
def test_cli_commands_name_the_extra_they_need(
    polars_only: dict[str, str], tmp_path: Path, fx: FakeExchange, command: list[str], extra: str
) -> None:
    env = {**polars_only, "JHE_URL": fx.url, "JHE_TOKEN": fx.token}
    done = run(env, "-m", "jhe", *command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"jhe {command[0]}: this needs {extra}; install it with: pip install 'jhe[{extra}]'"]
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"], "nothing is written"
