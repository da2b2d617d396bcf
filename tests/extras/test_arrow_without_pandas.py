"""Arrow and polars results never import pandas: in a fresh kernel that import alone takes
longer than a fetch, and a user who asked for Arrow pays for it with nothing to show."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import GLUCOSE

FETCH = f"""
import json, sys
import pyarrow
import jhe
from jhe.testing import FakeExchange

with FakeExchange(patients=2, days=2, seed=0, damaged_every=5) as fx:
    client = jhe.Client(fx.url, fx.token)
    obs = client.fetch(study_id=fx.main_study_id, progress=False)
    tables = [client.fetch_arrow(study_id=fx.main_study_id, code="{GLUCOSE}", progress=False), obs.to_arrow()]
    print(json.dumps({{
        "pandas": "pandas" in sys.modules,
        "rows": [table.num_rows for table in tables],
        "errors": len(obs.errors),
        "summary": len(obs.summary()),
    }}))
"""


def test_fetch_arrow_does_not_import_pandas() -> None:
    done = subprocess.run([sys.executable, "-c", FETCH], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["pandas"] is False, "converting to Arrow imported pandas"
    assert min(seen["rows"]) > 0 and seen["errors"] > 0 and seen["summary"] > 0, seen
