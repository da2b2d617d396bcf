"""The floors under any client of these pages, and the decode benchmark's throughput.

- HTTP floor: curl fetching every page URL of the search, 8 in flight, bytes discarded.
- Parse floor: ``examples/parse_floor.rs`` over the same pages saved to files (typed borrowed
  read, base64, the OMH document skipped with ``IgnoredAny``; and a ``serde_json::Value``
  reference), on 2 threads.
- Decode benchmark: ``cargo bench --bench decode`` (criterion), read from criterion's saved
  estimates; ``python benchmarks/_floors.py decode-bench --record FILE`` records a baseline.

A floor that cannot be measured (no curl, no cargo, a failed build) is reported as such,
never estimated.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _common import FHIR_PAGE, POWER_IN_FLIGHT, ROOT, Child, log, median_run, run_child


def page_urls(info: dict[str, Any]) -> list[str]:
    """Every page of the study's all-codes search, by number, as the server pages it."""
    pages = -(-int(info["total"]) // FHIR_PAGE)
    base = f"{info['url']}/FHIR/R5/Observation"
    return [
        base + "?" + urllib.parse.urlencode(
            {"patient._has:Group:member:_id": info["study_id"], "_count": FHIR_PAGE, "_page": page}
        )
        for page in range(1, pages + 1)
    ]


def failed(child: Child, what: str) -> dict[str, Any]:
    if child.timed_out:
        return {"status": "timeout", "reason": f"{what}: killed after {child.wall_s:.0f} s"}
    lines = (child.stderr.strip() or child.stdout.strip() or "?").splitlines()
    return {"status": "failed", "reason": f"{what}: exit {child.returncode}: {lines[-1][:300]}"}


# --------------------------------------------------------------------------------------
# HTTP floor


def http_floor_once(info: dict[str, Any], urls: list[str], timeout: float) -> dict[str, Any]:
    curl = shutil.which("curl")
    if curl is None:
        return {"status": "not measured", "reason": "curl is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "urls.curl"
        # One `url` and one `output` per transfer; quoted as curl's config files want.
        config.write_text("".join(f'url = "{url}"\noutput = "/dev/null"\n' for url in urls))
        command = [
            curl, "--silent", "--show-error", "--parallel", "--parallel-immediate",
            "--parallel-max", str(POWER_IN_FLIGHT),
            "--header", f"Authorization: Bearer {info['token']}", "--header", "Accept: application/json",
            "--write-out", "%{http_code} %{size_download}\\n", "--config", str(config),
        ]
        child = run_child(command, timeout)
    if child.returncode != 0 or child.timed_out:
        return failed(child, "curl")
    transfers = [line.split() for line in child.stdout.splitlines() if line.strip()]
    statuses = [t[0] for t in transfers]
    if len(transfers) != len(urls) or any(s != "200" for s in statuses):
        bad = sorted({s for s in statuses if s != "200"})
        return {"status": "failed", "reason": f"curl: {len(transfers)} transfers of {len(urls)}, statuses {bad}"}
    return {
        "status": "ok",
        "wall_s": child.wall_s,
        "cpu_s": child.cpu_s,
        "peak_rss_kb": child.peak_rss_kb,
        "pages": len(urls),
        "bytes": sum(int(t[1]) for t in transfers),
    }


# --------------------------------------------------------------------------------------
# parse floor


def build_parse_floor(release: bool, timeout: float = 1800) -> tuple[Path | None, str]:
    """(the example's executable, its profile) or (None, why not)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return None, "cargo is not installed: the parse floor is not measured"
    command = [cargo, "build", "--example", "parse_floor", "--message-format=json-render-diagnostics"]
    if release:
        command.append("--release")
    log(f"building the parse floor: {' '.join(command[1:])}")
    child = run_child(command, timeout, cwd=ROOT)
    if child.returncode != 0 or child.timed_out:
        return None, failed(child, "cargo build --example parse_floor")["reason"]
    for line in child.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        target = message.get("target") or {}
        if message.get("reason") == "compiler-artifact" and target.get("name") == "parse_floor" and message.get("executable"):
            return Path(message["executable"]), "release" if release else "dev (unoptimised)"
    return None, "cargo built no parse_floor executable"


def save_pages(info: dict[str, Any], urls: list[str], directory: Path) -> int:
    """The pages' bytes into `directory`, one file per page in page order; their total size."""

    def get(index_url: tuple[int, str]) -> int:
        index, url = index_url
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {info['token']}", "Accept": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
        (directory / f"page-{index:06d}.json").write_bytes(body)
        return len(body)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return sum(pool.map(get, enumerate(urls, 1)))


def parse_floor_once(executable: Path, directory: Path, mode: str, timeout: float) -> dict[str, Any]:
    child = run_child([str(executable), "--mode", mode, "--threads", "2", str(directory)], timeout)
    if child.returncode != 0 or child.timed_out:
        return failed(child, f"parse_floor --mode {mode}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "status": "ok",
        "wall_s": result["wall_s"],
        "cpu_s": result["cpu_s"],
        "process_cpu_s": child.cpu_s,
        "peak_rss_kb": child.peak_rss_kb,
        "pages": result["pages"],
        "bytes": result["bytes"],
        "observations": result["observations"],
    }


def measure_floors(
    info: dict[str, Any], parse_floor: tuple[Path | None, str], repeat: int, timeout: float
) -> dict[str, dict[str, Any]]:
    """Each floor's median of `repeat` fresh processes, keyed by floor name."""
    urls = page_urls(info)
    out = {"http-floor": median_run([http_floor_once(info, urls, timeout) for _ in range(repeat)])}
    executable, profile = parse_floor
    if executable is None:
        for mode in ("parse-floor", "parse-value"):
            out[mode] = {"status": "not measured", "reason": profile}
        return out
    with tempfile.TemporaryDirectory(prefix="jhe-pages-") as tmp:
        directory = Path(tmp)
        saved = save_pages(info, urls, directory)
        log(f"  saved {len(urls)} pages ({saved / 1e6:,.1f} MB) for the parse floor")
        for name, mode in (("parse-floor", "typed"), ("parse-value", "value")):
            row = median_run([parse_floor_once(executable, directory, mode, timeout) for _ in range(repeat)])
            row["profile"] = profile
            out[name] = row
    return out


# --------------------------------------------------------------------------------------
# the decode benchmark (criterion)

BENCHES = {"wide": "jhe_wide", "long": "jhe_long", "serde_json_value": "serde_json_value"}
# The corpora: the Exchange's own (OMH) pages, and the EHR-imported (clinical) ones, whose
# figures are saved with this prefix.
GROUPS = {"fhir_pages": "", "clinical_pages": "clinical_"}


def target_directory() -> Path | None:
    cargo = shutil.which("cargo")
    if cargo is None:
        return None
    done = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        return None
    return Path(json.loads(done.stdout)["target_directory"])


def criterion_rate(directory: Path, unit: str) -> float | None:
    """Per second of one criterion benchmark (``.../new``): its throughput in `unit`
    (``Bytes`` or ``Elements``) over its typical time (the slope where criterion fitted one,
    else the mean), as criterion itself reports."""
    try:
        estimates = json.loads((directory / "estimates.json").read_text())
        benchmark = json.loads((directory / "benchmark.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    amount = (benchmark.get("throughput") or {}).get(unit)
    typical = estimates.get("slope") or estimates.get("mean")
    if not amount or not typical:
        return None
    return amount / (typical["point_estimate"] / 1e9)


def criterion_mib_s(directory: Path) -> float | None:
    """MiB/s of one criterion benchmark (``.../new``)."""
    rate = criterion_rate(directory, "Bytes")
    return None if rate is None else rate / 2**20


def saved_decode_bench() -> dict[str, Any] | None:
    """The decode benchmark's MiB/s as criterion last saved them, with when."""
    target = target_directory()
    if target is None:
        return None
    out: dict[str, Any] = {}
    newest = 0.0
    for group, prefix in GROUPS.items():
        for key, name in BENCHES.items():
            for suffix, field, rate in (("bytes", "mib_s", criterion_mib_s), ("observations", "obs_s", lambda d: criterion_rate(d, "Elements"))):
                directory = target / "criterion" / group / f"{name}_{suffix}" / "new"
                value = rate(directory)
                if value is not None:
                    out[f"{prefix}{key}_{field}"] = round(value, 1)
                    newest = max(newest, (directory / "estimates.json").stat().st_mtime)
    if not out:
        return None
    out["saved"] = dt.datetime.fromtimestamp(newest, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return out


def run_decode_bench(timeout: float = 3600) -> dict[str, Any]:
    """Run ``cargo bench --bench decode`` (both corpora, per byte and per observation) and read it back."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return {"status": "not measured", "reason": "cargo is not installed"}
    command = [cargo, "bench", "--bench", "decode"]
    log(f"decode benchmark: {' '.join(command[1:])}")
    load = os.getloadavg()[0]
    child = run_child(command, timeout, cwd=ROOT)
    if child.returncode != 0 or child.timed_out:
        return failed(child, "cargo bench --bench decode")
    saved = saved_decode_bench()
    if saved is None or "wide_mib_s" not in saved:
        return {"status": "failed", "reason": "criterion saved no jhe_wide/bytes estimate"}
    # The machine's load beside the figures: criterion on a busy machine reads low.
    return {"status": "ok", "source": "run by this harness", "loadavg": [round(load, 2), round(os.getloadavg()[0], 2)], **saved}


CODE = ["src", "benches", "crates", "Cargo.toml", "Cargo.lock"]  # what the decode benchmark measures


def git_commit() -> str:
    """The last commit that changed the benchmarked code (not the harness), and whether it is
    modified in the work tree."""
    last = subprocess.run(["git", "log", "-1", "--format=%h", "--", *CODE], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *CODE], cwd=ROOT, capture_output=True, text=True)
    return last.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["decode-bench"])
    parser.add_argument("--record", type=Path, help="write the figures, date and commit to this JSON file")
    parser.add_argument("--root", type=Path, help="the checkout to benchmark (default: this one), e.g. a worktree at an older commit")
    args = parser.parse_args()
    if args.root:
        global ROOT
        ROOT = args.root.resolve()
    result = run_decode_bench()
    result["commit"] = git_commit()
    result["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(json.dumps(result, indent=1))
    if args.record and result["status"] == "ok":
        root = f" --root {args.root}" if args.root else ""
        result["command"] = f"python benchmarks/_floors.py decode-bench{root} --record {args.record}"
        args.record.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
