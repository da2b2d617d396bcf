"""Exports written from Arrow with pyarrow (no pandas round trip). Every file of one export
(the data, its errors sidecar, a study's files) is written under one temporary directory
beside the target and moved into place only when all are complete, so a failed or
interrupted export changes nothing."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from jhe._encryption import Encryption
    from jhe._result import Observations

GUIDE_GLUCOSE_CODE = "omh:blood-glucose:4.0"
# The guide's "Export to CSV" headers, and the columns that fill them.
DURATION_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

GUIDE_GLUCOSE_COLUMNS = {
    "Observation ID": "observation_id",
    "Patient Name": "patient_name",
    "Date/Time": "timestamp",
    "Glucose (mg/dL)": "glucose_mg_dl",
    "Meal Context": "meal_context",
    "Data Source": "source_name",
    "Created": "last_updated",
}


class Staging:
    """The files of one export, written under a temporary directory beside their destination
    (so on the same file system) and moved into place only once every one is complete.
    Until :meth:`commit`, nothing at the destination has changed; a failure discards all."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.root = destination / f".jhe-export-{uuid.uuid4().hex}.partial"
        self.root.mkdir()
        self._names: list[str] = []
        self._stale: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write the file (or directory) that becomes `destination/name`."""
        self._names.append(name)
        return self.root / name

    def remove_on_commit(self, name: str) -> None:
        """`destination/name` is stale once this export is in place (an old sidecar)."""
        self._stale.append(name)

    def commit(self) -> None:
        replaced = self.root / f".replaced-{uuid.uuid4().hex}"  # older directories, deleted with the stage
        replaced.mkdir()
        for name in self._names:
            target, written = self.destination / name, self.root / name
            if written.is_dir() and target.is_dir():
                os.replace(target, replaced / name)  # a directory cannot replace a directory
            os.replace(written, target)
        for name in self._stale:
            (self.destination / name).unlink(missing_ok=True)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def staged(destination: Path) -> Iterator[Staging]:
    """A :class:`Staging` in `destination`, committed if the block completes."""
    stage = Staging(destination)
    try:
        yield stage
        stage.commit()
    except BaseException:
        stage.discard()
        raise


def check_target(path: Path, *, directory: bool) -> None:
    """Refuse, before anything is fetched, a destination that cannot be written."""
    from jhe._jhe import ConfigurationError

    if not path.parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: the directory {path.parent} does not exist")
    if path.is_dir() and not directory:
        raise ConfigurationError(f"cannot write {path}: it is a directory; name a file")
    if path.exists() and not path.is_dir() and directory:
        raise ConfigurationError(f"cannot write {path}: it is a file, and a partitioned export is a directory")


def sidecar_stem(path: Path, format: str) -> str:
    """`hr.csv` → `hr`, `all` → `all`: the name its errors sidecar starts with."""
    return path.stem if path.suffix.lower() == f".{format}" else path.name


def sidecar_name(stem: str, format: str) -> str:
    """Where the damaged records of `stem` go (no code's file name ends in `.errors`)."""
    return f"{stem}.errors.{format}"


@dataclass(frozen=True)
class Writing:
    """How an export writes its files (the sidecars too): CSV text neutralized against
    formulas (``export_csv``'s ``neutralize_formulas``), Parquet encrypted (``encryption``)."""

    neutralize_formulas: bool = True
    encryption: Encryption | None = None

    def check(self, format: str, partition_by: Sequence[str] | None = None) -> None:
        """Refuse, before anything is fetched, what these settings cannot write."""
        from jhe._jhe import ConfigurationError

        if self.encryption is not None and format != "parquet":
            raise ConfigurationError("encryption is for Parquet files (Parquet modular encryption): CSV cannot be encrypted")
        if self.encryption is not None and partition_by:
            raise ConfigurationError("encryption with partition_by is not supported: export one file, or export_study()")


PLAIN = Writing()


def write_table(table: pa.Table, path: Path, format: str, writing: Writing = PLAIN) -> None:
    if format == "csv":
        import pyarrow.csv

        pyarrow.csv.write_csv(csv_ready(table, neutralize_formulas=writing.neutralize_formulas), path)
    else:
        import pyarrow.parquet as pq

        properties = writing.encryption.file_encryption_properties() if writing.encryption is not None else None
        pq.write_table(table, path, encryption_properties=properties)


def stage_errors(stage: Staging, errors: list[dict[str, Any]], stem: str, format: str, writing: Writing = PLAIN) -> str | None:
    """The damaged records as a sidecar of the export; an old one goes when there are none."""
    import pyarrow as pa

    name = sidecar_name(stem, format)
    if not errors:
        stage.remove_on_commit(name)
        return None
    # Ids are numbers, or pseudonyms once de-identified.
    pseudonymized = any(isinstance(error["observation_id"], str) for error in errors)
    id_type = pa.string() if pseudonymized else pa.int64()
    schema = pa.schema([("observation_id", id_type), ("code", pa.string()), ("reason", pa.string()), ("raw", pa.string())])
    write_table(pa.Table.from_pylist(errors, schema=schema), stage.path(name), format, writing)
    return name


def warn_of_errors(observations: Observations, errors: int, where: str) -> None:
    """One :class:`jhe.DecodeWarning` for an export's damaged records, naming the sidecar."""
    from jhe._convert import DecodeWarning, _caller_stacklevel

    if not errors:
        return
    first = observations.errors[0]
    warnings.warn(
        f"{errors} of {observations.source['observations']} observations could not be fully decoded "
        f"(first: observation {first['observation_id']}: {first['reason']}); they are exported as they are, "
        f"with the problems listed in {where}",
        DecodeWarning,
        stacklevel=_caller_stacklevel(),
    )


def export_table(observations: Observations, table: pa.Table, path: Path, format: str, writing: Writing = PLAIN) -> Path:
    """One file of `table`, and beside it the sidecar of `observations`' damaged records."""
    check_target(path, directory=False)
    with staged(path.parent) as stage:
        write_table(table, stage.path(path.name), format, writing)
        sidecar = stage_errors(stage, observations.errors, sidecar_stem(path, format), format, writing)
    if sidecar:
        warn_of_errors(observations, len(observations.errors), str(path.parent / sidecar))
    return path


def single_table(observations: Observations) -> pa.Table:
    if not observations.is_single_table:
        raise ValueError(
            f"several codes in the wide layout are one table each ({', '.join(observations.codes)}): "
            'use layout="long", one code, export_parquet(partition_by=["code"]) or export_study()'
        )
    table: pa.Table = observations.to_arrow()
    return table


# OWASP, "CSV Injection": text a spreadsheet would run as a formula starts with one of these.
FORMULA_START = r"^([=+\-@\t\r])"


def csv_ready(table: pa.Table, *, neutralize_formulas: bool = True) -> pa.Table:
    """Columns CSV can hold: categories as text, the UTC offset in seconds; and, unless
    told not to, text cells a spreadsheet would run as a formula prefixed with a single
    quote (OWASP's advice; pyarrow quotes every text field). Numbers stay numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, names = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(field.type):
            column = column.cast(pa.string())
        if neutralize_formulas and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.replace_substring_regex(column, pattern=FORMULA_START, replacement="'\\1")
        elif pa.types.is_duration(field.type):
            # Seconds: whole for a column in seconds (utc_offset), else with their fraction
            # (Safe Harbor's times since the first observation).
            seconds = column.cast(pa.int64())
            if field.type.unit != "s":
                seconds = pc.divide(seconds.cast(pa.float64()), float(DURATION_UNITS_PER_SECOND[field.type.unit]))
            column, field = seconds, field.with_name(f"{field.name}_s")
        columns.append(column)
        names.append(field.name)
    return pa.Table.from_arrays(columns, names=names)


def guide_glucose_table(observations: Observations, patients: pd.DataFrame | None) -> pa.Table:
    """The guide's blood glucose CSV: its headers, patient names from the patient list (or,
    de-identified, the pseudonyms, and no list)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = single_table(observations)
    if "glucose_mg_dl" not in table.column_names:
        raise ValueError('preset="guide" is the blood glucose export: fetch omh:blood-glucose:4.0')
    headers = dict(GUIDE_GLUCOSE_COLUMNS)
    if observations.deidentified is not None:
        # No names: the pseudonym stands in for them.
        headers = {("Patient" if header == "Patient Name" else header): source for header, source in headers.items()}
        patient = table["pseudonym"].cast(pa.string())
    else:
        assert patients is not None, "names come from the patient list"
        ids = pa.array(patients["id"].tolist(), type=pa.int64()) if len(patients) else pa.array([], pa.int64())
        names = pa.array((patients["nameGiven"] + " " + patients["nameFamily"]).tolist() if len(patients) else [], pa.string())
        patient = pc.take(names, pc.index_in(table["patient_id"], value_set=ids))
    iso = "%Y-%m-%dT%H:%M:%SZ"

    def seconds(column: Any) -> Any:
        # pyarrow's %S prints the fraction of a microsecond timestamp: whole seconds, as the guide
        return pc.strftime(column.cast(pa.timestamp("s", tz="UTC"), safe=False), format=iso)

    columns = {
        "observation_id": table["observation_id"],
        "patient_name": patient,
        "timestamp": seconds(table["timestamp"]),
        "glucose_mg_dl": table["glucose_mg_dl"],
        "meal_context": pc.fill_null(table["meal_context"].cast(pa.string()), "N/A"),
        "source_name": table["source_name"].cast(pa.string()),
        "last_updated": seconds(table["last_updated"]),
    }
    return pa.Table.from_arrays([columns[source] for source in headers.values()], names=list(headers))


def write_parquet(observations: Observations, path: Path, partition_by: Sequence[str] | None, writing: Writing = PLAIN) -> Path:
    import pyarrow.parquet as pq

    if not partition_by:
        return export_table(observations, single_table(observations), path, "parquet", writing)
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
        check_partitions(table, partition_by)
    check_target(path, directory=True)
    with staged(path.parent) as stage:
        directory = stage.path(path.name)
        for table in tables:
            pq.write_to_dataset(table, root_path=directory, partition_cols=partition_by, basename_template="part-{i}.parquet")
        sidecar = stage_errors(stage, observations.errors, path.name, "parquet")
    if sidecar:
        warn_of_errors(observations, len(observations.errors), str(path.parent / sidecar))
    return path


def check_partitions(table: pa.Table, partition_by: list[str]) -> None:
    """Each partition is a directory `column=value` (URL-escaped): refuse what no file
    system can name, before anything is written."""
    import pyarrow.compute as pc

    missing = [column for column in partition_by if column not in table.column_names]
    if missing:
        raise ValueError(f"cannot partition by {missing}: not a column")
    for column in partition_by:
        longest = pc.max(pc.utf8_length(table[column].cast("string"))).as_py() or 0
        if 3 * longest + len(column) + 1 > 255:  # each character escaped as %XX at worst
            raise ValueError(
                f"a {column} of {longest} characters is too long for a partition directory name; "
                "export_study() names one file per code safely"
            )


# A code whose file name is the code itself, `:` written as `_`: lower case, no `_` (so the
# mapping is one-to-one on them, also on file systems that ignore case), bounded, not
# hidden, not a sidecar's name, and not a name Windows reserves.
_PLAIN_CODE = re.compile(r"[a-z0-9][a-z0-9.-]{0,99}(:[a-z0-9][a-z0-9.-]{0,99}){0,3}")
_RESERVED = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?")
_MAX_STEM = 100


def file_stem(code: str) -> str:
    """`omh:blood-glucose:4.0` → `omh_blood-glucose_4.0`. Any other code (`_`, `/`, upper
    case, very long, ...) is written readably and made unique by a hash of it:
    `omh/blood-glucose/4.0` → `omh_blood-glucose_4.0~a11096e7ebbc`. No two codes share a name
    (plain names have no `~`), and no name is longer than about 115 characters."""
    stem = code.replace(":", "_")
    if _PLAIN_CODE.fullmatch(code) and len(stem) <= _MAX_STEM and not stem.endswith(".errors") and not _RESERVED.fullmatch(stem):
        return stem
    readable = re.sub(r"[^a-z0-9.-]+", "_", code.lower()).strip("._-")[:_MAX_STEM] or "code"
    return f"{readable}~{hashlib.sha256(code.encode()).hexdigest()[:12]}"


def file_name(code: str, extension: str) -> str:
    """`omh:blood-glucose:4.0` → `omh_blood-glucose_4.0.parquet` (see :func:`file_stem`)."""
    return f"{file_stem(code)}.{extension}"


def write_per_code(observations: Observations, directory: Path, format: str, writing: Writing = PLAIN) -> dict[str, Path]:
    """One file per code in `directory`, each code's damaged records beside its file, all
    moved into place together once every file is written."""
    if format not in ("parquet", "csv"):
        raise ValueError(f'format must be "parquet" or "csv", got {format!r}')
    arrow: Any = observations.to_arrow()
    tables: dict[str, pa.Table] = arrow if isinstance(arrow, dict) else {observations.codes[0]: arrow}
    stems = {code: file_stem(code) for code in {*tables, *(str(e["code"]) for e in observations.errors)}}
    if len({stem.casefold() for stem in stems.values()}) < len(stems):  # a hash collision: never silently
        raise ValueError(f"two codes would share a file name: {sorted(stems)}")
    check_target(directory, directory=True)
    directory.mkdir(exist_ok=True)
    sidecars = []
    with staged(directory) as stage:
        for code, table in tables.items():
            write_table(table, stage.path(f"{stems[code]}.{format}"), format, writing)
        for code, stem in stems.items():
            errors = [e for e in observations.errors if str(e["code"]) == code]
            sidecars += [name for name in [stage_errors(stage, errors, stem, format, writing)] if name]
    if sidecars:
        where = f"{directory / sidecars[0]}" + (f" and {len(sidecars) - 1} more *.errors.{format}" if len(sidecars) > 1 else "")
        warn_of_errors(observations, len(observations.errors), where)
    return {code: directory / f"{stems[code]}.{format}" for code in tables}
