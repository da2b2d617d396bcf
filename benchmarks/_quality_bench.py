"""The quality report's benchmark (issue 14): the study's fetch against the report's checks
over what it fetched, in the same fresh interpreter against the same server process
(``_server.py``), and ``client.quality(...)`` end to end (its REST calls, the fetch and the
checks) in another.

    python benchmarks/_quality_bench.py [--size 1000000] [--out benchmarks/QUALITY.md]

runs this section alone (``run.py`` runs it with the others); and

    python benchmarks/_quality_bench.py child checks|quality URL TOKEN STUDY

is one measurement (run by :func:`run`); it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import json_child

HERE = Path(__file__).resolve().parent


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
    return json_child(__file__, [mode, info["url"], info["token"], str(info["study_id"])], timeout=1800)


def run(server: Any, latency_ms: int) -> dict[str, Any]:
    """The fetch and the checks in one process, then the whole report in another. Against a
    server that answers at once, the fetch and checks are measured twice and the second kept:
    the first fills the server's render cache (its CPU is the client's cores' too)."""
    if latency_ms == 0:
        _measure(server, "checks")
    return {
        "latency_ms": latency_ms,
        "total": server.info["total"],
        "checks": _measure(server, "checks"),
        "quality": _measure(server, "quality"),
    }


def main(argv: list[str]) -> int:
    """This section alone: a server of ``--size`` observations, the measurements, and the
    section's Markdown (with the machine and the command) and JSON written."""
    import _report
    import run as harness

    parser = argparse.ArgumentParser(description="the quality report against its fetch")
    parser.add_argument("--size", type=int, default=1_000_000, help="observations in the study (default 1000000)")
    parser.add_argument("--latency-ms", type=int, default=1000, help="the second server's latency per response (default 1000, as a real Exchange's)")
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md", help="the Markdown (default benchmarks/QUALITY.md)")
    args = parser.parse_args(argv)
    info = harness.machine()
    runs = []
    for latency_ms in (0, args.latency_ms):
        with harness.Server(args.size, latency_ms) as server:
            runs.append(run(server, latency_ms))
    result = {"runs": runs}
    lines = [
        "# The quality report against its fetch (issue 14)",
        "",
        f"Produced by `python benchmarks/_quality_bench.py --size {args.size} --latency-ms {args.latency_ms}` on {info['date']}: {info['nproc']} CPUs, "
        f"{info['cpu']}; jhe {info['versions']['jhe']}" + (f" (git {info['git']})" if info.get("git") else "")
        + f"; load average {info['loadavg_start']:.2f} at the start.",
        "",
        *_report.quality_table(result),
        "",
    ]
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"machine": info, "quality": result}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
