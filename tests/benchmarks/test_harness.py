"""CI smoke run of the benchmark harness, so that it cannot rot.

Runs ``benchmarks/run.py --quick`` (a study of about 500 observations, every peer, the
floors, the latency-bound and memory sections) into a temporary directory and checks the
report has a row per peer and floor, that every peer and the parse floor returned exactly
the server's observations, and that the targets table is there. No timing assertions: the
numbers of a smoke run mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
# The harness's own peers and names for its rows, read from it rather than written again here.
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import FLOOR_ORDER as FLOORS  # noqa: E402
from _common import PEER_ORDER as PEERS  # noqa: E402
from _common import label  # noqa: E402

LABELS = {peer: label(peer) for peer in PEERS}


def test_quick_run_reports_every_peer_with_the_servers_observations(tmp_path: Path) -> None:
    for module in ("jupyterhealth_client", "requests", "aiohttp", "orjson", "matplotlib", "pandas", "pyarrow"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"the benchmark harness needs {module}: pip install '.[test]'")
    committed = ROOT / "benchmarks" / "RESULTS.md"
    before = committed.read_bytes() if committed.exists() else None
    out = tmp_path / "RESULTS.md"

    # The timeout only guards against a hang; it is not a timing assertion.
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    data = json.loads((tmp_path / "results.json").read_text())
    results = data["results"]
    failures = [r for r in results if r["status"] != "ok"]
    assert not failures, [(r["label"], r["query"], r["status"], r.get("reason")) for r in failures]

    main = [r for r in results if r["section"] == "main"]
    for peer in PEERS:
        for query in ("blood glucose", "all codes"):
            rows = [r for r in main if r["peer"] == peer and r["query"] == query]
            assert len(rows) == 1, (peer, query, rows)
            row = rows[0]
            assert row["expected"] > 0
            assert row["observations"] == row["expected"], (peer, query, row["observations"], row["expected"])
            assert row["match"] is True
            for key in ("wall_s", "cpu_s", "process_peak_rss_kb", "obs_per_s", "server_cpu_s"):
                assert row[key] is not None and row[key] >= 0, (peer, query, key)

    # The floors need curl and cargo, which CI has (cargo builds jhe itself).
    floors = {r["peer"]: r for r in results if r["section"] == "floor"}
    assert sorted(floors) == sorted(FLOORS)
    http = floors["http-floor"]
    assert http["pages"] >= 1 and http["bytes"] > 0 and http["match"] is None
    for name in ("parse-floor", "parse-value"):
        assert floors[name]["observations"] == floors[name]["expected"] and floors[name]["match"] is True
        assert floors[name]["bytes"] == http["bytes"], "the parse floor reads the pages curl fetched"

    latency = [r for r in results if r["section"] == "latency"]
    assert sorted((r["concurrency"] or 0) for r in latency if r["peer"] == "jhe") == [0, 1, 32]
    assert {r["peer"] for r in latency} == {"jhe", "power", "baseline"}
    assert all(r["match"] for r in latency)
    model = data["latency_model"]
    assert model["pages"] >= 2 and model["round_trips"] == 1 + -(-(model["pages"] - 1) // 32)

    # fetch_arrow is a main-section peer, so the memory section reads its row
    arrow = [r for r in main if r["peer"] == "jhe-arrow" and r["query"] == "all codes"]
    assert arrow[0]["arrow_nbytes"] > 0

    (quality,) = data["quality"]["runs"]
    assert quality["checks"]["status"] == "ok" and quality["quality"]["status"] == "ok"
    assert quality["checks"]["observations"] == quality["total"]

    privacy = data["privacy"]
    for layout in ("wide", "long"):
        run = privacy["layouts"][layout]
        assert run["status"] == "ok" and run["observations"] == privacy["total"], (layout, run)

    scaled = data["dask"]
    for run in scaled["runs"]:
        assert run["status"] == "ok" and run["rows"] > 0, run
    assert len({run["rows"] for run in scaled["runs"]}) == 1, scaled["runs"]

    report = out.read_text()
    assert "## The quality report against its fetch (issue 14)" in report
    assert "## Dask: two workers against one client (issue 16)" in report
    assert "## De-identification against its fetch (issue 15)" in report
    table = [line for line in report.splitlines() if line.startswith("| ") and "✓" in line]
    for peer in PEERS:
        assert sum(f"| {LABELS[peer]} |" in line for line in table) >= 2, (peer, report)
    assert not [line for line in report.splitlines() if line.startswith("| ") and "✗" in line]
    assert "## Targets (issue 12)" in report and "## Against the floors" in report
    assert "| round-trip model's best" in report
    assert (tmp_path / "results.png").stat().st_size > 0

    # never the committed report
    assert (committed.read_bytes() if committed.exists() else None) == before
