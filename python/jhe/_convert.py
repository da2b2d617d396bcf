"""Arrow (from Rust, through the PyCapsule interface) to pandas. No per-row Python here."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        raise ImportError(
            f"this needs {module}; install it with: pip install 'jhe[{extra}]'"
        ) from exc


def to_pyarrow(table: ArrowStreamExportable) -> Any:
    pa = _require("pyarrow", "pyarrow")
    return pa.table(table)


def arrow_to_pandas(table: Any) -> pd.DataFrame:
    """pyarrow → pandas keeping tz-aware timestamps, categoricals, and nullable dtypes: an
    integer or boolean column with missing values becomes ``Int64``/``boolean`` instead of
    float64/object (columns without missing values keep ``int64``/``bool``)."""
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas()
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    for field, column in zip(table.schema, table.columns, strict=True):
        if field.type in nullable and column.null_count:
            frame[field.name] = column.to_pandas(types_mapper=nullable.get)
    return frame


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside the jhe package, so a warning points at
    the caller's own line (a notebook cell), whichever jhe function it went through."""
    import inspect
    import os

    package = os.path.dirname(__file__)
    level = 1
    frame = inspect.currentframe()
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == package:
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


def raise_for_errors(errors: list[dict[str, Any]]) -> None:
    """With ``strict=True``: the first record that could not be decoded, as :class:`jhe.DecodeError`."""
    from jhe._jhe import DecodeError

    if errors:
        first = errors[0]
        raise DecodeError(
            f"observation {first['observation_id']} ({first['code']}) could not be decoded: "
            f"{first['reason']} ({len(errors)} such records in all)"
        )


def reported_errors(result: NativeFetchResult, *, strict: bool = False) -> list[dict[str, Any]]:
    """The records that could not be fully decoded, announced with one :class:`DecodeWarning`,
    or raised as :class:`jhe.DecodeError` with ``strict=True``."""
    errors: list[dict[str, Any]] = to_pyarrow(result.errors).to_pylist()
    if strict:
        raise_for_errors(errors)
    if errors:
        first = errors[0]
        warnings.warn(
            f"{len(errors)} of {result.observations} observations could not be fully decoded "
            f"(first: observation {first['observation_id']}: {first['reason']}); "
            f'they are kept, with the problems listed in df.attrs["{ERRORS_ATTR}"]',
            DecodeWarning,
            stacklevel=_caller_stacklevel(),
        )
    return errors


def to_pandas(result: NativeFetchResult, *, strict: bool = False) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The fetched tables as pandas: one DataFrame (long layout, or wide for one code) or a
    dict of DataFrames keyed by code (wide layout, several codes).

    Timestamps stay timezone-aware (UTC), ``utc_offset`` is a timedelta, enumerations become
    categoricals. Records that could not be decoded are listed in ``df.attrs["jhe_errors"]``
    with one :class:`DecodeWarning`, or raise :class:`jhe.DecodeError` with ``strict=True``.
    """
    _require("pandas", "pandas")
    errors = reported_errors(result, strict=strict)
    source = source_of(result)
    frames = {code: arrow_to_pandas(to_pyarrow(table)) for code, table in result.tables}
    if result.layout == "long":
        return _with_attrs(frames[None], errors, source)
    by_code = {
        str(code): _with_attrs(frame, [e for e in errors if e["code"] == code], source)
        for code, frame in frames.items()
    }
    if result.single_code is not None:
        return by_code[result.single_code]
    return by_code
