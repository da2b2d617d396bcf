"""The Dask section (issue 16): a study's every code read by ``jhe.dask.read_observations``
on a ``LocalCluster`` of two worker processes, against one client's
``fetch_dataframe``, from the same server process with a real Exchange's latency
(``latency_ms`` per response, 1000 by default). Each is a fresh interpreter; the
cluster's start is timed apart from the read. The ratio is reported, not asserted.

    python benchmarks/_dask_bench.py [--size 1000000] [--latency-ms 1000] [--out benchmarks/DASK.md]

runs this section alone (``run.py`` runs it with the others); and

    python benchmarks/_dask_bench.py child single|dask URL TOKEN STUDY CONCURRENCY PARTITION_BY

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
# The single client at its defaults (16 pages in flight, up to 32), and the cluster by
# patient with the same 16 requests in flight in all and with the single client's ceiling
# of 32, and by week at 16.
RUNS = (("single", 16, ""), ("dask", 16, "patient"), ("dask", 32, "patient"), ("dask", 16, "week"))


def child(kind: str, url: str, token: str, study: int, concurrency: int, partition_by: str) -> dict[str, Any]:
    import pandas  # noqa: F401  (imported before the clock, as for every peer)

    import jhe

    if kind == "single":
        started = time.perf_counter()
        frame = jhe.Client(url, token).fetch_dataframe(study_id=study, progress=False)
        return {"read_s": time.perf_counter() - started, "rows": len(frame)}
    import distributed

    import jhe.dask

    began = time.perf_counter()
    cluster_on = {"n_workers": 2, "processes": True, "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    with distributed.LocalCluster(**cluster_on) as cluster, distributed.Client(cluster):
        started = time.perf_counter()
        ddf = jhe.dask.read_observations(
            study, url=url, credentials=jhe.dask.Credentials(token), concurrency=concurrency, partition_by=partition_by
        )
        planned = time.perf_counter()
        frame = ddf.compute()
        done = time.perf_counter()
    return {
        "cluster_start_s": started - began,
        "plan_s": planned - started,
        "read_s": done - started,
        "partitions": ddf.npartitions,
        "rows": len(frame),
    }


def _measure(server: Any, kind: str, concurrency: int, partition_by: str) -> dict[str, Any]:
    info = server.info
    arguments = [kind, info["url"], info["token"], str(info["study_id"]), str(concurrency), partition_by]
    result = json_child(__file__, arguments, timeout=3600)
    return {"kind": kind, "concurrency": concurrency, "partition_by": partition_by, **result}


def run(server: Any, latency_ms: int) -> dict[str, Any]:
    """Each run against `server`, after one unmeasured fetch that fills its render cache."""
    _measure(server, "single", 16, "")
    runs = [_measure(server, *run) for run in RUNS]
    return {"total": server.info["total"], "latency_ms": latency_ms, "runs": runs}


def table(result: dict[str, Any]) -> list[str]:
    """The section's Markdown table: each run's wall time and its ratio to the single client."""
    lines = [
        f"Every code of a study of {result['total']:,} observations from the fake Exchange at {result['latency_ms']} ms "
        "per response (`benchmarks/_dask_bench.py`): one client's `fetch_dataframe` at its defaults against "
        "`jhe.dask.read_observations(...).compute()` on `LocalCluster(n_workers=2, processes=True)`, planning "
        "(a count per patient, or per window) included, the cluster's start not. `concurrency` is the requests in "
        "flight at the Exchange (the single client: where it starts; it may rise to 32).",
        "",
        "| run | partition_by | concurrency | partitions | plan s | read s | rows | × single |",
        "|---|---|---|---|---|---|---|---|",
    ]
    single = next((r for r in result["runs"] if r.get("kind") == "single" and r["status"] == "ok"), None)
    for run in result["runs"]:
        by = run.get("partition_by") or ""
        if run["status"] != "ok":
            lines.append(f"| {run.get('kind', '?')} | {by} | {run.get('concurrency', '?')} | failed: {' '.join(run['error'])} | | | | |")
            continue
        ratio = f"{run['read_s'] / single['read_s']:.2f}" if single else "n/a"
        plan = f"{run['plan_s']:.1f}" if "plan_s" in run else ""
        lines.append(
            f"| {run['kind']} | {by} | {run['concurrency']} | {run.get('partitions', 1)} | {plan} | {run['read_s']:.1f} "
            f"| {run['rows']:,} | {ratio} |"
        )
    lines += [
        "",
        "Measured, not asserted. Every run here is bound by the server's latency, not by the CPU, and the "
        "cluster keeps to `concurrency` requests in flight in all, where the single client rises from 16 to 32. "
        "By patient, each patient is a fetch of its own (a first page, then its other pages beside a count), "
        "so a study of many small patients costs at least two round trips per patient, shared among "
        "`concurrency ÷ 2` fetches at once, and planning asks a count per patient. By week, a few large "
        "windows are each read as the single client reads the study, with a share of the budget each. Only "
        "wall time is measured here, not what spreading the decoding and the frames over workers saves.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "child":
        kind, url, token, study, concurrency, partition_by = argv[1:7]
        print(json.dumps(child(kind, url, token, int(study), int(concurrency), partition_by)))
        return 0
    import run as harness

    parser = argparse.ArgumentParser(description="the Dask cluster against one client")
    parser.add_argument("--size", type=int, default=1_000_000, help="observations in the study (default 1000000)")
    parser.add_argument("--latency-ms", type=int, default=1000, help="the server's latency per response (default 1000)")
    parser.add_argument("--out", type=Path, default=HERE / "DASK.md", help="the Markdown (default benchmarks/DASK.md)")
    args = parser.parse_args(argv)
    info = harness.machine()
    with harness.Server(args.size, args.latency_ms) as server:
        result = run(server, args.latency_ms)
    lines = [
        "# Dask: two workers against one client (issue 16)",
        "",
        f"Produced by `python benchmarks/_dask_bench.py --size {args.size} --latency-ms {args.latency_ms}` on {info['date']}: "
        f"{info['nproc']} CPUs, {info['cpu']}; jhe {info['versions']['jhe']}" + (f" (git {info['git']})" if info.get("git") else "")
        + f"; load average {info['loadavg_start']:.2f} at the start.",
        "",
        *table(result),
        "",
    ]
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"machine": info, "dask": result}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
