"""Exports written from Arrow with pyarrow (no pandas round trip), each atomically: written
under a temporary name beside the target and renamed when complete, so an interrupted
export leaves no half file."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from jhe._result import Observations

GUIDE_GLUCOSE_CODE = "omh:blood-glucose:4.0"
# The guide's "Export to CSV" headers, and the columns that fill them.
GUIDE_GLUCOSE_COLUMNS = {
    "Observation ID": "observation_id",
    "Patient Name": "patient_name",
    "Date/Time": "timestamp",
    "Glucose (mg/dL)": "glucose_mg_dl",
    "Meal Context": "meal_context",
    "Data Source": "source_name",
    "Created": "last_updated",
}


def _temporary_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")


def atomic_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Write a file through `write(temporary_path)`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_directory(path: Path, write: Callable[[Path], None]) -> Path:
    """Write a directory through `write(temporary_dir)`, then swap it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
    temporary.mkdir()
    try:
        write(temporary)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if path.exists():
        previous = _temporary_beside(path)
        os.replace(path, previous)
        os.replace(temporary, path)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.replace(temporary, path)
    return path


def single_table(observations: Observations) -> pa.Table:
    if not observations.is_single_table:
        raise ValueError(
            f"several codes in the wide layout are one table each ({', '.join(observations.codes)}): "
            'use layout="long", one code, export_parquet(partition_by=["code"]) or export_study()'
        )
    table: pa.Table = observations.to_arrow()
    return table


def csv_ready(table: pa.Table) -> pa.Table:
    """Columns CSV can hold: categories as text, the UTC offset in seconds."""
    import pyarrow as pa

    columns, names = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(field.type):
            column = column.cast(pa.string())
        elif pa.types.is_duration(field.type):
            column = column.cast(pa.int64())
            field = field.with_name(f"{field.name}_s")
        columns.append(column)
        names.append(field.name)
    return pa.table(columns, names=names)


def write_csv(table: pa.Table, path: Path) -> Path:
    import pyarrow.csv

    return atomic_file(path, lambda temporary: pyarrow.csv.write_csv(csv_ready(table), temporary))


def guide_glucose_table(observations: Observations, patients: pd.DataFrame) -> pa.Table:
    """The guide's blood glucose CSV: its headers, patient names from the patient list."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = single_table(observations)
    if "glucose_mg_dl" not in table.column_names:
        raise ValueError('preset="guide" is the blood glucose export: fetch omh:blood-glucose:4.0')
    ids = pa.array(patients["id"].tolist(), type=pa.int64()) if len(patients) else pa.array([], pa.int64())
    names = pa.array((patients["nameGiven"] + " " + patients["nameFamily"]).tolist() if len(patients) else [], pa.string())
    positions = pc.index_in(table["patient_id"], value_set=ids)
    iso = "%Y-%m-%dT%H:%M:%SZ"

    def seconds(column: Any) -> Any:
        # pyarrow's %S prints the fraction of a microsecond timestamp: whole seconds, as the guide
        return pc.strftime(column.cast(pa.timestamp("s", tz="UTC"), safe=False), format=iso)

    columns = {
        "observation_id": table["observation_id"],
        "patient_name": pc.take(names, positions),
        "timestamp": seconds(table["timestamp"]),
        "glucose_mg_dl": table["glucose_mg_dl"],
        "meal_context": pc.fill_null(table["meal_context"].cast(pa.string()), "N/A"),
        "source_name": table["source_name"].cast(pa.string()),
        "last_updated": seconds(table["last_updated"]),
    }
    return pa.table([columns[source] for source in GUIDE_GLUCOSE_COLUMNS.values()], names=list(GUIDE_GLUCOSE_COLUMNS))


def write_parquet(observations: Observations, path: Path, partition_by: Sequence[str] | None) -> Path:
    import pyarrow.parquet as pq

    if not partition_by:
        table = single_table(observations)
        return atomic_file(path, lambda temporary: pq.write_table(table, temporary))
    partition_by = list(partition_by)
    if observations.is_single_table:
        tables: list[pa.Table] = [single_table(observations)]
    elif partition_by == ["code"]:
        arrow: Any = observations.to_arrow()
        tables = list(arrow.values())
    else:
        raise ValueError(
            f"partition_by={partition_by} with several codes in the wide layout mixes schemas: "
            'use layout="long", or partition_by=["code"]'
        )
    for table in tables:
        missing = [column for column in partition_by if column not in table.column_names]
        if missing:
            raise ValueError(f"cannot partition by {missing}: not a column")

    def write(directory: Path) -> None:
        for table in tables:
            pq.write_to_dataset(
                table, root_path=directory, partition_cols=partition_by, basename_template="part-{i}.parquet"
            )

    return atomic_directory(path, write)


def file_name(code: str, extension: str) -> str:
    """`omh:blood-glucose:4.0` → `omh_blood-glucose_4.0.parquet` (no `:` in file names)."""
    return f"{code.replace(':', '_').replace('/', '_')}.{extension}"


def write_per_code(observations: Observations, directory: Path, format: str) -> dict[str, Path]:
    import pyarrow.parquet as pq

    if format not in ("parquet", "csv"):
        raise ValueError(f'format must be "parquet" or "csv", got {format!r}')
    arrow: Any = observations.to_arrow()
    tables: dict[str, pa.Table] = arrow if isinstance(arrow, dict) else {observations.codes[0]: arrow}
    written = {}
    for code, table in tables.items():
        target = directory / file_name(code, format)
        if format == "csv":
            written[code] = write_csv(table, target)
        else:
            written[code] = atomic_file(target, lambda temporary, table=table: pq.write_table(table, temporary))
    return written

