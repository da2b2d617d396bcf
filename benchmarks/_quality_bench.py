"""The quality report's benchmark (issue 14): the study's fetch against the report's checks
over what it fetched, in the same fresh interpreter against the same server process
(``_server.py``), and ``client.quality(...)`` end to end (its REST calls, the fetch and the
checks) in another.

    python benchmarks/_quality_bench.py child checks|quality URL TOKEN STUDY

is one measurement (run by :func:`run`); it prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any


def child(mode: str, url: str, token: str, study: int) -> dict[str, Any]:
    # Imports before the clock, as for every peer of the harness.
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow  # noqa: F401

    import jhe
    from jhe.quality._frame import read
    from jhe.quality._report import build_report
    from jhe.quality._series import now_utc

    client = jhe.Client(url, token)
    started = time.perf_counter()
    if mode == "quality":
        report = client.quality(study, progress=False)
        return {"wall_s": time.perf_counter() - started, "patients": report.completeness["patient_id"].nunique()}
    obs = client.fetch(study_id=study, layout="long", progress=False)
    fetched = time.perf_counter()
    report = build_report(read(obs), obs.errors, now=now_utc())
    checked = time.perf_counter()
    return {
        "fetch_s": fetched - started,
        "checks_s": checked - fetched,
        "observations": obs.total,
        "flagged_outliers": report.parts["outliers"].height,
    }


def _measure(server: Any, mode: str) -> dict[str, Any]:
    info = server.info
    command = [sys.executable, __file__, "child", mode, info["url"], info["token"], str(info["study_id"])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"status": "failed", "error": done.stderr.strip().splitlines()[-1:]}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def run(server: Any) -> dict[str, Any]:
    """The fetch and the checks in one process, then the whole report in another."""
    return {"total": server.info["total"], "checks": _measure(server, "checks"), "quality": _measure(server, "quality")}


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
