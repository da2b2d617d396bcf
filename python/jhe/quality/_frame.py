"""What every check reads: any jhe frame (pandas, polars, pyarrow, a dict of them by code,
or a :class:`jhe.Observations`) as polars, in two shapes.

- ``observations``: one row per observation with the common columns (ids, code, times,
  offset, uuid), whatever the layout.
- ``readings``: one row per numeric measure of an observation (``measure``, ``value``,
  ``unit``), in the catalogue's canonical unit where it has one: the long layout's rows,
  or the wide layout's typed columns unpivoted by the catalogue.

Checks compute on these with polars expressions; results go back as the kind of frame
that came in (:func:`returned_as`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jhe import _convert

NUMERIC_KINDS = ("quantity", "amount", "number", "count")
OBSERVATION_COLUMNS = (
    "observation_id",
    "patient_id",
    "code",
    "effective_start",
    "effective_end",
    "utc_offset",
    "created",
    "uuid",
    "source_name",
    "modality",
)


def polars() -> Any:
    return _convert._require("polars", "quality")


@dataclass(frozen=True)
class Measure:
    code: str
    column: str  # the wide layout's column
    path: str  # the long layout's `measure`
    unit: str | None  # canonical


@cache
def catalogued_measures() -> tuple[Measure, ...]:
    """Every numeric measure of the catalogue, with its canonical unit."""
    from jhe import catalog

    return tuple(
        Measure(entry["code"], m["column"], m["path"], (m["units"] or [None])[0])
        for entry in catalog()
        for m in entry["measures"]
        if m["kind"] in NUMERIC_KINDS
    )


@dataclass
class Frame:
    """A jhe frame read once: its observations and readings, and the input's kind."""

    observations: Any
    readings: Any
    kind: str  # "pandas", "polars" or "arrow"


def read(data: Any) -> Frame:
    """Read `data` (see the module's docstring) into a :class:`Frame`."""
    from jhe._result import Observations

    if isinstance(data, Observations):
        data = data.to_polars()
    if isinstance(data, dict):
        frames = [read(frame) for frame in data.values()]
        if not frames:
            raise TypeError("an empty dict of frames has nothing to check")
        pl = polars()
        return Frame(
            pl.concat([f.observations for f in frames], how="diagonal_relaxed"),
            pl.concat([f.readings for f in frames], how="diagonal_relaxed"),
            frames[0].kind,
        )
    kind, df = _as_polars(data)
    missing = [c for c in ("observation_id", "patient_id", "code", "effective_start") if c not in df.columns]
    if missing:
        raise ValueError(f"not a jhe frame: it has no {', '.join(missing)} column (pass what fetch_dataframe returns)")
    pl = polars()
    # Categories, not text: the checks sort and group by code, and that is several times
    # faster on a dictionary's keys (pandas' category, Arrow's dictionary, polars' Categorical).
    df = df.with_columns(pl.col("code").cast(pl.String).cast(pl.Categorical) if df.schema["code"] != pl.Categorical else pl.col("code"))
    return Frame(_observations(df), _readings(df), kind)


def _as_polars(data: Any) -> tuple[str, Any]:
    pl = polars()
    if isinstance(data, pl.DataFrame):
        return "polars", data
    if isinstance(data, pl.LazyFrame):
        return "polars", data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return "pandas", pl.from_pandas(data)
    if hasattr(data, "__arrow_c_stream__"):
        return "arrow", pl.DataFrame(data)
    raise TypeError(f"expected a pandas or polars DataFrame, a pyarrow Table or jhe.Observations, got {type(data).__name__}")


def _observations(df: Any) -> Any:
    pl = polars()
    present = [c for c in OBSERVATION_COLUMNS if c in df.columns]
    # The long layout's rows of one observation are next to each other: keeping each run's
    # first row is a pass, not a hash. Anything else (rows regrouped by the user) is made unique.
    starts = (pl.col("observation_id") != pl.col("observation_id").shift(1)).fill_null(True)
    out = df.select(present).filter(starts)
    if out.height != out.get_column("observation_id").n_unique():
        out = out.unique("observation_id", keep="first", maintain_order=True)
    # Every check may name these; a frame without them (an older export) has them empty.
    for name, dtype in (("utc_offset", pl.Duration("us")), ("created", pl.Datetime("us", "UTC")), ("uuid", pl.String)):
        if name not in out.columns:
            out = out.with_columns(pl.lit(None, dtype).alias(name))
    return out.with_columns(pl.col("utc_offset").cast(pl.Duration("us")))


def _readings(df: Any) -> Any:
    pl = polars()
    keys = [pl.col(c) for c in ("observation_id", "patient_id", "code", "effective_start", "utc_offset") if c in df.columns]
    if "measure" in df.columns and "value" in df.columns:
        value = pl.col("value")
        unit = pl.col("unit").cast(pl.String) if "unit" in df.columns else pl.lit(None, pl.String)
        if "canonical_value" in df.columns:
            value = pl.coalesce(pl.col("canonical_value"), value)
            unit = pl.when(pl.col("canonical_value").is_not_null()).then(pl.col("canonical_unit").cast(pl.String)).otherwise(unit)
        measure = pl.col("measure").cast(pl.String).cast(pl.Categorical)
        out = df.select(*keys, measure, value.cast(pl.Float64).alias("value"), unit.cast(pl.Categorical).alias("unit"))
    else:
        parts = [
            df.filter(pl.col("code") == m.code).select(
                *keys,
                pl.lit(m.path).cast(pl.Categorical).alias("measure"),
                pl.col(m.column).cast(pl.Float64).alias("value"),
                pl.lit(m.unit, pl.String).cast(pl.Categorical).alias("unit"),
            )
            for m in catalogued_measures()
            if m.column in df.columns
        ]
        if not parts:
            return _empty_readings()
        out = pl.concat(parts)
    if "utc_offset" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Duration("us")).alias("utc_offset"))
    return out.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan()).with_columns(pl.col("utc_offset").cast(pl.Duration("us")))


def _empty_readings() -> Any:
    pl = polars()
    return pl.DataFrame(
        schema={
            "observation_id": pl.Int64,
            "patient_id": pl.Int64,
            "code": pl.Categorical,
            "effective_start": pl.Datetime("us", "UTC"),
            "utc_offset": pl.Duration("us"),
            "measure": pl.Categorical,
            "value": pl.Float64,
            "unit": pl.Categorical,
        }
    )


def returned_as(frame: Any, kind: str) -> Any:
    """A polars result as the kind of frame the caller passed in."""
    if kind == "pandas":
        return frame.to_pandas()
    if kind == "arrow":
        return frame.to_arrow()
    return frame
