"""``jhe watch`` and ``jhe sync``: the command line of :meth:`jhe.Client.watch` and
:meth:`jhe.Client.sync`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jhe import _cli_privacy

log = logging.getLogger("jhe.watch")

POST_ATTEMPTS = 4
POST_TIMEOUT_S = 30


def display_name(code: str) -> str:
    """`omh:blood-glucose:4.0` → `Blood Glucose`, as the Exchange's ``codingText`` reads."""
    parts = code.split(":")
    name = parts[1] if len(parts) == 3 else code
    return name.replace("-", " ").replace("_", " ").title()


def ids_by_code(batch: Any) -> dict[str, list[int | str]]:
    """Each code's observation ids (or, de-identified, their pseudonyms) in `batch`, in
    order of first appearance."""
    import pyarrow.compute as pc

    from jhe import _convert

    found: dict[str, list[int | str]] = {}
    for _, table in batch._tables:
        arrow = _convert.to_pyarrow(table).select(["code", "observation_id"])
        codes = arrow["code"].cast("string")
        for code in pc.unique(codes).to_pylist():
            ids = pc.unique(arrow["observation_id"].filter(pc.equal(codes, code))).to_pylist()
            found.setdefault(str(code), []).extend(i for i in ids if i is not None)
    return found


def batch_line(batch: Any, at: datetime) -> str:
    """The guide's line for a batch: ``3 new observation(s) at ...: Blood Glucose: 60123, ...``."""
    groups = "; ".join(f"{display_name(code)}: {', '.join(map(str, ids))}" for code, ids in ids_by_code(batch).items())
    errors = f" ({len(batch.errors)} could not be decoded)" if batch.errors else ""
    return f"{batch.total} new observation(s) at {at:%Y-%m-%d %H:%M:%S} UTC{errors}: {groups}"


def batch_json(batch: Any) -> bytes:
    """A batch as JSON: its cursor, its rows (one object per table row) and its errors."""
    from jhe import _convert

    rows = [row for _, table in batch._tables for row in _convert.to_pyarrow(table).to_pylist()]
    document = {"cursor": batch.cursor, "observations": rows, "errors": batch.errors}
    return json.dumps(document, default=str).encode()


def post(url: str, body: bytes) -> None:
    """POST `body` to `url`, retrying a refused connection or a 5xx/429 with backoff; a
    4xx is the receiver's refusal and is not retried."""
    for attempt in range(1, POST_ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 429:
                raise RuntimeError(f"--post {url} refused the batch: HTTP {error.code}") from None
            failure = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            failure = str(getattr(error, "reason", error))
        if attempt == POST_ATTEMPTS:
            raise RuntimeError(f"--post {url} failed {POST_ATTEMPTS} times, last: {failure}")
        log.warning("posting to %s failed (%s), trying again", url, failure)
        time.sleep(0.5 * 2 ** (attempt - 1))


def read_state(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    try:
        cursor = json.loads(path.read_text())["cursor"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--state {path} is not a state file jhe watch wrote: {exc}") from None
    return str(cursor)


def write_state(path: Path, cursor: str) -> None:
    """The cursor, replacing the file whole (never half written)."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent or ".", prefix=f".{path.name}.", delete=False) as staged:
        json.dump({"cursor": cursor}, staged)
    os.replace(staged.name, path)


def watch(args: argparse.Namespace, client: Any) -> int:
    state = Path(args.state) if args.state else None
    cursor = read_state(state)
    since = None if cursor is not None else args.since
    code = args.code or None
    batches = client.watch(
        args.study, args.patient, code, interval=args.interval, since=since, cursor=cursor, deidentify=_cli_privacy.settings(args)
    )
    print(f"Watching for new observations every {args.interval:g} s (Ctrl-C to stop)", flush=True)
    for count, batch in enumerate(batches, start=1):
        print(batch_line(batch, datetime.now(UTC)), flush=True)
        if args.post:
            post(args.post, batch_json(batch))
        if state is not None:
            write_state(state, batch.cursor)
        if args.batches and count >= args.batches:
            break
    return 0


def sync(args: argparse.Namespace, client: Any) -> int:
    filters = {"since": args.since, "until": args.until, "api": args.api}
    result = client.sync(
        args.path, args.study, args.patient, args.code or None, full=args.full, deidentify=_cli_privacy.settings(args), **filters
    )
    kind = "full" if result.full else "incremental"
    print(
        f"Synced {args.path} ({kind}): {result.added:,} added, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged; mirror {result.mirror_total:,} rows, server {result.server_total:,}; "
        f"{result.requests} requests in {result.seconds:.1f} s"
    )
    if result.drift:
        print(
            f"warning: the mirror holds {result.drift:+,} rows against the server's count "
            "(rows deleted on the server?); run again with --full to rebuild it"
        )
    return 0


def add_commands(commands: Any, connection_options: Any, query_options: Any) -> None:
    watcher = commands.add_parser(
        "watch",
        help="print a line for each batch of new or changed observations",
        description="Poll the Exchange for observations stored or changed since the last poll "
        "(by the server's clock) and print one line per batch. With --state, the cursor is kept "
        "in a file, so a restart resumes exactly; with --post, each batch is sent as JSON to a URL.",
    )
    connection_options(watcher)
    query_options(watcher)
    watcher.add_argument("--interval", type=float, default=60, help="seconds between polls (default 60)")
    watcher.add_argument("--since", help="start here (date or ISO date-time) instead of now")
    watcher.add_argument("--state", help="file to keep the cursor in (resumed from when it exists)")
    watcher.add_argument("--post", metavar="URL", help="POST each batch as JSON to this URL (retried)")
    watcher.add_argument("--batches", type=int, help="stop after this many batches (default: until Ctrl-C)")
    _cli_privacy.add_arguments(watcher, modes=("pseudonymize",))
    watcher.set_defaults(handler=lambda args: watch(args, _client(args)))

    syncer = commands.add_parser(
        "sync",
        help="keep a local Delta Lake mirror of a study current",
        description="Bring the mirror at PATH up to date: everything the first time, then only "
        "what changed. One Delta table per data type and one of decode errors; read it with "
        "polars (pl.read_delta), DuckDB (delta_scan) or jhe.read_mirror.",
    )
    syncer.add_argument("path", help="the mirror's directory")
    connection_options(syncer)
    query_options(syncer)
    syncer.add_argument("--since", help="effective time at or after (date or ISO date-time)")
    syncer.add_argument("--until", help="effective time before (date or ISO date-time)")
    syncer.add_argument("--api", choices=["auto", "fhir", "rest"], default="auto", help="default: auto")
    syncer.add_argument("--full", action="store_true", help="fetch everything and rebuild the mirror")
    _cli_privacy.add_arguments(syncer, modes=("pseudonymize",))
    syncer.set_defaults(handler=lambda args: sync(args, _client(args)))


def _client(args: argparse.Namespace) -> Any:
    from jhe.cli import _client as client_of

    return client_of(args)
