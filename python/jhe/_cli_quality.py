"""``jhe quality``: a study's data-quality report, printed as one line per check and written
as a self-contained HTML page (``-o``)."""

from __future__ import annotations

import argparse
from typing import Any


def quality(args: argparse.Namespace, client: Any) -> int:
    report = client.quality(
        args.study,
        args.code or None,
        since=args.since,
        until=args.until,
        patient_id=args.patient,
        progress=False,
        k=args.gap_k,
        threshold_std=args.threshold_std,
        valid_day_percent=args.valid_day_percent,
    )
    summary = report.summary()
    width = max(len(check) for check in summary["check"])
    print(report.title)
    for check, result, detail in summary.itertuples(index=False):
        print(f"  {check:<{width}}  {result:>8,}  {detail}")
    if args.output:
        path = report.to_html(args.output)
        print(f"\nWrote the report to {path}")
    return 0


def add_command(commands: Any, connection_options: Any) -> None:
    parser = commands.add_parser(
        "quality",
        help="check a study's data: completeness, coverage, gaps, outliers, timestamps, CGM metrics",
        description="Fetch a study (one request per data type, not per patient), check it, print "
        "one line per check and, with -o, write the report as a self-contained HTML page.",
    )
    connection_options(parser)
    parser.add_argument("--study", type=int, required=True, help="study id")
    parser.add_argument("--code", action="append", help="data type to check (repeatable; default: every one the study requests)")
    parser.add_argument("--patient", type=int, help="only this patient of the study")
    parser.add_argument("--since", help="effective time at or after (date or ISO date-time)")
    parser.add_argument("--until", help="effective time before (date or ISO date-time)")
    parser.add_argument("-o", "--output", help="HTML file to write the report to")
    parser.add_argument("--gap-k", type=float, default=3.0, help="a gap is longer than this many median intervals (default 3)")
    parser.add_argument("--threshold-std", type=float, default=3.0, help="z-score outlier threshold in SDs (default 3)")
    parser.add_argument("--valid-day-percent", type=float, default=70.0, help="a valid day is at least this active (default 70)")
    parser.set_defaults(handler=lambda args: quality(args, _client(args)))


def _client(args: argparse.Namespace) -> Any:
    from jhe.cli import _client as client_of

    return client_of(args)
