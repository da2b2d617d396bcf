"""De-identification's benchmark (issue 15): a study's fetch against de-identifying what it
fetched (``obs.deidentify``: pseudonyms, date shifts or Safe Harbor's times, identifiers
removed, in Rust over the Arrow tables), in the same fresh interpreter against the same
server process (``_server.py``), for both layouts.

    python benchmarks/_privacy_bench.py [--size 1000000] [--out benchmarks/PRIVACY.md]

runs this section alone (``run.py`` runs it with the others); and

    python benchmarks/_privacy_bench.py child LAYOUT URL TOKEN STUDY

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
KEY = "a benchmark key, 32 bytes long.."
LAYOUTS = ("wide", "long")


def child(layout: str, url: str, token: str, study: int) -> dict[str, Any]:
    import pyarrow  # noqa: F401  (imported before the clock, as for every peer)

    import jhe

    client = jhe.Client(url, token)
    started = time.perf_counter()
    obs = client.fetch(study_id=study, layout=layout, progress=False)
    fetched = time.perf_counter()
    pseudonymized = obs.deidentify(KEY)
    shifted = time.perf_counter()
    harbored = obs.deidentify(KEY, mode="safe_harbor")
    done = time.perf_counter()
    rows = sum(table.num_rows for table in _tables(pseudonymized))
    assert rows == sum(table.num_rows for table in _tables(harbored)) == sum(table.num_rows for table in _tables(obs))
    return {
        "fetch_s": fetched - started,
        "pseudonymize_s": shifted - fetched,
        "safe_harbor_s": done - shifted,
        "observations": obs.total,
        "rows": rows,
    }


def _tables(obs: Any) -> list[Any]:
    arrow = obs.to_arrow()
    return list(arrow.values()) if isinstance(arrow, dict) else [arrow]


def _measure(server: Any, layout: str) -> dict[str, Any]:
    info = server.info
    return json_child(__file__, [layout, info["url"], info["token"], str(info["study_id"])], timeout=1800)


def run(server: Any) -> dict[str, Any]:
    """Each layout's fetch and de-identification in one process. The first fetch fills the
    server's render cache (its CPU is the client's cores' too): it is run once before."""
    _measure(server, "long")
    return {"total": server.info["total"], "layouts": {layout: _measure(server, layout) for layout in LAYOUTS}}


def table(result: dict[str, Any]) -> list[str]:
    """The section's Markdown table: each step's wall time and its ratio to the fetch."""
    lines = [
        f"Every code of a study of {result['total']:,} observations from the fake Exchange answering at once "
        "(`benchmarks/_privacy_bench.py`): the fetch, then `obs.deidentify(key)` (pseudonymize: HMAC-SHA256 "
        "pseudonyms for every patient and observation, every time column shifted, uuid and names removed) and "
        "`obs.deidentify(key, mode=\"safe_harbor\")` over that result, in one fresh interpreter. A real Exchange "
        "answers slower, so the fetch takes longer and the ratio is smaller.",
        "",
        "| layout | step | wall s | ÷ the fetch |",
        "|---|---|---:|---:|",
    ]
    for layout, run in result["layouts"].items():
        if run["status"] != "ok":
            lines.append(f"| {layout} | fetch and de-identification | failed: {' '.join(run.get('error', []))} | |")
            continue
        fetch = run["fetch_s"]
        lines.append(f"| {layout} | `client.fetch(study_id=..., layout=\"{layout}\")` ({run['observations']:,} observations, {run['rows']:,} rows) | {fetch:.2f} | 1.000 |")
        lines.append(f"| {layout} | `obs.deidentify(key)` | {run['pseudonymize_s']:.2f} | {run['pseudonymize_s'] / fetch:.3f} |")
        lines.append(f"| {layout} | `obs.deidentify(key, mode=\"safe_harbor\")` | {run['safe_harbor_s']:.2f} | {run['safe_harbor_s'] / fetch:.3f} |")
    return lines


def main(argv: list[str]) -> int:
    """This section alone: a server of ``--size`` observations, the measurements, and the
    section's Markdown (with the machine and the command) and JSON written."""
    import run as harness

    parser = argparse.ArgumentParser(description="de-identification against its fetch")
    parser.add_argument("--size", type=int, default=1_000_000, help="observations in the study (default 1000000)")
    parser.add_argument("--out", type=Path, default=HERE / "PRIVACY.md", help="the Markdown (default benchmarks/PRIVACY.md)")
    args = parser.parse_args(argv)
    info = harness.machine()
    with harness.Server(args.size) as server:
        result = run(server)
    lines = [
        "# De-identification against its fetch (issue 15)",
        "",
        f"Produced by `python benchmarks/_privacy_bench.py --size {args.size}` on {info['date']}: {info['nproc']} CPUs, "
        f"{info['cpu']}; jhe {info['versions']['jhe']}" + (f" (git {info['git']})" if info.get("git") else "")
        + f"; load average {info['loadavg_start']:.2f} at the start.",
        "",
        *table(result),
        "",
    ]
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"machine": info, "privacy": result}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
