"""Arrow (from Rust, through the PyCapsule interface) to pandas. No per-row Python here.

pyarrow is optional: a polars-only install reads the same tables through polars."""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from jhe._jhe import ArrowStreamExportable, NativeFetchResult

ERRORS_ATTR = "jhe_errors"
SOURCE_ATTR = "jhe_source"


class DecodeWarning(UserWarning):
    """Some observations could not be fully decoded; they are listed in ``df.attrs["jhe_errors"]``."""


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"this needs {module}; install it with: pip install 'jhe[{extra}]'", name=module) from exc


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def to_pyarrow(table: ArrowStreamExportable) -> Any:
    return _read_stream(_require("pyarrow", "pyarrow"), table)


def _read_stream(pa: Any, table: ArrowStreamExportable) -> Any:
    """A pyarrow Table from an Arrow C stream. Not ``pa.table(...)``: that first asks whether
    its argument is a pandas DataFrame, which imports pandas, and in a fresh kernel that
    import takes longer than the fetch."""
    return pa.RecordBatchReader.from_stream(table).read_all()


def _tabular_library() -> tuple[Any, Any]:
    """(pyarrow, None) when pyarrow is installed, else (None, polars); the extras name both."""
    pa = _optional("pyarrow")
    if pa is not None:
        return pa, None
    pl = _optional("polars")
    if pl is not None:
        return None, pl
    raise ImportError("this needs pyarrow or polars; install one with: pip install 'jhe[pyarrow]' or 'jhe[polars]'")


def rows(table: ArrowStreamExportable) -> list[dict[str, Any]]:
    """A small table (the decode errors) as one dict per row."""
    pa, pl = _tabular_library()
    if pa is not None:
        listed: list[dict[str, Any]] = _read_stream(pa, table).to_pylist()
        return listed
    return list(pl.DataFrame(table).to_dicts())


def patient_column(names: Iterable[str]) -> str:
    """``patient_id``, or ``pseudonym`` in a de-identified table."""
    return "pseudonym" if "pseudonym" in set(names) else "patient_id"


def _plain(pa: Any, column: Any) -> Any:
    """A dictionary column (the pseudonyms) as its values: not every kernel takes one."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _min_max(pa: Any, pc: Any, column: Any) -> dict[str, Any]:
    """The first and last of a time column: timestamps, or (Safe Harbor) durations, which
    pyarrow's min_max does not take."""
    if not pa.types.is_duration(column.type):
        return dict(pc.min_max(column).as_py())
    from datetime import timedelta

    bounds = pc.min_max(column.cast(pa.int64())).as_py()
    return {side: None if value is None else timedelta(microseconds=value) for side, value in bounds.items()}


# An observation is one of the Exchange's (its id) or an imported record (its FHIR id).
_RECORD_IDS = ("observation_id", "resource_id")


def _sum_known(counts: Any) -> int:
    return sum(n or 0 for n in counts)


def _distinct_records(pl: Any, present: set[str]) -> Any:
    """The polars expression counting distinct records, or None when ``columns=`` left the id out."""
    if "observation_id" not in present:
        return None
    counts = [pl.col(name).drop_nulls().n_unique() for name in _RECORD_IDS if name in present]
    return pl.sum_horizontal(counts)


def summarize(table: ArrowStreamExportable, code: str | None = None) -> list[dict[str, Any]]:
    """Per code in `table`, in order of first appearance: ``observations`` and ``patients``
    (distinct ids, or pseudonyms once de-identified), and the ``first`` and ``last`` effective start. A column ``columns=``
    left out gives None (no ``code`` column: one row, of `code`)."""
    pa, pl = _tabular_library()
    if pa is None:
        frame = pl.DataFrame(table)
        present = set(frame.columns)
        wanted = {
            "observations": _distinct_records(pl, present),
            "patients": pl.col(patient_column(present)).drop_nulls().n_unique() if patient_column(present) in present else None,
            "first": pl.col("effective_start").min() if "effective_start" in present else None,
            "last": pl.col("effective_start").max() if "effective_start" in present else None,
        }
        aggregations = {name: expression for name, expression in wanted.items() if expression is not None}
        if "code" in present:
            rows = frame.group_by(pl.col("code").cast(pl.String), maintain_order=True).agg(**aggregations).to_dicts()
        else:
            rows = [{"code": code, **(frame.select(**aggregations).to_dicts()[0] if aggregations else {})}]
        return [{name: row.get(name) for name in ["code", *wanted]} for row in rows]
    import pyarrow.compute as pc

    arrow = _read_stream(pa, table)
    present = set(arrow.column_names)
    if "code" in present:
        codes = arrow["code"].cast("string")
        parts = [(each, arrow.filter(pc.equal(codes, each))) for each in pc.unique(codes).to_pylist()]
    else:
        parts = [(code, arrow)]
    summary = []

    def distinct(part: Any, name: str) -> int | None:
        return pc.count_distinct(_plain(pa, part[name])).as_py() if name in present else None

    for each, part in parts:
        start = _min_max(pa, pc, part["effective_start"]) if "effective_start" in present else {"min": None, "max": None}
        summary.append(
            {
                "code": each,
                "observations": _sum_known(distinct(part, name) for name in _RECORD_IDS if name in present)
                if "observation_id" in present
                else None,
                "patients": distinct(part, patient_column(present)),
                "first": start["min"],
                "last": start["max"],
            }
        )
    return summary


def arrow_to_pandas(table: Any) -> pd.DataFrame:
    """pyarrow → pandas keeping tz-aware timestamps, categoricals, and nullable dtypes: an
    integer or boolean column with missing values becomes ``Int64``/``boolean`` instead of
    float64/object (columns without missing values keep ``int64``/``bool``)."""
    return _columns_to_pandas(table.schema, list(table.columns), release=False)


def columns_to_pandas(schema: Any, arrays: list[Any]) -> pd.DataFrame:
    """:func:`arrow_to_pandas` of a table given as its schema and one Arrow array per column
    (PyCapsule objects, as ``take_tables`` gives them), freeing each column's Arrow memory
    once it is converted. ``arrays`` is emptied: nothing else may hold those columns, or
    their memory stays."""
    pa = _require("pyarrow", "pandas")
    imported = pa.Schema._import_from_c_capsule(schema.__arrow_c_schema__())
    columns = []
    while arrays:
        columns.append(pa.array(arrays.pop(0)))
    return _columns_to_pandas(imported, columns, release=True)


def _columns_to_pandas(schema: Any, columns: list[Any], *, release: bool) -> pd.DataFrame:
    """The frame of `columns` (emptied), described by `schema`. With `release`, pyarrow frees
    each column's memory as it is converted (``self_destruct``), so the Arrow table and the
    frame are not both held whole at the peak."""
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    # The masked columns are converted on their own, straight to their nullable dtype:
    # converted with the rest they would first become float64/object, and replaced
    # afterwards that copy stays inside its 2-D block (pandas splits blocks as views) as
    # long as the frame lives.
    masked = {
        position: (field.name, column)
        for position, (field, column) in enumerate(zip(schema, columns, strict=True))
        if field.type in nullable and column.null_count
    }
    plain_schema = pa.schema([field for i, field in enumerate(schema) if i not in masked], metadata=schema.metadata)
    plain = pa.Table.from_arrays([column for i, column in enumerate(columns) if i not in masked], schema=plain_schema)
    columns.clear()
    # No split_blocks: its zero-copy columns are read-only views of the Arrow buffers, on
    # which `df.loc[...] = ...` raises.
    frame = plain.to_pandas(self_destruct=release)
    del plain
    for position in sorted(masked):
        name, column = masked.pop(position)
        frame.insert(position, name, column.to_pandas(types_mapper=nullable.get).array)
        del column
    return frame


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside the jhe package, so a warning points at
    the caller's own line (a notebook cell), whichever jhe function it went through."""
    import inspect
    import os

    package = os.path.dirname(__file__)
    level = 1
    frame = inspect.currentframe()
    def inside(filename: str) -> bool:
        folder = os.path.dirname(filename)
        return folder == package or folder.startswith(package + os.sep)

    while frame is not None and inside(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level - 1


def source_of(result: NativeFetchResult) -> dict[str, Any]:
    """Where a result came from and what it took."""
    return {
        "api": result.api,
        "generation": result.generation,
        "observations": result.observations,
        "server_total": result.server_total,
        "requests": result.requests,
        "duplicate_uuids": result.duplicate_uuids,
    }


def _with_attrs(frame: pd.DataFrame, errors: list[dict[str, Any]], source: dict[str, Any]) -> pd.DataFrame:
    # Lists and dicts, not DataFrames: pandas compares attrs when concatenating, and
    # comparing DataFrames there would raise.
    frame.attrs[ERRORS_ATTR] = errors
    frame.attrs[SOURCE_ATTR] = source
    return frame


def _record(error: dict[str, Any]) -> str:
    """How a message names the record of an error."""
    if error["observation_id"] is None:
        return "a record without an observation id"
    return f"observation {error['observation_id']}"


def raise_for_errors(errors: list[dict[str, Any]]) -> None:
    """With ``strict=True``: the first record that could not be decoded, as :class:`jhe.DecodeError`."""
    from jhe._jhe import DecodeError

    if errors:
        first = errors[0]
        raise DecodeError(
            f"{_record(first)} ({first['code']}) could not be decoded: "
            f"{first['reason']} ({len(errors)} such records in all)"
        )


def reported_errors(result: NativeFetchResult, *, strict: bool = False) -> list[dict[str, Any]]:
    """The records that could not be fully decoded, announced with one :class:`DecodeWarning`,
    or raised as :class:`jhe.DecodeError` with ``strict=True``."""
    errors = rows(result.errors)
    if strict:
        raise_for_errors(errors)
    if errors:
        first = errors[0]
        warnings.warn(
            f"{len(errors)} records could not be fully decoded ({result.observations} observations in the result; "
            f"first: {_record(first)}: {first['reason']}); "
            f'each is listed with its problem in df.attrs["{ERRORS_ATTR}"], and kept as a row where the table has a place for it',
            DecodeWarning,
            stacklevel=_caller_stacklevel(),
        )
    return errors


def to_pandas(
    result: NativeFetchResult, *, strict: bool = False, take: bool = False, source: dict[str, Any] | None = None
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The fetched tables as pandas: one DataFrame (long layout, or wide for one code) or a
    dict of DataFrames keyed by code (wide layout, several codes).

    Timestamps stay timezone-aware (UTC), ``utc_offset`` is a timedelta, enumerations become
    categoricals. Records that could not be decoded are listed in ``df.attrs["jhe_errors"]``
    with one :class:`DecodeWarning`, or raise :class:`jhe.DecodeError` with ``strict=True``.
    With ``take``, the tables are moved out of `result` and freed column by column as they
    are converted: `result` has no tables afterwards.
    """
    _require("pandas", "pandas")
    errors = reported_errors(result, strict=strict)
    source = dict(source) if source is not None else source_of(result)
    if take:
        from jhe._jhe import purging_at_once

        with purging_at_once():
            frames = {code: columns_to_pandas(schema, arrays) for code, schema, arrays in result.take_tables()}
    else:
        frames = {code: arrow_to_pandas(to_pyarrow(table)) for code, table in result.tables}
    if result.layout == "long":
        return _with_attrs(frames[None], errors, source)
    if result.single_code is not None:
        # The one frame: every error is its own, whatever code it names (or none).
        return _with_attrs(frames[result.single_code], errors, source)
    # Each frame its own code's errors, and every frame those of no frame.
    homeless = [e for e in errors if e["code"] not in frames]
    return {
        str(code): _with_attrs(frame, [e for e in errors if e["code"] == code] + homeless, source)
        for code, frame in frames.items()
    }
