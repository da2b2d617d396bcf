"""The ``jhe`` command line. Configuration comes from the same environment variables as the
library (``JHE_URL``, ``JHE_TOKEN``, or ``JHE_CLIENT_ID``/``JHE_CLIENT_SECRET``).

Exit codes: 0 success, 1 the Exchange or the network failed, 2 bad usage or settings,
130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GLUCOSE = "omh:blood-glucose:4.0"


def _client(args: argparse.Namespace) -> Any:
    from jhe import Client

    return Client(url=args.url, token=args.token)


def _demo(args: argparse.Namespace) -> int:
    from jhe import Client
    from jhe.testing import FakeExchange

    with FakeExchange(patients=args.patients, days=args.days, seed=args.seed) as fx:
        study_id = fx.main_study_id
        print(f"Started a fake JupyterHealth Exchange at {fx.url} (study {study_id})")
        client = Client(fx.url, fx.token)
        observations = client.fetch(study_id=study_id, code=GLUCOSE, progress=False)
        path = client.export_csv(args.output, study_id=study_id, preset="guide", progress=False)
    df = observations.to_pandas()
    print()
    print(f"Blood glucose for study {study_id}")
    print(f"  rows:         {len(df):,}")
    print(f"  patients:     {df['patient_id'].nunique()}")
    if len(df):
        print(f"  date range:   {df['timestamp'].min():%Y-%m-%d %H:%M} to {df['timestamp'].max():%Y-%m-%d %H:%M} UTC")
        print(f"  mean glucose: {df['glucose_mg_dl'].mean():.1f} mg/dL")
    print(f"\nWrote {len(df):,} rows to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    client = _client(args)
    filters: dict[str, Any] = {
        "since": args.since,
        "until": args.until,
        "organization_id": args.organization,
        "layout": args.layout,
        "api": args.api,
    }
    if args.identifier:
        system, _, value = args.identifier.partition("|")
        if not value:
            raise SystemExit("jhe export: --identifier must be SYSTEM|VALUE")
        filters["patient_identifier"] = (system, value)
    output = Path(args.output)
    if args.format == "csv":
        path = client.export_csv(output, args.study, args.patient, args.code, **filters)
    else:
        partition = [args.partition_by] if args.partition_by else None
        path = client.export_parquet(output, args.study, args.patient, args.code, partition_by=partition, **filters)
    print(f"Wrote {path}")
    return 0


def _print_frame(frame: Any, columns: list[str], as_csv: bool) -> None:
    present = [c for c in columns if c in frame.columns]
    if as_csv:
        frame[present].to_csv(sys.stdout, index=False)
    elif len(frame) == 0:
        print("(none)")
    else:
        print(frame[present].to_string(index=False))


def _patients(args: argparse.Namespace) -> int:
    frame = _client(args).list_patients(organization_id=args.organization, study_id=args.study)
    _print_frame(frame, ["id", "nameGiven", "nameFamily", "birthDate", "telecomEmail"], args.csv)
    return 0


def _studies(args: argparse.Namespace) -> int:
    frame = _client(args).list_studies(organization_id=args.organization)
    _print_frame(frame, ["id", "name", "organizationId", "description"], args.csv)
    return 0


def _fake_server(args: argparse.Namespace) -> int:
    from jhe.testing import FakeExchange

    legacy: bool | str = {"current": False, "legacy": True, "guide": "guide"}[args.generation]
    with FakeExchange(patients=args.patients, days=args.days, seed=args.seed, legacy=legacy) as fx:
        print(f"Fake JupyterHealth Exchange serving at {fx.url} (Ctrl-C to stop)")
        print(f"  export JHE_URL={fx.url}")
        print(f"  export JHE_TOKEN={fx.token}")
        print(f"  main study {fx.main_study_id}, {len(fx.directory['visible_patient_ids'])} patients")
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("stopped")
    return 0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the Exchange (default: $JHE_URL)")
    parser.add_argument("--token", help="an access token (default: $JHE_TOKEN)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jhe",
        description="Fetch and export data from a JupyterHealth Exchange. Settings come from "
        "--url/--token or JHE_URL and JHE_TOKEN (or JHE_CLIENT_ID and JHE_CLIENT_SECRET).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="fetch a study's blood glucose from an embedded fake Exchange and write a CSV",
        description="Start an offline fake Exchange, fetch a study's blood glucose into a "
        "DataFrame, print a summary and write it as CSV with the guide's headers.",
    )
    demo.add_argument("--patients", type=int, default=20, help="patients in the fake study (default 20)")
    demo.add_argument("--days", type=int, default=14, help="days of data per patient (default 14)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the generated data (default 0)")
    demo.add_argument("-o", "--output", default="blood_glucose.csv", help="CSV to write (default blood_glucose.csv)")
    demo.set_defaults(handler=_demo)

    export = commands.add_parser(
        "export",
        help="fetch observations and write CSV or Parquet",
        description="Fetch observations (every page, filters applied by the server) and write "
        "them atomically as CSV or Parquet.",
    )
    _connection_options(export)
    export.add_argument("--study", type=int, help="study id")
    export.add_argument("--patient", type=int, help="patient id")
    export.add_argument("--organization", type=int, help="organization id")
    export.add_argument("--identifier", help="patient identifier as SYSTEM|VALUE")
    export.add_argument("--code", action="append", help="data type, e.g. omh:blood-glucose:4.0 (repeatable)")
    export.add_argument("--since", help="effective time at or after (date or ISO date-time)")
    export.add_argument("--until", help="effective time before (date or ISO date-time)")
    export.add_argument("--layout", choices=["wide", "long"], help="default: wide for one code, else long")
    export.add_argument("--api", choices=["auto", "fhir", "rest"], default="auto", help="default: auto")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv", help="default: csv")
    export.add_argument("--partition-by", choices=["code", "patient_id"], help="Parquet: a directory of partitions")
    export.add_argument("-o", "--output", required=True, help="file (or directory, when partitioned) to write")
    export.set_defaults(handler=_export)

    patients = commands.add_parser("patients", help="list the patients you may see", description="List patients.")
    _connection_options(patients)
    patients.add_argument("--study", type=int, help="only this study's patients")
    patients.add_argument("--organization", type=int, help="only this organization's patients")
    patients.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    patients.set_defaults(handler=_patients)

    studies = commands.add_parser("studies", help="list the studies you may see", description="List studies.")
    _connection_options(studies)
    studies.add_argument("--organization", type=int, help="only this organization's studies")
    studies.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    studies.set_defaults(handler=_studies)

    fake = commands.add_parser(
        "fake-server",
        help="serve a fake Exchange until Ctrl-C, printing its URL and token",
        description="Serve a generated, offline JupyterHealth Exchange on 127.0.0.1 until Ctrl-C, "
        "so notebooks can be tried without a real server.",
    )
    fake.add_argument("--patients", type=int, default=20, help="default 20")
    fake.add_argument("--days", type=int, default=14, help="default 14")
    fake.add_argument("--seed", type=int, default=0, help="default 0")
    fake.add_argument("--generation", choices=["current", "legacy", "guide"], default="current", help="API generation")
    fake.set_defaults(handler=_fake_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from jhe import ConfigurationError, JHEError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (ConfigurationError, ValueError, TypeError, ImportError) as exc:
        # ImportError: an optional dependency; jhe's message names the extra to install.
        print(f"jhe {args.command}: {exc}", file=sys.stderr)
        return 2
    except JHEError as exc:
        print(f"jhe {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jhe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
