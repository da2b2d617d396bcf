"""The ``jhe`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

GLUCOSE = "omh:blood-glucose:4.0"

# The guide's "Export to CSV" headers, and the columns that fill them.
GUIDE_GLUCOSE_CSV = {
    "Observation ID": "observation_id",
    "Patient Name": "patient_name",
    "Date/Time": "timestamp",
    "Glucose (mg/dL)": "glucose_mg_dl",
    "Meal Context": "meal_context",
    "Data Source": "source_name",
    "Created": "last_updated",
}


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from jhe import Client
    from jhe.testing import FakeExchange

    with FakeExchange(patients=args.patients, days=args.days, seed=args.seed) as fx:
        study_id = fx.main_study_id
        print(f"Started a fake JupyterHealth Exchange at {fx.url} (study {study_id})")
        client = Client(fx.url, fx.token)
        df = client.fetch_dataframe(study_id=study_id, code=GLUCOSE)
        patients = client.list_patients(study_id=study_id)

    names = patients.set_index("id")
    full_names = (names["nameGiven"] + " " + names["nameFamily"]).rename("patient_name")
    df = df.join(full_names, on="patient_id")

    print()
    print(f"Blood glucose for study {study_id}")
    print(f"  rows:         {len(df):,}")
    print(f"  patients:     {df['patient_id'].nunique()}")
    if len(df):
        print(f"  date range:   {df['timestamp'].min():%Y-%m-%d %H:%M} to {df['timestamp'].max():%Y-%m-%d %H:%M} UTC")
        print(f"  mean glucose: {df['glucose_mg_dl'].mean():.1f} mg/dL")

    out = df[list(GUIDE_GLUCOSE_CSV.values())].copy()
    out["meal_context"] = out["meal_context"].astype("object").fillna("N/A")
    out["timestamp"] = out["timestamp"].map(pd.Timestamp.isoformat)
    out["last_updated"] = out["last_updated"].map(pd.Timestamp.isoformat)
    out.columns = list(GUIDE_GLUCOSE_CSV)
    path = Path(args.output)
    out.to_csv(path, index=False)
    print(f"\nWrote {len(out):,} rows to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jhe",
        description="Fetch and export data from a JupyterHealth Exchange.",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from jhe import JHEError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except JHEError as exc:
        print(f"jhe: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jhe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
