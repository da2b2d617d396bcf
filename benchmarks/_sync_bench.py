"""The mirror's benchmark (issue 13): a re-sync of an unchanged study and one with 1% new
rows, against a full fetch of the same study, each in a fresh interpreter against the same
server process (``_server.py``, which adds rows when told on its stdin).

    python benchmarks/_sync_bench.py child fetch|sync URL TOKEN STUDY [PATH]

is one measurement (run by :func:`run`); it prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import json_child

HERE = Path(__file__).resolve().parent
NEW_SHARE = 0.01


def child(mode: str, url: str, token: str, study: int, path: str | None) -> dict[str, Any]:
    # Imports before the clock, as for every peer of the harness.
    import deltalake  # noqa: F401
    import pyarrow  # noqa: F401

    import jhe

    client = jhe.Client(url, token)
    started = time.perf_counter()
    if mode == "fetch":
        table = client.fetch_arrow(study_id=study, layout="wide", progress=False)
        rows = sum(t.num_rows for t in table.values()) if isinstance(table, dict) else table.num_rows
        return {"wall_s": time.perf_counter() - started, "rows": rows}
    result = client.sync(path, study_id=study)
    return {
        "wall_s": time.perf_counter() - started, "added": result.added, "updated": result.updated,
        "unchanged": result.unchanged, "requests": result.requests, "drift": result.drift, "full": result.full,
        "mirror_total": result.mirror_total,
    }


def _measure(server: Any, mode: str, path: Path | None) -> dict[str, Any]:
    info = server.info
    arguments = [mode, info["url"], info["token"], str(info["study_id"]), *([str(path)] if path else [])]
    return json_child(__file__, arguments, timeout=1200)


def run(server: Any) -> dict[str, Any]:
    """Full fetch, first sync, a re-sync with nothing changed, and one after 1% new rows."""
    with tempfile.TemporaryDirectory() as scratch:
        mirror = Path(scratch) / "mirror"
        rows = {"fetch": _measure(server, "fetch", None), "first sync": _measure(server, "sync", mirror)}
        rows["re-sync, unchanged"] = _measure(server, "sync", mirror)
        added = server.add_observations(round(server.info["total"] * NEW_SHARE))
        rows[f"re-sync, {added:,} new rows (1%)"] = _measure(server, "sync", mirror)
    return {"total": server.info["total"], "rows": rows}


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "child":
        mode, url, token, study = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        print(json.dumps(child(mode, url, token, study, sys.argv[6] if len(sys.argv) > 6 else None)))
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
