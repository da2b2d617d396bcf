"""Benchmark jhe against the floors and the other ways to get JHE observations into pandas.

    python benchmarks/run.py [--sizes 10000,100000,1000000] [--quick] [--decode-bench] [--out benchmarks/RESULTS.md]

For each size it starts a fake Exchange (``benchmarks/_server.py``, a process of its own, so
the server's CPU is not the client's) whose main study holds about that many observations,
and times the same fetch (the study through the FHIR API: blood glucose, then all codes)
by each peer (``benchmarks/peers.py``), each in a fresh interpreter: jhe into pandas and
into Arrow, a power user's aiohttp and orjson client, an optimised pure-Python baseline,
the user guide's own code and jupyterhealth-client 0.5 (``list_observations_df``). Against
the same server process it measures the floors (``benchmarks/_floors.py``): curl fetching
every page, and the minimal parse of the same pages (``examples/parse_floor.rs``). Then a
latency-bound fetch modelled on a real Exchange (1.5 s per response, 45 pages) against the
round-trip model's best, the memory of jhe's largest fetch against its Arrow table, and
the decode benchmark's throughput against its recorded baseline. It writes a Markdown
report, a PNG chart and the raw numbers as JSON.

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
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import _floors
import _dask_bench
import _privacy_bench
import _quality_bench
import _report
import _sync_bench
from _common import (
    CEILING, CLK_TCK, FHIR_PAGE, FLOOR_ORDER, GLUCOSE, GUIDE_PAGE, HERE, PEER_ORDER, POWER_IN_FLIGHT, QUERIES,
    label, log, median_run, run_child,
)

DECODE_BASELINE = HERE / "decode_baseline.json"
SEQUENTIAL = {"baseline", "guide", "jhc"}  # peers that read one page after another


# --------------------------------------------------------------------------------------
# machine and versions


def tool_version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout else None


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
    for package in ("jhe", "pandas", "pyarrow", "numpy", "jupyterhealth-client", "requests", "aiohttp", "orjson", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    info["versions"] = versions
    info["curl"] = " ".join((tool_version(["curl", "--version"]) or "curl not installed").split()[:2])
    info["rustc"] = tool_version(["rustc", "--version"]) or "rustc not installed"
    info["loadavg_start"] = os.getloadavg()[0]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "python", "examples"], cwd=HERE, capture_output=True, text=True)
        if head.returncode == 0:
            info["git"] = head.stdout.strip() + (" (src/, python/ or examples/ modified)" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return info


def client_has_max_concurrency() -> bool:
    """Whether this build's ``jhe.Client`` takes ``max_concurrency`` (issue 12's ceiling)."""
    probe = "import jhe\ntry:\n    jhe.Client('http://127.0.0.1:9', 't', max_concurrency=32)\nexcept TypeError:\n    print('no')\nelse:\n    print('yes')"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() == "yes"


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
        self.info["target"] = target

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

    def add_observations(self, n: int) -> int:
        """Have the server add `n` new observations to the main study (its stdin protocol)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"add {n}\n")
        self.process.stdin.flush()
        return int(json.loads(self.process.stdout.readline())["added"])


# --------------------------------------------------------------------------------------
# one measurement


def measure_once(server: Server, peer: str, code: str | None, concurrency: int | None, timeout: float) -> dict[str, Any]:
    """Run one peer once in a fresh interpreter; its own CPU and peak RSS via wait4."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
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
        child = run_child(command, timeout)
        out: dict[str, Any] = {
            "process_cpu_s": child.cpu_s,
            "process_peak_rss_kb": child.peak_rss_kb,
            "server_cpu_s": server.cpu_s() - server_cpu0,
        }
        if child.timed_out:
            out.update(status="timeout", reason=f"killed after {timeout:.0f} s")
        elif child.returncode != 0 or not result_path.exists():
            lines = child.stderr.strip().splitlines() or ["?"]
            error = next((line for line in reversed(lines) if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)), lines[-1])
            out.update(status="failed", reason=f"exit {child.returncode}: {error[:300]}")
        else:
            out.update(json.loads(result_path.read_text()), status="ok")
        return out


def measure(server: Server, peer: str, code: str | None, concurrency: int | None, *, repeat: int, timeout: float) -> dict[str, Any]:
    """Measure; runs shorter than 10 s are repeated (fresh processes) and the median kept."""
    runs = [measure_once(server, peer, code, concurrency, timeout)]
    if runs[0]["status"] == "ok" and runs[0]["wall_s"] < 10:
        for _ in range(repeat - 1):
            runs.append(measure_once(server, peer, code, concurrency, timeout))
    return median_run(runs)


def record(server: Server, section: str, peer: str, query: str, code: str | None, concurrency: int | None) -> dict[str, Any]:
    return {
        "section": section,
        "peer": peer,
        "label": label(peer, concurrency),
        "concurrency": concurrency,
        "query": query,
        "code": code,
        "target": server.info["target"],
        "patients": server.info["patients"],
        "days": server.info["days"],
        "latency_ms": server.info["latency_ms"],
        "expected": server.expected(code),
        "study_total": server.info["total"],
    }


def finish(row: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    row.update(result)
    if row["status"] == "ok":
        # A floor that reads bytes only (curl) counts no observations: nothing to match.
        row["match"] = row["observations"] == row["expected"] if "observations" in row else None
        row["obs_per_s"] = row["expected"] / row["wall_s"] if row["wall_s"] > 0 else None
    if row["status"] != "ok":
        said = f"{row['status']}: {row.get('reason')}"
    elif row["match"] is None:
        said = f"{row['wall_s']:8.2f} s  {row['pages']:,} pages, {row['bytes'] / 1e6:,.1f} MB"
    else:
        said = f"{row['wall_s']:8.2f} s  {row['observations']:,} rows {'OK' if row['match'] else 'MISMATCH'}"
    log(f"  {row['label']:<46} {row['query']:<14} {row['expected']:>9,} {said}")
    return row


def skipped(row: dict[str, Any], estimate: float, basis: str, args: argparse.Namespace) -> dict[str, Any]:
    """A peer not run because it would take longer than ``--max-seconds``."""
    return finish(row, {
        "status": "skipped",
        "estimate_s": estimate,
        "reason": f"estimated {estimate / 60:.0f} min {basis}, over the {args.max_seconds / 60:.0f} min limit",
    })


# --------------------------------------------------------------------------------------
# the sections


def run_floors(args: argparse.Namespace, server: Server, results: list[dict[str, Any]]) -> None:
    measured = _floors.measure_floors(server.info, args.parse_floor, args.repeat, args.max_seconds)
    for name in FLOOR_ORDER:
        row = record(server, "floor", name, "all codes", None, None)
        results.append(finish(row, measured[name]))


def run_main(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    # (peer, query) -> (expected, wall) of the last size it ran at, to estimate the next
    last: dict[tuple[str, str], tuple[int, float]] = {}
    sizes = sorted(args.sizes)
    for index, size in enumerate(sizes):
        log(f"size {size:,}: starting the fake Exchange")
        with Server(size) as server:
            log(f"  {server.info['patients']} patients x {server.info['days']} days: {server.info['total']:,} observations, {server.info['glucose_total']:,} blood glucose")
            if not args.no_floors:
                run_floors(args, server, results)
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
            # fetch_arrow at the largest size gives the Arrow table the memory targets are read
            # against; measured here when it is not a peer of the main section.
            if index == len(sizes) - 1 and not args.no_memory and "jhe" in args.peers and "jhe-arrow" not in args.peers:
                log("  memory: jhe fetch_arrow, all codes")
                row = record(server, "memory", "jhe-arrow", "all codes", None, None)
                results.append(finish(row, measure(server, "jhe-arrow", None, None, repeat=1, timeout=args.max_seconds * 2 + 60)))


def round_trip_model(total: int, latency_ms: int) -> dict[str, Any]:
    """The fewest round trips a fetch of `total` observations can take: `metadata` and the first
    page together, then the other pages at most CEILING at a time."""
    pages = max(1, math.ceil(total / FHIR_PAGE))
    trips = 1 + math.ceil((pages - 1) / CEILING)
    return {
        "total": total,
        "pages": pages,
        "latency_s": latency_ms / 1000,
        "ceiling": CEILING,
        "round_trips": trips,
        "best_s": trips * latency_ms / 1000,
    }


def latency_estimate(peer: str, pages: int, latency_s: float, total: int, rate: float) -> float:
    """Seconds a Python peer would take: its round trips, then its CPU-bound rate."""
    if peer == "guide":
        pages = math.ceil(total / GUIDE_PAGE)
    trips = pages if peer in SEQUENTIAL else 1 + math.ceil((pages - 1) / POWER_IN_FLIGHT)
    return trips * latency_s + total / rate


def run_latency(args: argparse.Namespace, results: list[dict[str, Any]]) -> dict[str, Any]:
    target = args.latency_pages * FHIR_PAGE - FHIR_PAGE // 2  # about that many full pages
    log(f"latency: {args.latency_ms} ms per response, about {args.latency_pages} pages ({target:,} observations)")
    # CPU-bound rates from the main section (all codes), to estimate and skip slow peers
    rates = {r["peer"]: r["expected"] / r["wall_s"] for r in results if r["section"] == "main" and r["query"] == "all codes" and r["status"] == "ok"}
    with Server(target, args.latency_ms) as server:
        total = server.info["total"]
        model = round_trip_model(total, args.latency_ms)
        model["client_has_max_concurrency"] = client_has_max_concurrency()
        log(f"  {server.info['patients']} patients x {server.info['days']} days: {total:,} observations, {model['pages']} pages; "
            f"the model's best: {model['round_trips']} round trips, {model['best_s']:.1f} s")
        runs: list[tuple[str, int | None]] = []
        if "jhe" in args.latency_peers:
            runs += [("jhe", None)] + [("jhe", c) for c in args.concurrency]
        runs += [(peer, None) for peer in args.latency_peers if peer != "jhe"]
        for peer, concurrency in runs:
            row = record(server, "latency", peer, "all codes", None, concurrency)
            row["pages"] = math.ceil(total / (GUIDE_PAGE if peer == "guide" else FHIR_PAGE))
            if peer in rates and not peer.startswith("jhe"):
                estimate = latency_estimate(peer, model["pages"], model["latency_s"], total, rates[peer])
                if estimate > args.max_seconds:
                    results.append(skipped(row, estimate, f"({row['pages']:,} pages)", args))
                    continue
            result = measure(server, peer, None, concurrency, repeat=args.repeat, timeout=args.max_seconds * 2 + 60)
            results.append(finish(row, result))
    return model


def run_mirror(args: argparse.Namespace) -> dict[str, Any] | None:
    """The mirror's re-syncs against a full fetch (``_sync_bench``), against a server that
    answers at once and one with the latency-bound section's latency; None without deltalake."""
    try:
        import deltalake  # noqa: F401
    except ImportError:
        log("mirror: skipped (pip install 'jhe[mirror]')")
        return None
    runs = []
    for latency_ms in ([0] if args.quick else [0, args.latency_ms]):
        with Server(args.mirror_size, latency_ms) as server:
            log(f"mirror: {server.info['total']:,} observations, {latency_ms} ms per response")
            run = {"latency_ms": latency_ms, **_sync_bench.run(server)}
        for label, row in run["rows"].items():
            log(f"  {label:<40} {row.get('wall_s', float('nan')):7.2f} s  {row['status']}")
        runs.append(run)
    return {"runs": runs}


def run_quality(args: argparse.Namespace) -> dict[str, Any] | None:
    """The quality report's checks against its fetch (``_quality_bench``); None without polars."""
    try:
        import polars  # noqa: F401
    except ImportError:
        log("quality: skipped (pip install 'jhe[quality]')")
        return None
    runs = []
    for latency_ms in ([0] if args.quick else [0, args.quality_latency_ms]):
        with Server(args.quality_size, latency_ms) as server:
            log(f"quality: {server.info['total']:,} observations, {latency_ms} ms per response")
            run = _quality_bench.run(server, latency_ms)
        checks = run["checks"]
        if checks["status"] == "ok":
            log(f"  fetch {checks['fetch_s']:.2f} s, checks {checks['checks_s']:.2f} s")
        runs.append(run)
    return {"runs": runs}


def run_privacy(args: argparse.Namespace) -> dict[str, Any]:
    """De-identification against its fetch (``_privacy_bench``)."""
    with Server(args.privacy_size) as server:
        log(f"privacy: {server.info['total']:,} observations")
        result = _privacy_bench.run(server)
    for layout, run in result["layouts"].items():
        if run["status"] == "ok":
            log(f"  {layout}: fetch {run['fetch_s']:.2f} s, pseudonymize {run['pseudonymize_s']:.2f} s, safe harbor {run['safe_harbor_s']:.2f} s")
    return result


def run_dask(args: argparse.Namespace) -> dict[str, Any] | None:
    """The cluster against one client (``_dask_bench``); None without dask."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        log("dask: skipped (pip install 'jhe[dask]')")
        return None
    with Server(args.dask_size, args.dask_latency_ms) as server:
        log(f"dask: {server.info['total']:,} observations, {args.dask_latency_ms} ms per response")
        result = _dask_bench.run(server, args.dask_latency_ms)
    for run in result["runs"]:
        if run["status"] == "ok":
            log(f"  {run['kind']} at {run['concurrency']}: {run['read_s']:.1f} s")
    return result


def decode_bench(args: argparse.Namespace) -> dict[str, Any] | None:
    """This run's decode throughput (``--decode-bench``), or criterion's last saved estimates."""
    if args.decode_bench:
        return _floors.run_decode_bench()
    saved = _floors.saved_decode_bench()
    if saved is None or "wide_mib_s" not in saved:
        return None
    return {"status": "ok", "source": "criterion's last saved run, not run by this harness", **saved}


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="observations per study, comma-separated (default 10000,100000,1000000; --quick: 500)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: tiny sizes, no repeats, short latency, the parse floor unoptimised")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the Markdown report (default benchmarks/RESULTS.md)")
    parser.add_argument("--chart", type=Path, help="the PNG chart (default results.png beside --out)")
    parser.add_argument("--json", type=Path, help="the raw results (default results.json beside --out)")
    parser.add_argument("--peers", default=",".join(PEER_ORDER), help=f"which peers (default {','.join(PEER_ORDER)})")
    parser.add_argument("--max-seconds", type=float, default=600, help="skip a peer at a size it would need longer for (default 600)")
    parser.add_argument("--repeat", type=int, help="fresh-process runs of a measurement under 10 s (default 3; --quick: 1)")
    parser.add_argument("--latency-ms", type=int, help="server latency of the latency-bound fetch (default 1500; --quick: 20)")
    parser.add_argument("--latency-pages", type=int, help="pages of 1000 in the latency-bound study (default 45; --quick: 2)")
    parser.add_argument("--latency-peers", default="jhe,power,baseline", help="peers of the latency-bound fetch (default jhe,power,baseline)")
    parser.add_argument("--concurrency", default=f"1,{CEILING}", help=f"jhe concurrencies in the latency-bound fetch beside its default (default 1,{CEILING})")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency-bound fetch")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--no-floors", action="store_true", help="skip the HTTP and parse floors")
    parser.add_argument("--no-mirror", action="store_true", help="skip the mirror's re-sync against a full fetch")
    parser.add_argument("--mirror-size", type=int, help="observations in the mirror's study (default 100000; --quick: 500)")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality report against its fetch")
    parser.add_argument("--quality-size", type=int, help="observations in the quality report's study (default 1000000; --quick: 500)")
    parser.add_argument("--quality-latency-ms", type=int, default=1000, help="the quality report's second server's latency (default 1000)")
    parser.add_argument("--no-privacy", action="store_true", help="skip de-identification against its fetch")
    parser.add_argument("--privacy-size", type=int, help="observations in de-identification's study (default 1000000; --quick: 500)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster against one client")
    parser.add_argument("--dask-size", type=int, help="observations in the Dask section's study (default 1000000; --quick: 500)")
    parser.add_argument("--dask-latency-ms", type=int, help="the Dask section's server latency (default 1000; --quick: 20)")
    parser.add_argument("--decode-bench", action="store_true", help="run `cargo bench --bench decode` (about 2 min once built) instead of reading criterion's saved estimates")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in (args.sizes or ("500" if args.quick else "10000,100000,1000000")).split(",")]
    args.peers = [p for p in PEER_ORDER if p in args.peers.split(",")]
    args.latency_peers = [p for p in PEER_ORDER if p in args.latency_peers.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.latency_ms is None:
        args.latency_ms = 20 if args.quick else 1500
    if args.latency_pages is None:
        args.latency_pages = 2 if args.quick else 45
    if args.mirror_size is None:
        args.mirror_size = 500 if args.quick else 100_000
    if args.quality_size is None:
        args.quality_size = 500 if args.quick else 1_000_000
    if args.privacy_size is None:
        args.privacy_size = 500 if args.quick else 1_000_000
    if args.dask_size is None:
        args.dask_size = 500 if args.quick else 1_000_000
    if args.dask_latency_ms is None:
        args.dask_latency_ms = 20 if args.quick else 1000
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
    # The example is built before anything is timed; --quick takes the dev profile, which
    # `cargo test` has built already, so that the smoke run does not compile for minutes.
    args.parse_floor = (None, "--no-floors") if args.no_floors else _floors.build_parse_floor(release=not args.quick)
    results: list[dict[str, Any]] = []
    run_main(args, results)
    model = None if args.no_latency else run_latency(args, results)
    mirror = None if args.no_mirror else run_mirror(args)
    quality = None if args.no_quality else run_quality(args)
    privacy = None if args.no_privacy else run_privacy(args)
    scaled = None if args.no_dask else run_dask(args)
    decode = decode_bench(args)
    baseline = json.loads(DECODE_BASELINE.read_text()) if DECODE_BASELINE.exists() else None
    elapsed = time.monotonic() - start
    info["loadavg_end"] = os.getloadavg()[0]
    args.parse_floor = [str(part) for part in args.parse_floor]
    args.json.write_text(json.dumps(
        {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "results": results,
         "latency_model": model, "mirror": mirror, "quality": quality, "privacy": privacy, "dask": scaled, "decode_bench": decode, "decode_baseline": baseline},
        indent=1,
    ))
    _report.chart(args.chart, results, args.latency_ms, model)
    _report.write_report(args, info, results, model, decode, baseline, elapsed, mirror, quality, privacy, scaled)
    log(f"wrote {args.out}, {args.chart} and {args.json} in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
