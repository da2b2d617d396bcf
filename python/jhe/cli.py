"""The ``jhe`` command line. Configuration comes from the same environment variables as the
library (``JHE_URL``, ``JHE_TOKEN``, or ``JHE_CLIENT_ID``/``JHE_CLIENT_SECRET``).

Exit codes: 0 success (also when the reader of stdout goes away, as with ``| head``), 1 the
Exchange or the network failed (or, with ``--strict``, a record could not be decoded), 2 bad
usage or settings (also an output path that cannot be written, or a missing optional
dependency), 130 interrupted. Every failure is one line on stderr, and so is every warning
(records that could not be decoded, with their count and where they are listed).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jhe import _cli_privacy

GLUCOSE = "omh:blood-glucose:4.0"


class UsageError(Exception):
    """Arguments that do not go together: exit 2 with this message."""


def _client(args: argparse.Namespace) -> Any:
    from jhe import Client

    return Client(url=args.url, token=args.token, allow_insecure=args.allow_insecure, audit_log=args.audit_log)


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


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The filters both export commands take."""
    filters = {"since": args.since, "until": args.until, "updated_since": args.updated_since, "api": args.api}
    if args.source is not None:
        filters["source"] = args.source
    if args.columns is not None:
        filters["columns"] = [name.strip() for name in args.columns.split(",")]
    return filters


def _export_format(args: argparse.Namespace) -> str:
    """--format, else the -o suffix's, else CSV (Parquet when partitioned); a mismatch is refused."""
    suffix = Path(args.output).suffix.lower()
    inferred = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
    if args.format and inferred and args.format != inferred:
        raise UsageError(f"--format {args.format} does not match -o {args.output}; drop --format or change the suffix")
    format: str = args.format or inferred or ("parquet" if args.partition_by else "csv")
    if args.partition_by and format != "parquet":
        raise UsageError("--partition-by writes a directory of Parquet partitions; use --format parquet (or -o DIR)")
    return format


def _export(args: argparse.Namespace) -> int:
    format = _export_format(args)
    filters = {**_filters(args), "organization_id": args.organization, "layout": args.layout}
    if args.identifier:
        system, _, value = args.identifier.partition("|")
        if not (system and value):
            raise UsageError(f"--identifier must be SYSTEM|VALUE, e.g. http://hospital.example/mrn|MRN-12345, got {args.identifier!r}")
        filters["patient_identifier"] = (system, value)
    client, output = _client(args), Path(args.output)
    common = {"strict": args.strict, "deidentify": _cli_privacy.settings(args), **filters}
    if args.encrypt and format == "csv":
        raise UsageError("--encrypt is for Parquet (Parquet modular encryption): CSV cannot be encrypted")
    if format == "csv":
        path = client.export_csv(output, args.study, args.patient, args.code, neutralize_formulas=not args.keep_formulas, **common)
    else:
        partition = [args.partition_by] if args.partition_by else None
        path = client.export_parquet(
            output, args.study, args.patient, args.code, partition_by=partition, encryption=_encryption(args), **common
        )
    print(f"Wrote {path}")
    return 0


def _encryption(args: argparse.Namespace) -> Any:
    """``--encrypt``: the key from JHE_EXPORT_KEY."""
    if not args.encrypt:
        return None
    from jhe import Encryption

    return Encryption()


def _export_study(args: argparse.Namespace) -> int:
    client = _client(args)
    written = client.export_study(
        args.organization, args.study, args.code, path=args.output, format=args.format, strict=args.strict,
        neutralize_formulas=not args.keep_formulas, encryption=_encryption(args), deidentify=_cli_privacy.settings(args),
        **_filters(args),
    )
    for code, path in sorted(written.items()):
        print(f"Wrote {path} ({code})")
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
    settings = _cli_privacy.settings(args)
    frame = _client(args).list_patients(organization_id=args.organization, study_id=args.study, deidentify=settings)
    columns = ["id", "nameGiven", "nameFamily", "birthDate", "telecomEmail"]
    _print_frame(frame, columns if settings is None else ["pseudonym", "birthDate", "birth_year", "age"], args.csv)
    return 0


def _studies(args: argparse.Namespace) -> int:
    frame = _client(args).list_studies(organization_id=args.organization)
    _print_frame(frame, ["id", "name", "organizationId", "description"], args.csv)
    return 0


def _fake_server(args: argparse.Namespace) -> int:
    from jhe.testing import FakeExchange

    legacy: bool | str = {"current": False, "legacy": True, "guide": "guide"}[args.generation]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:  # from before the first line is printed: Ctrl-C at any moment after it stops cleanly
        with FakeExchange(patients=args.patients, days=args.days, seed=args.seed, legacy=legacy, port=args.port) as fx:
            print(f"Fake JupyterHealth Exchange serving at {fx.url} (Ctrl-C to stop)")
            print(f"  export JHE_URL={fx.url}")
            print(f"  export JHE_TOKEN={fx.token}")
            print(f"  main study {fx.main_study_id}, {len(fx.directory['visible_patient_ids'])} patients")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    print("stopped")
    return 0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the Exchange (default: $JHE_URL)")
    parser.add_argument("--token", help="an access token (default: $JHE_TOKEN)")
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain http:// to a host other than this machine"
    )
    parser.add_argument("--audit-log", metavar="PATH", help="append a JSON line per retrieval to this file (default: $JHE_AUDIT_LOG)")


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", type=int, help="study id")
    parser.add_argument("--patient", type=int, help="patient id")
    parser.add_argument("--code", action="append", help="data type, e.g. omh:blood-glucose:4.0 (repeatable)")


def _fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="effective time at or after (date or ISO date-time)")
    parser.add_argument("--until", help="effective time before (date or ISO date-time)")
    parser.add_argument("--updated-since", help="stored or changed on the server at or after (date or ISO date-time)")
    parser.add_argument("--api", choices=["auto", "fhir", "rest"], default="auto", help="default: auto")
    parser.add_argument(
        "--source", metavar="SOURCE",
        help='records imported from EHRs: "imported", a FHIR source\'s id or URI, or "all" (with the Exchange\'s own); '
        "default: the Exchange's own",
    )
    parser.add_argument(
        "--columns", metavar="A,B,C", help="only these columns, comma-separated (minimum necessary); default: every column"
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail (exit 1, nothing written) if any record could not be decoded"
    )
    parser.add_argument(
        "--encrypt", action="store_true",
        help="Parquet: encrypt the files (AES-GCM, Parquet modular encryption) with the key in JHE_EXPORT_KEY",
    )
    parser.add_argument(
        "--keep-formulas", action="store_true",
        help="CSV: write text starting with = + - @ as it is (default: prefixed with ' so spreadsheets do not run it)",
    )
    _cli_privacy.add_arguments(parser)


def _add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="fetch observations and write CSV or Parquet",
        description="Fetch observations (every page, filters applied by the server) and write "
        "them atomically as CSV or Parquet. Records that could not be decoded are kept, listed "
        "beside the file in NAME.errors.csv (or .parquet) and counted on stderr.",
    )
    _connection_options(export)
    export.add_argument("--study", type=int, help="study id")
    export.add_argument("--patient", type=int, help="patient id")
    export.add_argument("--organization", type=int, help="organization id")
    export.add_argument("--identifier", help="patient identifier as SYSTEM|VALUE")
    export.add_argument("--code", action="append", help="data type, e.g. omh:blood-glucose:4.0 (repeatable)")
    _fetch_options(export)
    export.add_argument("--layout", choices=["wide", "long"], help="default: wide for one code, else long")
    export.add_argument(
        "--format", choices=["csv", "parquet"], help="default: from the -o suffix (.csv, .parquet), else csv"
    )
    export.add_argument("--partition-by", choices=["code", "patient_id"], help="Parquet: a directory of partitions")
    export.add_argument("-o", "--output", required=True, help="file (or directory, when partitioned) to write")
    export.set_defaults(handler=_export)

    study = commands.add_parser(
        "export-study",
        help="export every patient of a study, one file per data type",
        description="Fetch a whole study at once and write one file per data type into a "
        "directory (omh_blood-glucose_4.0.parquet, ...), all moved into place when complete.",
    )
    _connection_options(study)
    study.add_argument("--organization", type=int, required=True, help="the organization the study belongs to")
    study.add_argument("--study", type=int, required=True, help="study id")
    study.add_argument("--code", action="append", help="only these data types (repeatable; default: all)")
    _fetch_options(study)
    study.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="default: parquet")
    study.add_argument("-o", "--output", default=".", help="directory to write into (default: the current one)")
    study.set_defaults(handler=_export_study)


def _add_listings(commands: Any) -> None:
    patients = commands.add_parser("patients", help="list the patients you may see", description="List patients.")
    _connection_options(patients)
    patients.add_argument("--study", type=int, help="only this study's patients")
    patients.add_argument("--organization", type=int, help="only this organization's patients")
    patients.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    _cli_privacy.add_arguments(patients)
    patients.set_defaults(handler=_patients)

    studies = commands.add_parser("studies", help="list the studies you may see", description="List studies.")
    _connection_options(studies)
    studies.add_argument("--organization", type=int, help="only this organization's studies")
    studies.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    studies.set_defaults(handler=_studies)


def _add_fake_world(parser: argparse.ArgumentParser) -> None:
    """The generated study of the embedded fake Exchange (`demo`, `fake-server`)."""
    parser.add_argument("--patients", type=int, default=20, help="patients in the fake study (default 20)")
    parser.add_argument("--days", type=int, default=14, help="days of data per patient (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data (default 0)")


def build_parser() -> argparse.ArgumentParser:
    from jhe import __version__

    parser = argparse.ArgumentParser(
        prog="jhe",
        description="Fetch and export data from a JupyterHealth Exchange. Settings come from "
        "--url/--token or JHE_URL and JHE_TOKEN (or JHE_CLIENT_ID and JHE_CLIENT_SECRET).",
    )
    parser.add_argument("--version", action="version", version=f"jhe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="fetch a study's blood glucose from an embedded fake Exchange and write a CSV",
        description="Start an offline fake Exchange, fetch a study's blood glucose into a "
        "DataFrame, print a summary and write it as CSV with the guide's headers.",
    )
    _add_fake_world(demo)
    demo.add_argument("-o", "--output", default="blood_glucose.csv", help="CSV to write (default blood_glucose.csv)")
    demo.set_defaults(handler=_demo)
    _add_export(commands)
    _add_listings(commands)
    from jhe import _cli_audit, _cli_changes, _cli_quality

    _cli_changes.add_commands(commands, _connection_options, _query_options)
    _cli_quality.add_command(commands, _connection_options)
    _cli_audit.add_command(commands)

    fake = commands.add_parser(
        "fake-server",
        help="serve a fake Exchange until Ctrl-C, printing its URL and token",
        description="Serve a generated, offline JupyterHealth Exchange on 127.0.0.1 until Ctrl-C, "
        "so notebooks can be tried without a real server.",
    )
    _add_fake_world(fake)
    fake.add_argument("--generation", choices=["current", "legacy", "guide"], default="current", help="API generation")
    fake.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    fake.set_defaults(handler=_fake_server)
    return parser


# The library's messages name its Python arguments; from the command line, name the flags.
_FLAG_SPELLINGS: list[tuple[str, Any]] = [
    (r"pass url=\.\.\. and token=\.\.\.", "pass --url and --token"),
    (r"pass url=\.\.\.", "pass --url"),
    (r"pass allow_insecure=True", "pass --allow-insecure"),
    (r'export_parquet\(partition_by=\["code"\]\)', "--format parquet --partition-by code"),
    (r"export_study\(\)", "jhe export-study"),
    (r'\b(layout|api)="(\w+)"', r"--\1 \2"),
    (r"\bpartition_by=\[?\'?\"?(\w+)\"?\'?\]?", r"--partition-by \1"),
    (r'\b(since|until)="', r'--\1 "'),
    (r'\bupdated_since(=")?', lambda m: "--updated-since" + (' "' if m.group(1) else "")),
    (r"\bstudy_id\b", "--study"),
    (r"\bpatient_identifier\b", "--identifier"),
    (r"(?<!--partition-by )\bpatient_id\b", "--patient"),
    (r"\borganization_id\b", "--organization"),
    (r"\bstrict=True\b", "--strict"),
    (r"\bsource= ", "--source "),
    (r"^source must be", "--source must be"),
]


def as_flags(message: str) -> str:
    """`message` with the Python spellings of settings replaced by the CLI's flags."""
    for pattern, flag in _FLAG_SPELLINGS:
        message = re.sub(pattern, flag, message)
    return message


_OPTIONAL = {"pandas": "pandas", "pyarrow": "pyarrow", "polars": "polars"}


def _failure(exc: BaseException) -> tuple[int, str]:
    """The exit status and one-line message for an exception that ended a command."""
    from jhe import ConfigurationError, DecodeError, JHEError

    if isinstance(exc, UsageError):
        return 2, str(exc)
    if isinstance(exc, ImportError):
        name = (exc.name or "").split(".")[0]
        if name in _OPTIONAL:
            return 2, f"this needs {name}; install it with: pip install 'jhe[{_OPTIONAL[name]}]'"
        return 2, str(exc)
    if isinstance(exc, (ConfigurationError, ValueError, TypeError)):
        return 2, as_flags(str(exc))
    if isinstance(exc, DecodeError):
        return 1, as_flags(str(exc))
    if isinstance(exc, JHEError):
        # The server's own words, quoted as they are: its field names are not our flags.
        return 1, str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        local = isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError))
        return (2 if local else 1), f"{exc.strerror or exc}{where}"
    raise exc


def _report_warnings(command: str, caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:
        print(f"jhe {command}: warning: {as_flags(str(warning.message))}", file=sys.stderr)


def _stdout_closed() -> int:
    """The reader went away (`| head`): stop quietly, as other tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail too
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # jhe's log lines (a retry and why) are stderr lines like the others
    logging.basicConfig(format=f"jhe {args.command}: %(message)s", level=logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return int(args.handler(args))
        except BrokenPipeError:
            return _stdout_closed()
        except KeyboardInterrupt:
            print("jhe: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            status, message = _failure(exc)
            print(f"jhe {args.command}: {message}", file=sys.stderr)
            return status
        finally:
            _report_warnings(args.command, caught)


if __name__ == "__main__":
    sys.exit(main())
