"""Benchmark jhe against the other ways to get JHE observations into pandas.

    python benchmarks/run.py [--sizes 10000,100000,1000000] [--quick] [--out benchmarks/RESULTS.md]

For each size it starts a fake Exchange (``benchmarks/_server.py``, a process of its own, so
the server's CPU is not the client's) whose main study holds about that many observations,
and times the same fetch (the study through the FHIR API: blood glucose, then all codes)
into pandas by each peer (``benchmarks/peers.py``), each in a fresh interpreter: jhe,
jupyterhealth-client 0.5 (``list_observations_df``), the user guide's own code and an
optimised pure-Python baseline. Then a latency-bound fetch (every response delayed, jhe at
several concurrencies against the peers) and the memory of jhe's largest fetch against its
Arrow table. It writes a Markdown report, a PNG chart and the raw numbers as JSON.

``--quick`` is the CI smoke run: a tiny study, no repeats, a short latency; its numbers mean
nothing, only that the harness works.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GLUCOSE = "omh:blood-glucose:4.0"
QUERIES = [("blood glucose", GLUCOSE), ("all codes", None)]
PEER_ORDER = ["jhe", "baseline", "guide", "jhc"]
FHIR_PAGE = 1000  # the server's largest page: what jhe, jhc and the baseline ask for
GUIDE_PAGE = 20  # the guide sends no _count, so it gets the server's default page
CLK_TCK = os.sysconf("SC_CLK_TCK")


def label(peer: str, concurrency: int | None = None) -> str:
    if peer == "jhe":
        return f"jhe (concurrency {concurrency or 8})"
    return {
        "jhc": "jupyterhealth-client",
        "guide": "user guide's code",
        "baseline": "pure-Python baseline",
        "jhe-arrow": "jhe fetch_arrow",
    }[peer]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# machine and versions


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or "?",
        "memory_gb": None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {}
    for package in ("jhe", "pandas", "pyarrow", "numpy", "jupyterhealth-client", "requests", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    info["versions"] = versions
    info["loadavg_start"] = os.getloadavg()[0]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "python"], cwd=HERE, capture_output=True, text=True)
        if head.returncode == 0:
            info["git"] = head.stdout.strip() + (" (src/ or python/ modified)" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------------------
# the server


class Server:
    """A fake Exchange in its own process (benchmarks/_server.py)."""

    def __init__(self, target: int, latency_ms: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py"), "--target", str(target), "--latency-ms", str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"the fake Exchange did not start (exit {self.process.returncode})")
        self.info: dict[str, Any] = json.loads(line)

    def cpu_s(self) -> float:
        """User+sys CPU seconds the server has used so far."""
        text = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = text.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def expected(self, code: str | None) -> int:
        return int(self.info["glucose_total"] if code == GLUCOSE else self.info["total"])


# --------------------------------------------------------------------------------------
# one measurement


def measure_once(server: Server, peer: str, code: str | None, concurrency: int | None, timeout: float) -> dict[str, Any]:
    """Run one peer once in a fresh interpreter; its own CPU and peak RSS via wait4."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        stderr_path = Path(tmp) / "stderr.txt"
        command = [
            sys.executable, str(HERE / "peers.py"), "--peer", peer,
            "--url", server.info["url"], "--token", server.info["token"],
            "--study", str(server.info["study_id"]), "--result", str(result_path),
        ]
        if code:
            command += ["--code", code]
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        server_cpu0 = server.cpu_s()
        with open(stderr_path, "w") as stderr:
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            child.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = server.cpu_s() - server_cpu0
        out: dict[str, Any] = {
            "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "process_peak_rss_kb": usage.ru_maxrss,
            "server_cpu_s": server_cpu,
        }
        if timed_out.is_set():
            out.update(status="timeout", reason=f"killed after {timeout:.0f} s")
        elif child.returncode != 0 or not result_path.exists():
            lines = stderr_path.read_text().strip().splitlines() or ["?"]
            error = next((line for line in reversed(lines) if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)), lines[-1])
            out.update(status="failed", reason=f"exit {child.returncode}: {error[:300]}")
        else:
            out.update(json.loads(result_path.read_text()), status="ok")
        return out


def measure(
    server: Server,
    peer: str,
    code: str | None,
    concurrency: int | None,
    *,
    repeat: int,
    timeout: float,
) -> dict[str, Any]:
    """Measure; runs shorter than 10 s are repeated (fresh processes) and the median kept."""
    runs = [measure_once(server, peer, code, concurrency, timeout)]
    if runs[0]["status"] == "ok" and runs[0]["wall_s"] < 10:
        for _ in range(repeat - 1):
            runs.append(measure_once(server, peer, code, concurrency, timeout))
    ok = [run for run in runs if run["status"] == "ok"]
    if not ok:
        return runs[0]
    ok.sort(key=lambda run: run["wall_s"])
    chosen = dict(ok[(len(ok) - 1) // 2])
    chosen["runs"] = len(ok)
    chosen["walls_s"] = [round(run["wall_s"], 4) for run in runs if run["status"] == "ok"]
    return chosen


def record(server: Server, section: str, peer: str, query: str, code: str | None, concurrency: int | None) -> dict[str, Any]:
    return {
        "section": section,
        "peer": peer,
        "label": label(peer, concurrency),
        "concurrency": concurrency,
        "query": query,
        "code": code,
        "target": server.info.get("target"),
        "patients": server.info["patients"],
        "days": server.info["days"],
        "latency_ms": server.info["latency_ms"],
        "expected": server.expected(code),
        "study_total": server.info["total"],
    }


def finish(row: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    row.update(result)
    if row["status"] == "ok":
        row["match"] = row["observations"] == row["expected"]
        row["obs_per_s"] = row["expected"] / row["wall_s"] if row["wall_s"] > 0 else None
    log(
        f"  {row['label']:<30} {row['query']:<14} {row['expected']:>9,} "
        + (
            f"{row['wall_s']:8.2f} s  {row['observations']:,} rows {'OK' if row['match'] else 'MISMATCH'}"
            if row["status"] == "ok"
            else f"{row['status']}: {row.get('reason')}"
        )
    )
    return row


# --------------------------------------------------------------------------------------
# the sections


def run_main(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    # (peer, query) -> (expected, wall) of the last size it ran at, to estimate the next
    last: dict[tuple[str, str], tuple[int, float]] = {}
    sizes = sorted(args.sizes)
    for index, size in enumerate(sizes):
        log(f"size {size:,}: starting the fake Exchange")
        with Server(size) as server:
            server.info["target"] = size
            log(f"  {server.info['patients']} patients x {server.info['days']} days: {server.info['total']:,} observations, {server.info['glucose_total']:,} blood glucose")
            for query, code in QUERIES:
                for peer in args.peers:
                    row = record(server, "main", peer, query, code, None)
                    previous = last.get((peer, query))
                    if previous is not None:
                        estimate = previous[1] * row["expected"] / previous[0]
                        if estimate > args.max_seconds:
                            rate = previous[0] / previous[1]
                            results.append(skipped(row, estimate, f"at {rate:,.0f} obs/s (measured at {previous[0]:,})", args))
                            continue
                    result = measure(server, peer, code, None, repeat=args.repeat, timeout=args.max_seconds * 2 + 60)
                    results.append(finish(row, result))
                    if result["status"] == "ok":
                        last[(peer, query)] = (row["expected"], result["wall_s"])
            if index == len(sizes) - 1 and not args.no_memory and "jhe" in args.peers:
                log("  memory: jhe fetch_arrow, all codes")
                row = record(server, "memory", "jhe-arrow", "all codes", None, None)
                results.append(finish(row, measure(server, "jhe-arrow", None, None, repeat=1, timeout=args.max_seconds * 2 + 60)))


def skipped(row: dict[str, Any], estimate: float, basis: str, args: argparse.Namespace) -> dict[str, Any]:
    """A peer not run because it would take longer than ``--max-seconds``."""
    return finish(row, {
        "status": "skipped",
        "estimate_s": estimate,
        "reason": f"estimated {estimate / 60:.0f} min {basis}, over the {args.max_seconds / 60:.0f} min limit",
    })


def run_latency(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    log(f"latency: {args.latency_ms} ms per response, about {args.latency_size:,} observations")
    # CPU-bound rates from the main section (all codes), nearest size, to estimate slow peers
    rates: dict[str, float] = {}
    for row in results:
        if row["section"] == "main" and row["query"] == "all codes" and row["status"] == "ok":
            rates[row["peer"]] = row["expected"] / row["wall_s"]
    with Server(args.latency_size, args.latency_ms) as server:
        server.info["target"] = args.latency_size
        total = server.info["total"]
        log(f"  {server.info['patients']} patients x {server.info['days']} days: {total:,} observations")
        runs: list[tuple[str, int | None]] = [("jhe", c) for c in args.concurrency] if "jhe" in args.peers else []
        runs += [(peer, None) for peer in args.peers if peer != "jhe"]
        for peer, concurrency in runs:
            row = record(server, "latency", peer, "all codes", None, concurrency)
            row["pages"] = math.ceil(total / (GUIDE_PAGE if peer == "guide" else FHIR_PAGE))
            if peer in rates:
                estimate = row["pages"] * args.latency_ms / 1000 + total / rates[peer]
                if estimate > args.max_seconds:
                    results.append(skipped(row, estimate, f"({row['pages']:,} pages)", args))
                    continue
            result = measure(server, peer, None, concurrency, repeat=args.repeat, timeout=args.max_seconds * 2 + 60)
            results.append(finish(row, result))


# --------------------------------------------------------------------------------------
# the report


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def mb(kb: float | None) -> str:
    return "" if kb is None else f"{kb / 1024:,.0f}"


def rows_cell(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return ""
    mark = "✓" if row["match"] else f"✗ (server: {row['expected']:,})"
    return f"{row['observations']:,} {mark}"


def ratio(row: dict[str, Any], ref: dict[str, Any] | None, key: str) -> str:
    if row["status"] != "ok" or not ref or ref.get("status") != "ok" or row is ref:
        return "1" if row is ref else ""
    if not ref[key]:
        return ""
    return f"{row[key] / ref[key]:,.1f}×"


def main_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| study (patients × days) | query | peer | observations (= server) | wall s | client CPU s | server CPU s | peak RSS MB | obs/s | wall ÷ jhe | CPU ÷ jhe |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    main = [row for row in results if row["section"] == "main"]
    for row in main:
        ref = next(
            (r for r in main if r["peer"] == "jhe" and r["target"] == row["target"] and r["query"] == row["query"]),
            None,
        )
        study = f"{row['study_total']:,} ({row['patients']} × {row['days']} d)"
        if row["status"] == "ok":
            lines.append(
                f"| {study} | {row['query']} | {row['label']} | {rows_cell(row)} | {fmt(row['wall_s'])} | "
                f"{fmt(row['cpu_s'])} | {fmt(row['server_cpu_s'])} | {mb(row['peak_rss_kb'])} | "
                f"{fmt(row['obs_per_s'], 0)} | {ratio(row, ref, 'wall_s')} | {ratio(row, ref, 'cpu_s')} |"
            )
        else:
            lines.append(f"| {study} | {row['query']} | {row['label']} | {row['status']}: {row.get('reason', '')} | | | | | | | |")
    return lines


def latency_table(results: list[dict[str, Any]]) -> list[str]:
    rows = [row for row in results if row["section"] == "latency"]
    if not rows:
        return []
    c1 = next((r for r in rows if r["peer"] == "jhe" and r["concurrency"] == 1), None)
    c8 = next((r for r in rows if r["peer"] == "jhe" and r["concurrency"] == 8), None)
    lines = [
        "| peer | pages | observations (= server) | wall s | client CPU s | obs/s | wall ÷ jhe (concurrency 8) | speed-up over jhe concurrency 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['label']} | {row['pages']:,} | {row['status']}: {row.get('reason', '')} | | | | | |")
            continue
        speedup = f"{c1['wall_s'] / row['wall_s']:.2g}×" if c1 and c1["status"] == "ok" else ""
        lines.append(
            f"| {row['label']} | {row['pages']:,} | {rows_cell(row)} | {fmt(row['wall_s'])} | {fmt(row['cpu_s'])} | "
            f"{fmt(row['obs_per_s'], 0)} | {ratio(row, c8, 'wall_s')} | {speedup} |"
        )
    return lines


def memory_rows(results: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    arrow = next((r for r in results if r["section"] == "memory" and r["status"] == "ok"), None)
    if arrow is None:
        return None, None
    frame = next(
        (r for r in results if r["section"] == "main" and r["peer"] == "jhe" and r["query"] == "all codes"
         and r["target"] == arrow["target"] and r["status"] == "ok"),
        None,
    )
    return arrow, frame


def memory_table(results: list[dict[str, Any]]) -> list[str]:
    arrow, frame = memory_rows(results)
    if arrow is None:
        return []
    nbytes = arrow["arrow_nbytes"]
    limit_kb = (2 * nbytes + 100 * 1024**2) / 1024
    lines = [
        f"Study of {arrow['expected']:,} observations, all codes, jhe at default concurrency. The Arrow "
        f"table (`client.fetch_arrow(...)`, long layout: {arrow['rows']:,} rows) is "
        f"**{nbytes / 1024**2:,.1f} MB** (`pyarrow.Table.nbytes`); target: peak RSS ≤ 2 × table + 100 MB "
        f"= {limit_kb / 1024:,.0f} MB.",
        "",
        "| fetch | RSS before the fetch MB | peak RSS MB | growth (peak − before) MB | peak ≤ 2×table+100 MB | growth ≤ 2×table+100 MB |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, row in (("`fetch_arrow` (all codes)", arrow), ("`fetch_dataframe` (all codes, pandas)", frame)):
        if row is None:
            continue
        peak, before = row["peak_rss_kb"], row["rss_before_kb"]
        lines.append(
            f"| {name} | {mb(before)} | {mb(peak)} | {mb(peak - before)} | "
            f"{'met' if peak <= limit_kb else 'missed'} | {'met' if peak - before <= limit_kb else 'missed'} |"
        )
    lines += [
        "",
        "\"RSS before\" is the interpreter with pandas, pyarrow, requests and jhe imported; the peak is the "
        "child process's `ru_maxrss` read as soon as the fetch returns (the row count checked afterwards is not in it).",
    ]
    return lines


def find(results: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for row in results:
        if all(row.get(k) == v for k, v in match.items()) and row["status"] == "ok":
            return row
    return None


def targets(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for query, _ in QUERIES:
        jhe = find(results, section="main", peer="jhe", target=100_000, query=query)
        for peer, need in (("jhc", 200), ("baseline", 10)):
            other = find(results, section="main", peer=peer, target=100_000, query=query)
            name = f"100,000, {query}: jhe ≥ {need}× faster than {label(peer)}"
            if jhe and other:
                x = other["wall_s"] / jhe["wall_s"]
                lines.append(f"| {name} | {x:,.1f}× | {'met' if x >= need else 'missed'} |")
            else:
                lines.append(f"| {name} | not measured | |")
    arrow, _ = memory_rows(results)
    if arrow and arrow["target"] >= 1_000_000:
        limit = 2 * arrow["arrow_nbytes"] / 1024 + 100 * 1024
        peak = arrow["peak_rss_kb"]
        lines.append(
            f"| 1,000,000: peak RSS ≤ 2 × Arrow table + 100 MB | {peak / 1024:,.0f} MB vs {limit / 1024:,.0f} MB "
            f"(growth {(peak - arrow['rss_before_kb']) / 1024:,.0f} MB) | {'met' if peak <= limit else 'missed'} |"
        )
    else:
        lines.append("| 1,000,000: peak RSS ≤ 2 × Arrow table + 100 MB | not measured at 1,000,000 | |")
    c1 = find(results, section="latency", peer="jhe", concurrency=1)
    c8 = find(results, section="latency", peer="jhe", concurrency=8)
    if c1 and c8 and c1["latency_ms"] == 200:
        x = c1["wall_s"] / c8["wall_s"]
        lines.append(f"| 200 ms latency: concurrency 8 ≥ 6× faster than 1 | {x:.1f}× | {'met' if x >= 6 else 'missed'} |")
    lines.append("| decode ≥ ½ serde_json throughput | the criterion bench (`cargo bench`), not this harness | |")
    return lines


def write_report(args: argparse.Namespace, info: dict[str, Any], results: list[dict[str, Any]], elapsed: float) -> None:
    v = info["versions"]
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "") + f" --sizes {','.join(str(s) for s in args.sizes)}"
    lines = [
        "# jhe benchmarks",
        "",
        f"Produced by `{command}` in {elapsed / 60:.0f} min" + (" (**--quick: a smoke run, the numbers mean nothing**)" if args.quick else "") + ".",
        "",
        f"- Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory_gb']} GB RAM, {info['os']}",
        f"- Python {info['python']}; jhe {v['jhe']}" + (f" (git {info['git']})" if info.get("git") else "")
        + f"; pandas {v['pandas']}; pyarrow {v['pyarrow']}; numpy {v['numpy']}; jupyterhealth-client {v['jupyterhealth-client']}; requests {v['requests']}",
        f"- Date: {info['date']}; 1-minute load average {info['loadavg_start']:.2f} at the start, {info['loadavg_end']:.2f} at the end",
        "",
        "## How it is measured",
        "",
        "- The server is jhe's fake Exchange (`jhe.testing.FakeExchange`, current API, no gzip, `render_cache=True`: "
        "each resource is rendered once, then served from memory, so the server's CPU is small and the same for "
        "every peer) in a process of its own on 127.0.0.1, sized to each target by its number of patients and days (the generator gives "
        "about 118 observations per patient and day, 82% of them blood glucose). Client and server share the machine's CPUs.",
        "- The fetch: the study's observations through the FHIR API (`patient._has:Group:member:_id`), one code "
        "(blood glucose, `omh:blood-glucose:4.0`) and all codes, into pandas.",
        "- Each measurement is a fresh interpreter (`benchmarks/peers.py`); imports come before the clock. "
        "**wall**: the fetch and the DataFrame building; **client CPU**: user+sys of the client process (all "
        "threads) over the same span; **server CPU**: the server process's user+sys over the run; **peak RSS**: "
        "the client process's `ru_maxrss` as soon as the fetch returns, imports included (not the row count checked after it); **obs/s**: the server's total ÷ wall; "
        "**÷ jhe**: the peer's wall (or CPU) over jhe's on the same query.",
        (f"- Runs under 10 s are repeated ({args.repeat} fresh processes in all) and the median by wall is shown. A "
         if args.repeat > 1 else "- Every measurement is one run. A ")
        + 
        f"peer whose time, estimated from its rate at the previous size, exceeds {args.max_seconds / 60:.0f} min "
        "is not run at that size.",
        "- **observations** counts distinct observation ids in the result and is checked against the server's "
        "`_summary=count`; ✗ marks a peer that returned a different number.",
        "",
        "The peers:",
        "",
        f"- **jhe** {v['jhe']}: `jhe.Client(url, token).fetch_dataframe(study_id=..., code=...)`, FHIR, default "
        "concurrency (8). One code gives the wide layout; all codes the default long layout (one row per "
        "observation *and measure*, so more rows than observations).",
        f"- **jupyterhealth-client** {v['jupyterhealth-client']}: `JupyterHealthClient(url, token=...).list_observations_df("
        "study_id=..., code=..., limit=None)`. Its default `limit=2000` silently truncates a study; `None` "
        "fetches all. Pages of 1000, sequential; one row per observation, every field flattened, each "
        "`*date_time` parsed with `pd.to_datetime` per value.",
        "- **user guide's code**: `fetch_all_fhir_observations` and the per-row DataFrame building of "
        "`fetch_to_dataframe` from the user guide (`Fetching and Exporting Data`), with requests (no Session). "
        "Adapted only to point at the fake, to the current API's `/FHIR/R5/` base, to send the code filter "
        "(the guide's \"Filter by Data Type\"), to read the FHIR resource instead of the REST row "
        "(`id`, `subject.reference`, `meta.lastUpdated`; no patient name or data source in FHIR), to take an "
        "interval's start where there is no `date_time` (the guide's code raises KeyError on interval codes) and "
        "to pass `utc=True, format=\"ISO8601\"` to `pd.to_datetime` (the payloads carry several UTC offsets, on "
        "which the guide's call raises \"Mixed timezones detected\" in pandas 3; and without a format pandas "
        "infers one from the first value, and a `lastUpdated` written without a fraction, as Django writes a "
        "zero-microsecond time, then fails the whole column, as happens in the 1,000,000 study). It sends no `_count`, so it pages by the server's default "
        f"of {GUIDE_PAGE}, as the guide's code does. Every change is marked `ADAPTED` in `benchmarks/peers.py`.",
        "- **pure-Python baseline**: one requests Session, pages of 1000 followed sequentially, `json.loads` and "
        "`base64.b64decode`, columns built as lists per code (measures flattened by key path), then one "
        "`pd.DataFrame` per code and one vectorised `pd.to_datetime(..., utc=True, format=\"ISO8601\")` per time column.",
        "",
        "## Throughput: the study into pandas",
        "",
        *main_table(results),
        "",
        "![observations per second](results.png)",
        "",
    ]
    lat = latency_table(results)
    if lat:
        latency_rows = [r for r in results if r["section"] == "latency"]
        total = latency_rows[0]["expected"]
        pages = math.ceil(total / FHIR_PAGE)
        lines += [
            f"## Latency-bound: every response delayed {args.latency_ms} ms",
            "",
            f"All codes of a study of {total:,} observations ({pages} pages of {FHIR_PAGE}; the guide's code "
            f"reads {math.ceil(total / GUIDE_PAGE):,} pages of {GUIDE_PAGE}).",
            "",
            *lat,
            "",
            f"jhe's fetch has two requests that cannot overlap the pages: `metadata` (the API generation) and the "
            f"first page (it gives the total; the closing `_summary=count` is asked alongside the other pages). With "
            f"P pages at concurrency C that is about 2 + ⌈(P − 1)/C⌉ round trips against P + 2 at concurrency 1, so "
            f"with {pages} pages the best possible speed-up of concurrency 8 over 1 is about "
            f"{(pages + 2) / (2 + math.ceil((pages - 1) / 8)):.1f}× (and {(pages + 2) / (2 + math.ceil((pages - 1) / 16)):.1f}× at 16).",
            "",
        ]
    mem = memory_table(results)
    if mem:
        lines += ["## Memory: the largest jhe fetch against its Arrow table", "", *mem, ""]
    lines += ["## Targets (issue 6)", "", *targets(results), ""]
    # Where the time and memory go: profiled by hand (perf), kept beside this script.
    profile = HERE / "PROFILE.md"
    if profile.exists() and not args.quick:
        lines += [profile.read_text().rstrip(), ""]
    skipped = [r for r in results if r["status"] != "ok"]
    if skipped:
        lines += ["## Not run or failed", ""]
        for row in skipped:
            lines.append(f"- {row['label']}, {row['query']}, {row['expected']:,} observations ({row['section']}): {row['status']}: {row.get('reason', '')}")
        lines.append("")
    args.out.write_text("\n".join(lines))


def chart(path: Path, results: list[dict[str, Any]], latency_ms: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = [r for r in results if r["section"] == "latency" and r["status"] == "ok"]
    panels = 3 if latency else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4))
    colors = {"jhe": "tab:red", "baseline": "tab:blue", "guide": "tab:green", "jhc": "tab:purple"}
    for ax, (query, _) in zip(axes, QUERIES):
        for peer in PEER_ORDER:
            rows = [r for r in results if r["section"] == "main" and r["peer"] == peer and r["query"] == query and r["status"] == "ok"]
            if not rows:
                continue
            xs = [r["expected"] for r in rows]
            ys = [r["obs_per_s"] for r in rows]
            ax.plot(xs, ys, marker="o", color=colors[peer], label=label(peer))
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("observations fetched")
        ax.set_ylabel("observations / second (wall)")
        ax.set_title(f"study into pandas: {query}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if latency:
        ax = axes[2]
        names = [r["label"].replace("jhe (concurrency ", "jhe c").replace(")", "") for r in latency]
        values = [r["obs_per_s"] for r in latency]
        bars = ax.bar(range(len(values)), values, color=[colors.get(r["peer"], "grey") for r in latency])
        for bar, value in zip(bars, values):
            ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(values)), names, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("observations / second (wall)")
        ax.set_title(f"{latency[0]['expected']:,} observations, {latency_ms} ms per response")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="observations per study, comma-separated (default 10000,100000,1000000; --quick: 1000)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: tiny sizes, no repeats, short latency")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the Markdown report (default benchmarks/RESULTS.md)")
    parser.add_argument("--chart", type=Path, help="the PNG chart (default results.png beside --out)")
    parser.add_argument("--json", type=Path, help="the raw results (default results.json beside --out)")
    parser.add_argument("--peers", default=",".join(PEER_ORDER), help=f"which peers (default {','.join(PEER_ORDER)})")
    parser.add_argument("--max-seconds", type=float, default=600, help="skip a peer at a size it would need longer for (default 600)")
    parser.add_argument("--repeat", type=int, help="fresh-process runs of a measurement under 10 s (default 3; --quick: 1)")
    parser.add_argument("--latency-ms", type=int, help="server latency of the latency-bound fetch (default 200; --quick: 20)")
    parser.add_argument("--latency-size", type=int, help="observations in the latency-bound study (default 100000, the study of the 100,000 size: 101 pages; --quick: 1000)")
    parser.add_argument("--concurrency", default="1,4,8,16", help="jhe concurrencies in the latency-bound fetch (default 1,4,8,16)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency-bound fetch")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in (args.sizes or ("1000" if args.quick else "10000,100000,1000000")).split(",")]
    args.peers = [p for p in PEER_ORDER if p in args.peers.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.latency_ms is None:
        args.latency_ms = 20 if args.quick else 200
    if args.latency_size is None:
        args.latency_size = 1000 if args.quick else 100_000
    args.out = args.out.resolve()
    args.chart = (args.chart or args.out.parent / "results.png").resolve()
    args.json = (args.json or args.out.parent / "results.json").resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = machine()
    log(f"{info['nproc']} CPUs, {info['cpu']}; jhe {info['versions']['jhe']}, jupyterhealth-client {info['versions']['jupyterhealth-client']}")
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    run_main(args, results)
    if not args.no_latency:
        run_latency(args, results)
    elapsed = time.monotonic() - start
    info["loadavg_end"] = os.getloadavg()[0]
    args.json.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
    chart(args.chart, results, args.latency_ms)
    write_report(args, info, results, elapsed)
    log(f"wrote {args.out}, {args.chart} and {args.json} in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
