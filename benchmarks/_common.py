"""What the harness's modules share: the query, the peers' names, running a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GLUCOSE = "omh:blood-glucose:4.0"
QUERIES = [("blood glucose", GLUCOSE), ("all codes", None)]
# The Python peers (benchmarks/peers.py), in the order of the tables.
PEER_ORDER = ["jhe", "jhe-arrow", "power", "baseline", "guide", "jhc"]
# The floors (benchmarks/_floors.py), measured on the all-codes query.
FLOOR_ORDER = ["http-floor", "parse-floor", "parse-value"]
FHIR_PAGE = 1000  # the server's largest page: what jhe, jhc, the baseline and the floors ask for
GUIDE_PAGE = 20  # the guide sends no _count, so it gets the server's default page
POWER_IN_FLIGHT = 8  # the power user's aiohttp requests in flight
CEILING = 32  # issue 12's default `max_concurrency`: the round-trip model's most pages in flight
CLK_TCK = os.sysconf("SC_CLK_TCK")


def label(peer: str, concurrency: int | None = None) -> str:
    suffix = f", concurrency {concurrency}" if concurrency else ""
    return {
        "jhe": "jhe fetch_dataframe",
        "jhe-arrow": "jhe fetch_arrow",
        "power": "power user's Python (aiohttp, orjson)",
        "baseline": "pure-Python baseline",
        "guide": "user guide's code",
        "jhc": "jupyterhealth-client",
        "http-floor": f"HTTP floor (curl, {POWER_IN_FLIGHT} in flight)",
        "parse-floor": "parse floor (serde typed, borrowed, 2 threads)",
        "parse-value": "serde_json::Value on both layers, 2 threads",
    }[peer] + suffix


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def find(results: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The first measured (status ok) row with these values."""
    for row in results:
        if all(row.get(k) == v for k, v in match.items()) and row["status"] == "ok":
            return row
    return None


@dataclass
class Child:
    """A finished child process: its exit, its own rusage (wait4) and its wall time."""

    returncode: int
    timed_out: bool
    wall_s: float
    cpu_s: float
    peak_rss_kb: int
    stdout: str
    stderr: str


def run_child(command: list[str], timeout: float, *, cwd: Path | None = None) -> Child:
    """Run `command`, killing it after `timeout` seconds; CPU and peak RSS are the child's
    own (``os.wait4``), the wall time is from its start to its exit."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        child.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    # Read both pipes on threads so that a chatty child cannot block on a full pipe.
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda name=name, pipe=pipe: out.__setitem__(name, pipe.read()))
        for name, pipe in (("stdout", child.stdout), ("stderr", child.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return Child(
        returncode=child.returncode,
        timed_out=timed_out.is_set(),
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_kb=usage.ru_maxrss,
        stdout=out.get("stdout", b"").decode(errors="replace"),
        stderr=out.get("stderr", b"").decode(errors="replace"),
    )


def json_child(script: str, arguments: list[str], timeout: float) -> dict[str, Any]:
    """``python script child ARGUMENTS...`` in a fresh interpreter: its last stdout line, a
    JSON object, with ``status`` "ok"; or ``status`` "failed" and its last stderr line."""
    done = subprocess.run([sys.executable, script, "child", *arguments], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        return {"status": "failed", "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median by wall of the runs that worked (the first failure when none did)."""
    ok = sorted((run for run in runs if run["status"] == "ok"), key=lambda run: run["wall_s"])
    if not ok:
        return runs[0]
    chosen = dict(ok[(len(ok) - 1) // 2])
    chosen["runs"] = len(ok)
    chosen["walls_s"] = [round(run["wall_s"], 4) for run in runs if run["status"] == "ok"]
    return chosen
