"""The harness's report: Markdown tables, issue 12's targets and the chart, from the rows
``run.py`` measured (each row a dict; ``status`` "ok" for a measurement)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from _common import CEILING, FHIR_PAGE, GUIDE_PAGE, HERE, PEER_ORDER, POWER_IN_FLIGHT, QUERIES, find, label

MB = 1024  # kB in a MB, as the tables count (2^20 bytes)


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def mb(kb: float | None) -> str:
    return "" if kb is None else f"{kb / MB:,.0f}"


def rows_cell(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return ""
    if row.get("match") is None:  # the HTTP floor reads bytes, not observations
        return f"{row['pages']:,} pages, {row['bytes'] / 2**20:,.1f} MB"
    mark = "✓" if row["match"] else f"✗ (server: {row['expected']:,})"
    return f"{row['observations']:,} {mark}"


def ratio(row: dict[str, Any], ref: dict[str, Any] | None, key: str) -> str:
    if row is ref:
        return "1"
    if row["status"] != "ok" or not ref or ref.get("status") != "ok" or not ref.get(key):
        return ""
    return f"{row[key] / ref[key]:,.2g}×" if row[key] / ref[key] < 10 else f"{row[key] / ref[key]:,.0f}×"


def quotient(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str = "wall_s") -> float | None:
    if not a or not b or not b.get(key):
        return None
    return a[key] / b[key]


def not_ok(row: dict[str, Any]) -> str:
    return f"{row['status']}: {row.get('reason', '')}"


# --------------------------------------------------------------------------------------
# the tables


def main_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| study (patients × days) | query | peer | observations (= server) | wall s | client CPU s | server CPU s | peak RSS MB | obs/s | wall ÷ jhe | CPU ÷ jhe |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    main = [row for row in results if row["section"] == "main"]
    for row in main:
        ref = next((r for r in main if r["peer"] == "jhe" and r["target"] == row["target"] and r["query"] == row["query"]), None)
        study = f"{row['study_total']:,} ({row['patients']} × {row['days']} d)"
        if row["status"] == "ok":
            lines.append(
                f"| {study} | {row['query']} | {row['label']} | {rows_cell(row)} | {fmt(row['wall_s'])} | "
                f"{fmt(row['cpu_s'])} | {fmt(row['server_cpu_s'])} | {mb(row['peak_rss_kb'])} | "
                f"{fmt(row['obs_per_s'], 0)} | {ratio(row, ref, 'wall_s')} | {ratio(row, ref, 'cpu_s')} |"
            )
        else:
            lines.append(f"| {study} | {row['query']} | {row['label']} | {not_ok(row)} | | | | | | | |")
    return lines


def floor_tables(results: list[dict[str, Any]]) -> list[str]:
    """Per size: the floors beside jhe and the Python peers, all codes, as ratios to fetch_arrow."""
    lines: list[str] = []
    sizes = sorted({r["target"] for r in results if r["section"] == "floor"})
    for size in sizes:
        floors = [r for r in results if r["section"] == "floor" and r["target"] == size]
        peers = [r for r in results if r["section"] == "main" and r["target"] == size and r["query"] == "all codes"]
        arrow = find(peers, peer="jhe-arrow")
        total = floors[0]["study_total"]
        lines += [
            f"### {total:,} observations, all codes ({math.ceil(total / FHIR_PAGE)} pages of {FHIR_PAGE})",
            "",
            "| client | observations (= server) | wall s | client CPU s | ratio to jhe fetch_arrow (wall) | (CPU) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in floors + sorted(peers, key=lambda r: PEER_ORDER.index(r["peer"])):
            if row["status"] != "ok":
                lines.append(f"| {row['label']} | {not_ok(row)} | | | | |")
                continue
            lines.append(
                f"| {row['label']} | {rows_cell(row)} | {fmt(row['wall_s'])} | {fmt(row['cpu_s'])} | "
                f"{ratio(row, arrow, 'wall_s')} | {ratio(row, arrow, 'cpu_s')} |"
            )
        said = []
        for name in ("http-floor", "parse-floor"):
            floor = find(floors, peer=name)
            x, c = quotient(arrow, floor), quotient(arrow, floor, "cpu_s")
            if x is not None and c is not None:
                said.append(f"{x:.1f}× the {label(name).split(' (')[0]} by wall ({c:.1f}× by CPU)")
        if said:
            lines += ["", "jhe `fetch_arrow` takes " + " and ".join(said) + "."]
        lines.append("")
    return lines


def latency_table(results: list[dict[str, Any]], model: dict[str, Any] | None) -> list[str]:
    rows = [row for row in results if row["section"] == "latency"]
    if not rows or model is None:
        return []
    default = next((r for r in rows if r["peer"] == "jhe" and not r["concurrency"]), None)
    lines = [
        "| client | pages | observations (= server) | wall s | client CPU s | obs/s | wall ÷ the model's best |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| round-trip model's best ({model['round_trips']} round trips × {model['latency_s']:g} s) | {model['pages']} | | "
        f"{fmt(model['best_s'])} | | | 1 |",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['label']} | {row['pages']:,} | {not_ok(row)} | | | | |")
            continue
        lines.append(
            f"| {row['label']} | {row['pages']:,} | {rows_cell(row)} | {fmt(row['wall_s'])} | {fmt(row['cpu_s'])} | "
            f"{fmt(row['obs_per_s'], 0)} | {row['wall_s'] / model['best_s']:.2f}× |"
        )
    if default is not None and default["status"] == "ok":
        lines += ["", f"jhe at its default settings took {default['wall_s'] / model['best_s']:.2f}× the model's best."]
    return lines


def memory_rows(results: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(fetch_arrow, fetch_dataframe) of all codes at the largest size measured."""
    arrows = [r for r in results if r["peer"] == "jhe-arrow" and r["query"] == "all codes" and r["status"] == "ok" and r["section"] in ("main", "memory")]
    if not arrows:
        return None, None
    arrow = max(arrows, key=lambda r: r["target"])
    frame = find(results, section="main", peer="jhe", query="all codes", target=arrow["target"])
    return arrow, frame


MEMORY_LIMITS = {"jhe-arrow": 1.5, "jhe": 2.0}  # × the Arrow table, + 100 MB (issue 12)


def memory_limit_kb(row: dict[str, Any], nbytes: int) -> float:
    return (MEMORY_LIMITS[row["peer"]] * nbytes + 100 * 2**20) / 1024


def mirror_table(mirror: dict[str, Any]) -> list[str]:
    """Each step's wall time, requests and rows, and its ratio to the full fetch, per server."""
    runs = mirror["runs"]
    lines = [
        f"All codes of a study of {runs[0]['total']:,} observations, wide layout, each step a fresh interpreter "
        "against the same server process (`benchmarks/_sync_bench.py`); the mirror is `client.sync(path, study_id=...)` "
        "into a Delta Lake directory on local disk.",
        "",
        "| server latency | step | wall s | ÷ full fetch | requests | added | updated | unchanged |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        fetch = run["rows"]["fetch"].get("wall_s")
        for label, row in run["rows"].items():
            if row["status"] != "ok":
                lines.append(f"| {run['latency_ms']} ms | {label} | failed: {' '.join(row.get('error', []))} | | | | | |")
                continue
            ratio = f"{row['wall_s'] / fetch:.3f}" if fetch else ""
            cells = [row.get(k, "") for k in ("requests", "added", "updated", "unchanged")]
            values = " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in cells)
            lines.append(f"| {run['latency_ms']} ms | {label} | {row['wall_s']:.2f} | {ratio} | {values} |")
    return lines


def quality_table(quality: dict[str, Any]) -> list[str]:
    """Per server latency: the report's checks against the fetch they run on, and the whole report."""
    runs = quality["runs"]
    lines = [
        f"All codes of a study of {runs[0]['total']:,} observations, long layout (`benchmarks/_quality_bench.py`). "
        "The fetch and the checks are timed in one fresh interpreter; the checks are every part of the report but "
        "completeness (`jhe.quality._report.build_report` over the fetched result, its conversion to polars included). "
        "`client.quality(study)` is the whole report end to end (the study's patients, scopes and consents, the fetch, "
        "every check) in another. Against the server that answers at once, the fetch and checks are the second of two "
        "runs (the first fills the server's render cache).",
        "",
        "| server latency | step | wall s | ÷ the fetch |",
        "|---:|---|---:|---:|",
    ]
    for run in runs:
        checks, whole, latency = run["checks"], run["quality"], f"{run['latency_ms']} ms"
        if checks["status"] != "ok":
            lines.append(f"| {latency} | fetch and checks | failed: {' '.join(checks.get('error', []))} | |")
            continue
        fetch = checks["fetch_s"]
        lines.append(f"| {latency} | `client.fetch(study_id=..., layout=\"long\")` ({checks['observations']:,} observations) | {fetch:.2f} | 1.000 |")
        lines.append(f"| {latency} | the checks over that result | {checks['checks_s']:.2f} | {checks['checks_s'] / fetch:.3f} |")
        if whole["status"] == "ok":
            lines.append(f"| {latency} | `client.quality(study)` ({whole['patients']:,} patients) | {whole['wall_s']:.2f} | {whole['wall_s'] / fetch:.3f} |")
        else:
            lines.append(f"| {latency} | `client.quality(study)` | failed: {' '.join(whole.get('error', []))} | |")
    return lines


def memory_table(results: list[dict[str, Any]]) -> list[str]:
    arrow, frame = memory_rows(results)
    if arrow is None:
        return []
    nbytes = arrow["arrow_nbytes"]
    lines = [
        f"Study of {arrow['expected']:,} observations, all codes, jhe at its default settings. The Arrow "
        f"table (`client.fetch_arrow(...)`, long layout: {arrow['rows']:,} rows) is "
        f"**{nbytes / 2**20:,.1f} MB** (`pyarrow.Table.nbytes`). Targets: peak RSS ≤ 1.5 × table + 100 MB "
        f"for `fetch_arrow`, ≤ 2 × table + 100 MB for `fetch_dataframe`.",
        "",
        "| fetch | RSS before the fetch MB | peak RSS MB | growth (peak − before) MB | limit MB | peak within it | growth within it |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, row in (("`fetch_arrow` (all codes)", arrow), ("`fetch_dataframe` (all codes, pandas)", frame)):
        if row is None:
            continue
        peak, before, limit = row["peak_rss_kb"], row["rss_before_kb"], memory_limit_kb(row, nbytes)
        lines.append(
            f"| {name} | {mb(before)} | {mb(peak)} | {mb(peak - before)} | {mb(limit)} | "
            f"{'met' if peak <= limit else 'missed'} | {'met' if peak - before <= limit else 'missed'} |"
        )
    lines += [
        "",
        "\"RSS before\" is the interpreter with pandas, pyarrow, requests and jhe imported; the peak is the "
        "child process's `ru_maxrss` read as soon as the fetch returns (the row count checked afterwards is not in it).",
    ]
    return lines


# --------------------------------------------------------------------------------------
# issue 12's targets


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def speed_targets(results: list[dict[str, Any]]) -> list[str]:
    at = {"target": 100_000, "query": "all codes"}
    arrow = find(results, section="main", peer="jhe-arrow", **at)
    frame = find(results, section="main", peer="jhe", **at)
    lines = []
    for floor, need in (("parse-floor", 2.0), ("http-floor", 3.0)):
        name = f"100,000, all codes, into Arrow: ≤ {need:g}× the {label(floor).split(' (')[0]} (wall)"
        x = quotient(arrow, find(results, section="floor", peer=floor, target=100_000))
        lines.append(f"| {name} | {x:.2f}× | {verdict(x <= need)} |" if x is not None else f"| {name} | not measured | |")
    for peer, need in (("baseline", 15.0), ("power", 12.0)):
        name = f"100,000, all codes: jhe ≥ {need:g}× faster than the {label(peer)} (both into pandas)"
        other = find(results, section="main", peer=peer, **at)
        x, xa = quotient(other, frame), quotient(other, arrow)
        if x is None:
            lines.append(f"| {name} | not measured | |")
        else:
            lines.append(f"| {name} | {x:.1f}× (`fetch_arrow`: {xa:.1f}×) | {verdict(x >= need)} |" if xa else f"| {name} | {x:.1f}× | {verdict(x >= need)} |")
    x = quotient(frame, arrow)
    name = "100,000, all codes: into pandas within 1.2× of into Arrow (wall)"
    lines.append(f"| {name} | {x:.2f}× | {verdict(x <= 1.2)} |" if x is not None else f"| {name} | not measured | |")
    return lines


def memory_targets(results: list[dict[str, Any]]) -> list[str]:
    arrow, frame = memory_rows(results)
    lines = []
    for peer, row in (("jhe-arrow", arrow), ("jhe", frame)):
        name = f"1,000,000: `{label(peer).split()[1]}` peak RSS ≤ {MEMORY_LIMITS[peer]:g} × Arrow table + 100 MB"
        if arrow is None or row is None or arrow["target"] < 1_000_000:
            lines.append(f"| {name} | not measured at 1,000,000 | |")
            continue
        limit, peak = memory_limit_kb(row, arrow["arrow_nbytes"]), row["peak_rss_kb"]
        lines.append(
            f"| {name} | {peak / MB:,.0f} MB vs {limit / MB:,.0f} MB (growth {(peak - row['rss_before_kb']) / MB:,.0f} MB) | {verdict(peak <= limit)} |"
        )
    return lines


def latency_target(results: list[dict[str, Any]], model: dict[str, Any] | None) -> list[str]:
    default = find(results, section="latency", peer="jhe", concurrency=None)
    if model is None or default is None:
        return ["| latency-bound (1.5 s per page, 45 pages): default settings within 1.3× of the round-trip model's best | not measured | |"]
    name = (
        f"latency-bound ({model['latency_s']:g} s per response, {model['pages']} pages): default settings within 1.3× "
        f"of the round-trip model's best ({fmt(model['best_s'])} s)"
    )
    x = default["wall_s"] / model["best_s"]
    return [f"| {name} | {fmt(default['wall_s'])} s: {x:.2f}× | {verdict(x <= 1.3)} |"]


def decode_target(decode: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[str]:
    name = "decode bench (`cargo bench --bench decode`): ≥ 2× the baseline's wide-layout MiB/s"
    if baseline is None:
        return [f"| {name} | no baseline recorded (benchmarks/decode_baseline.json) | |"]
    base = baseline["wide_mib_s"]
    if not decode or decode.get("status") != "ok":
        why = (decode or {}).get("reason", "not run (give --decode-bench, or run `cargo bench --bench decode`)")
        return [f"| {name} | baseline {base:,.0f} MiB/s ({baseline['date']}, {baseline['commit']}); now: {why} | |"]
    x = decode["wide_mib_s"] / base
    # The machine's speed drifts between runs (fourfold between days here): each run's
    # plain serde_json parse of the same pages is its yardstick, and the verdict is read on
    # the ratio to it, like for like.
    reference = decode.get("serde_json_value_mib_s"), baseline.get("serde_json_value_mib_s")
    if all(reference):
        relative = x / (reference[0] / reference[1])
        measured = f"{x:.2f}×; against each run's `serde_json::Value` parse of the same pages: {relative:.2f}×"
    else:
        relative, measured = x, f"{x:.2f}× (no serde_json reference to read it like for like)"
    return [
        f"| {name} | {decode['wide_mib_s']:,.0f} MiB/s ({decode['source']}, {decode['saved']}) vs {base:,.0f} MiB/s "
        f"({baseline['date']}, {baseline['commit']}): {measured} | {verdict(relative >= 2)} |"
    ]


def targets(results: list[dict[str, Any]], model: dict[str, Any] | None, decode: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[str]:
    return [
        "| target | measured | verdict |",
        "|---|---|---|",
        *speed_targets(results),
        *memory_targets(results),
        *latency_target(results, model),
        *decode_target(decode, baseline),
    ]


def clinical_rows(decode: dict[str, Any] | None) -> list[str]:
    """Per observation, in the same run: the Exchange's own (OMH) pages beside the EHR-imported
    (clinical FHIR) ones."""
    ok = decode and decode.get("status") == "ok"
    lines = [
        "| decoder, observations/s | OMH pages | clinical pages | clinical ÷ OMH |",
        "|---|---:|---:|---:|",
    ]
    for key, name in (("serde_json_value", "`serde_json::Value` (the Bundle page only)"), ("wide", "jhe, wide layout"), ("long", "jhe, long layout")):
        omh = (decode or {}).get(f"{key}_obs_s") if ok else None
        clinical = (decode or {}).get(f"clinical_{key}_obs_s") if ok else None
        ratio = f"{clinical / omh:.2f}×" if omh and clinical else ""
        lines.append(f"| {name} | {fmt(omh, 0)} | {fmt(clinical, 0)} | {ratio} |")
    return lines


def decode_section(decode: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[str]:
    lines = ["| decoder | baseline MiB/s | now MiB/s | now ÷ baseline |", "|---|---:|---:|---:|"]
    for key, name in (("serde_json_value", "`serde_json::Value` (the Bundle page only)"), ("wide", "jhe, wide layout"), ("long", "jhe, long layout")):
        before = (baseline or {}).get(f"{key}_mib_s")
        now = (decode or {}).get(f"{key}_mib_s") if decode and decode.get("status") == "ok" else None
        lines.append(f"| {name} | {fmt(before, 0)} | {fmt(now, 0)} | {f'{now / before:.2f}×' if now and before else ''} |")
    lines += ["", *clinical_rows(decode)]
    notes = []
    if baseline:
        notes.append(f"Baseline: {baseline['date']}, commit {baseline['commit']} (`{baseline.get('command', '')}`).")
    if decode and decode.get("status") == "ok":
        notes.append(f"Now: {decode['source']}, criterion's estimates saved {decode['saved']}.")
    elif decode:
        notes.append(f"Now: {not_ok(decode)}.")
    return lines + ([""] + notes if notes else [])


# --------------------------------------------------------------------------------------
# the report


def how_measured(args: argparse.Namespace, v: dict[str, str]) -> list[str]:
    return [
        "## How it is measured",
        "",
        "- The server is jhe's fake Exchange (`jhe.testing.FakeExchange`, current API, no gzip, `render_cache=True`: "
        "each resource is rendered once, then served from memory, so the server's CPU is small and the same for "
        "every peer) in a process of its own on 127.0.0.1, sized to each target by its number of patients and days (the generator gives "
        "about 118 observations per patient and day, 82% of them blood glucose). Client and server share the machine's CPUs.",
        "- The fetch: the study's observations through the FHIR API (`patient._has:Group:member:_id`), one code "
        "(blood glucose, `omh:blood-glucose:4.0`) and all codes, into pandas (and into Arrow for `fetch_arrow`).",
        "- Each measurement is a fresh interpreter (`benchmarks/peers.py`), so every figure is a process's first fetch; imports come before the clock. "
        "**wall**: the fetch and the DataFrame building; **client CPU**: user+sys of the client process (all "
        "threads) over the same span; **server CPU**: the server process's user+sys over the run; **peak RSS**: "
        "the client process's `ru_maxrss` as soon as the fetch returns, imports included (not the row count checked after it); **obs/s**: the server's total ÷ wall; "
        "**÷ jhe**: the peer's wall (or CPU) over jhe `fetch_dataframe`'s on the same query.",
        (f"- Runs under 10 s are repeated ({args.repeat} fresh processes in all) and the median by wall is shown. A "
         if args.repeat > 1 else "- Every measurement is one run. A ")
        + f"peer whose time, estimated from its rate at the previous size, exceeds {args.max_seconds / 60:.0f} min "
        "is not run at that size.",
        "- **observations** counts distinct observation ids in the result and is checked against the server's "
        "`_summary=count`; ✗ marks a peer that returned a different number.",
        "- **The floors**, on the all-codes query against the same server process: the **HTTP floor** is curl "
        f"(`--parallel --parallel-max {POWER_IN_FLIGHT}`) fetching every page URL of the search at once, bytes discarded "
        "(wall from curl's start to its exit, CPU the curl process's rusage); the **parse floor** is "
        "`examples/parse_floor.rs` over the same pages saved to files and read into memory before its clock: a serde typed, borrowed "
        "read of each entry's `resource.valueAttachment.data` (a raw slice), base64 decoding, and the OMH document "
        "scanned with `serde::de::IgnoredAny`, on 2 threads (wall and the threads' CPU of the parse); the **`serde_json::Value`** row is "
        "the same binary building `Value` trees on both layers. Built with `cargo build --release --example parse_floor`.",
        "",
        "The peers:",
        "",
        f"- **jhe** {v['jhe']}: `jhe.Client(url, token).fetch_dataframe(study_id=..., code=...)` and `.fetch_arrow(...)`, "
        "FHIR, default settings. One code gives the wide layout; all codes the default long layout (one row per "
        "observation *and measure*, so more rows than observations).",
        f"- **power user's Python**: aiohttp ({v.get('aiohttp', '?')}) with {POWER_IN_FLIGHT} requests in flight (the first page for "
        "the total, then every other page by number), orjson ({v.get('orjson', '?')}) on both layers, `binascii.a2b_base64`, then "
        "the baseline's columns as lists per code and one vectorised `pd.to_datetime(..., utc=True, format=\"ISO8601\")` per time column.",
        "- **pure-Python baseline**: one requests Session, pages of 1000 followed sequentially, `json.loads` and "
        "`base64.b64decode`, columns built as lists per code (measures flattened by key path), then one "
        "`pd.DataFrame` per code and one vectorised `pd.to_datetime(..., utc=True, format=\"ISO8601\")` per time column.",
        "- **user guide's code**: `fetch_all_fhir_observations` and the per-row DataFrame building of "
        "`fetch_to_dataframe` from the user guide (`Fetching and Exporting Data`), with requests (no Session), "
        f"pages of the server's default {GUIDE_PAGE}. Every adaptation (the URL, the code filter, FHIR fields, interval "
        "time frames, `utc=True, format=\"ISO8601\"`) is marked `ADAPTED` in `benchmarks/peers.py`, with why.",
        f"- **jupyterhealth-client** {v['jupyterhealth-client']}: `JupyterHealthClient(url, token=...).list_observations_df("
        "study_id=..., code=..., limit=None)`. Its default `limit=2000` silently truncates a study; `None` "
        "fetches all. Pages of 1000, sequential; one row per observation, every field flattened, each "
        "`*date_time` parsed with `pd.to_datetime` per value.",
        "",
    ]


def latency_section(args: argparse.Namespace, results: list[dict[str, Any]], model: dict[str, Any] | None) -> list[str]:
    lat = latency_table(results, model)
    if not lat or model is None:
        return []
    option = (
        "This build's `jhe.Client` takes `max_concurrency`."
        if model["client_has_max_concurrency"]
        else "This build's `jhe.Client` has no `max_concurrency` option: the model's ceiling is the issue's default all the same."
    )
    return [
        f"## Latency-bound: every response delayed {args.latency_ms / 1000:g} s",
        "",
        f"Modelled on a real Exchange: all codes of a study of {model['total']:,} observations, {model['pages']} pages of "
        f"{FHIR_PAGE}, every response (`metadata` and `_summary=count` too) delayed {args.latency_ms / 1000:g} s.",
        "",
        *lat,
        "",
        f"The round-trip model's best: one round trip for `metadata` and the first page together, then the other "
        f"{model['pages'] - 1} pages at most {CEILING} at a time (issue 12's ceiling, the default `max_concurrency`): "
        f"1 + ⌈{model['pages'] - 1}/{CEILING}⌉ = {model['round_trips']} round trips of {model['latency_s']:g} s. "
        f"At concurrency 1 a fetch needs about P + 2 = {model['pages'] + 2} round trips. {option}",
        "",
    ]


def write_report(
    args: argparse.Namespace,
    info: dict[str, Any],
    results: list[dict[str, Any]],
    model: dict[str, Any] | None,
    decode: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    elapsed: float,
    mirror: dict[str, Any] | None = None,
    quality: dict[str, Any] | None = None,
    privacy: dict[str, Any] | None = None,
    scaled: dict[str, Any] | None = None,
) -> None:
    v = info["versions"]
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "") + f" --sizes {','.join(str(s) for s in args.sizes)}"
    if args.decode_bench:
        command += " --decode-bench"
    lines = [
        "# jhe benchmarks",
        "",
        f"Produced by `{command}` in {elapsed / 60:.0f} min" + (" (**--quick: a smoke run, the numbers mean nothing**)" if args.quick else "") + ".",
        "",
        f"- Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory_gb']} GB RAM, {info['os']}",
        f"- Python {info['python']}; jhe {v['jhe']}" + (f" (git {info['git']})" if info.get("git") else "")
        + f"; pandas {v['pandas']}; pyarrow {v['pyarrow']}; numpy {v['numpy']}; jupyterhealth-client {v['jupyterhealth-client']}; "
        f"requests {v['requests']}; aiohttp {v.get('aiohttp')}; orjson {v.get('orjson')}; {info.get('curl', 'curl ?')}; {info.get('rustc', 'rustc ?')}",
        f"- Date: {info['date']}; 1-minute load average {info['loadavg_start']:.2f} at the start, {info['loadavg_end']:.2f} at the end",
        "",
        *how_measured(args, v),
        "## Targets (issue 12)",
        "",
        *targets(results, model, decode, baseline),
        "",
        "## Throughput: the study into pandas",
        "",
        *main_table(results),
        "",
        "![observations per second](results.png)",
        "",
    ]
    floors = floor_tables(results)
    if floors:
        lines += ["## Against the floors", "", *floors]
    lines += latency_section(args, results, model)
    mem = memory_table(results)
    if mem:
        lines += ["## Memory: the largest jhe fetch against its Arrow table", "", *mem, ""]
    if mirror is not None:
        lines += ["## The mirror: re-syncs against a full fetch (issue 13)", "", *mirror_table(mirror), ""]
    if quality is not None:
        lines += ["## The quality report against its fetch (issue 14)", "", *quality_table(quality), ""]
    if privacy is not None:
        import _privacy_bench

        lines += ["## De-identification against its fetch (issue 15)", "", *_privacy_bench.table(privacy), ""]
    if scaled is not None:
        import _dask_bench

        lines += ["## Dask: two workers against one client (issue 16)", "", *_dask_bench.table(scaled), ""]
    lines += ["## Decode throughput (`cargo bench --bench decode`)", "", *decode_section(decode, baseline), ""]
    # Where the time and memory go: profiled by hand (perf), kept beside this script.
    profile = HERE / "PROFILE.md"
    if profile.exists() and not args.quick:
        lines += [profile.read_text().rstrip(), ""]
    missing = [r for r in results if r["status"] != "ok"]
    if missing:
        lines += ["## Not run or failed", ""]
        for row in missing:
            lines.append(f"- {row['label']}, {row['query']}, {row['expected']:,} observations ({row['section']}): {not_ok(row)}")
        lines.append("")
    args.out.write_text("\n".join(lines))


def chart(path: Any, results: list[dict[str, Any]], latency_ms: int, model: dict[str, Any] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = [r for r in results if r["section"] == "latency" and r["status"] == "ok"]
    panels = 3 if latency else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4))
    colors = {
        "jhe": "tab:red", "jhe-arrow": "tab:orange", "power": "tab:cyan", "baseline": "tab:blue",
        "guide": "tab:green", "jhc": "tab:purple",
    }
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
        ax.legend(fontsize=7)
    if latency:
        ax = axes[2]
        names = [r["label"].replace("jhe fetch_dataframe", "jhe").replace("concurrency ", "c") for r in latency]
        values = [r["wall_s"] for r in latency]
        bars = ax.bar(range(len(values)), values, color=[colors.get(r["peer"], "grey") for r in latency])
        for bar, value in zip(bars, values):
            ax.annotate(f"{value:,.1f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(values)), names, rotation=30, ha="right", fontsize=7)
        if model is not None:
            ax.axhline(model["best_s"], color="black", linestyle="--", linewidth=1, label="the round-trip model's best")
            ax.legend(fontsize=7)
        ax.set_ylabel("wall seconds")
        ax.set_title(f"{latency[0]['expected']:,} observations, {latency_ms / 1000:g} s per response")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
