"""``jhe.dask.export_study``: a study written by the workers as one Parquet dataset,
partitioned by code (``code=<code, URL-escaped>/part-00007.parquet``, as pyarrow names Hive
partitions), each task writing its own files. A file is written beside its final name
and renamed into place, so a reader never sees half a file, and a task run again (its
worker lost) replaces its files rather than adding to them. Records that could not be
decoded go to ``_errors/part-00007.parquet`` (readers skip ``_`` folders)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jhe import _convert
from jhe.dask import _plan, _read

if TYPE_CHECKING:
    import pandas as pd

ERRORS = "_errors"
TEMPORARY = ".jhe-writing-"


def code_directory(code: str) -> str:
    """The Hive folder of a code: ``code=omh%3Aheart-rate%3A2.0``."""
    return f"code={quote(code, safe='')}"


def write_partition(partition: _plan.Partition, index: int, read: _read.Read, target: str) -> pd.DataFrame:
    """A task: fetch one partition and write each code's rows (and the errors) as one file
    each; returns what it wrote (``code``, ``path``, ``rows``; ``code`` None for errors)."""
    import pandas as pd
    import pyarrow as pa

    results, errors = read.fetch(partition)
    name = f"part-{index:05d}.parquet"
    written = []
    for code, table in by_code(results).items():
        if table.num_rows:
            # The folder holds the code: readers restore it as a column from the name.
            path = Path(target) / code_directory(code) / name
            write_atomically(table.drop_columns(["code"]), path)
            written.append((code, str(path), table.num_rows))
    if errors:
        path = Path(target) / ERRORS / name
        write_atomically(pa.Table.from_pylist(errors), path)
        written.append((None, str(path), len(errors)))
    return pd.DataFrame(written, columns=["code", "path", "rows"]).astype({"code": object, "path": object, "rows": "int64"})


def by_code(results: list[Any]) -> dict[str, Any]:
    """Each code's rows across the partition's results, as one pyarrow Table per code (the
    long layout is split by its ``code`` column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables: dict[str, list[Any]] = {}
    for result in results:
        arrow = result.to_arrow()
        if isinstance(arrow, dict):
            for code, table in arrow.items():
                tables.setdefault(code, []).append(table)
            continue
        for code in pc.unique(arrow["code"].cast(pa.string())).to_pylist():
            tables.setdefault(code, []).append(arrow.filter(pc.equal(arrow["code"].cast(pa.string()), code)))
    return {code: pa.concat_tables(parts).unify_dictionaries() for code, parts in tables.items()}


def write_atomically(table: Any, path: Path) -> None:
    """`table` at `path`, written under a temporary name in the same folder and renamed."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{TEMPORARY}{uuid.uuid4().hex}-{path.name}")
    try:
        pq.write_table(table, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def check_empty(target: Path) -> None:
    """A dataset is written into a new or empty folder: files of an earlier export would
    mix with this one's."""
    from jhe._jhe import ConfigurationError

    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigurationError(f"{target} exists and is not an empty folder: export a study into a new one")


def remove_partials(target: Path) -> None:
    """Files a killed task left half written (its rerun wrote the whole file)."""
    for partial in target.rglob(f"{TEMPORARY}*"):
        partial.unlink(missing_ok=True)


def export(read: _read.Read, target: Path) -> dict[str, Path]:
    """Run the export's tasks; ``{code: its folder}``, and a :class:`jhe.DecodeWarning`
    naming the errors folder when records could not be decoded."""
    import dask
    import dask.dataframe as dd

    check_empty(target)
    target.mkdir(parents=True, exist_ok=True)
    meta = {"code": object, "path": object, "rows": "int64"}
    with dask.config.set({"dataframe.convert-string": False}):
        listing = dd.from_map(
            write_partition, read.partitions, range(len(read.partitions)), read=read, target=str(target), meta=meta,
            label="jhe-export-study", enforce_metadata=False,
        ).compute()
    remove_partials(target)
    errors = listing[listing["code"].isna()]
    if len(errors):
        import warnings

        warnings.warn(
            f"{int(errors['rows'].sum())} records could not be fully decoded; they are listed with their problem in "
            f"{target / ERRORS}, and kept as rows where the table has a place for them",
            _convert.DecodeWarning,
            stacklevel=_convert._caller_stacklevel(),
        )
    codes = sorted(set(listing.loc[listing["code"].notna(), "code"]))
    return {code: target / code_directory(code) for code in codes}
