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


def to_pandas(result: NativeFetchResult) -> pd.DataFrame:
    """The observations as a DataFrame; undecodable records listed in ``df.attrs["jhe_errors"]``.

    Timestamps stay timezone-aware (UTC) and enumerations become categoricals.
    """
    _require("pandas", "pandas")
    frame = to_pyarrow(result.observations).to_pandas()
    errors = to_pyarrow(result.errors).to_pylist()
    # A list of dicts, not a DataFrame: pandas compares attrs when concatenating, and
    # comparing DataFrames there would raise.
    frame.attrs[ERRORS_ATTR] = errors
    frame.attrs[SOURCE_ATTR] = {
        "api": result.api,
        "generation": result.generation,
        "total": result.total,
        "requests": result.requests,
    }
    if errors:
        first = errors[0]
        warnings.warn(
            f"{len(errors)} of {len(frame)} observations could not be fully decoded "
            f"(first: observation {first['observation_id']}: {first['reason']}); "
            f'they are kept, with the problems listed in df.attrs["{ERRORS_ATTR}"]',
            DecodeWarning,
            stacklevel=3,
        )
    return frame
