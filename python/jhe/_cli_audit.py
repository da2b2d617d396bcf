"""`jhe audit PATH`: the audit trail as a table (or its lines as they are, with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# (header, how a line shows it)
COLUMNS: list[tuple[str, Any]] = [
    ("time", lambda line: str(line.get("time", ""))[:19].replace("T", " ")),
    ("user", lambda line: (line.get("user") or {}).get("email") or "?"),
    ("action", lambda line: line.get("action", "")),
    ("query", lambda line: " ".join(f"{k}={_short(v)}" for k, v in (line.get("query") or {}).items() if k not in ("strict", "neutralize_formulas"))),
    ("rows", lambda line: "" if line.get("rows") is None else f"{line['rows']:,}"),
    ("files", lambda line: str(len(line.get("files") or [])) if line.get("files") else ""),
    ("privacy", lambda line: ", ".join(p for p in (_deidentified(line), "encrypted" if line.get("encrypted") else "") if p)),
    ("outcome", lambda line: str(line.get("outcome", ""))[:60]),
]


def _short(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _deidentified(line: dict[str, Any]) -> str:
    settings = line.get("deidentified")
    return f"de-identified ({settings.get('mode')})" if isinstance(settings, dict) else ""


def audit(args: argparse.Namespace) -> int:
    from jhe import _audit

    lines, bad = _audit.read(args.path)
    if args.json:
        for line in lines:
            print(json.dumps(line, ensure_ascii=False))
    else:
        rows = [[show(line) for _, show in COLUMNS] for line in lines]
        widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, (header, _) in enumerate(COLUMNS)]
        print("  ".join(header.ljust(width) for (header, _), width in zip(COLUMNS, widths)).rstrip())
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for number, why in bad:
        print(f"jhe audit: line {number} of {args.path}: {why}", file=sys.stderr)
    return 1 if bad else 0


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "audit",
        help="print an audit trail (Client(audit_log=...), JHE_AUDIT_LOG or --audit-log) as a table",
        description="Print the audit trail at PATH: one row per fetch, listing, export, sync or watch batch, "
        "with who, what, how many rows, the files written, and whether it was de-identified or encrypted.",
    )
    parser.add_argument("path", help="the audit log (JSON lines)")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON instead of a table")
    parser.set_defaults(handler=audit)
