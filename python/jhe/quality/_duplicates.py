"""Records that are there twice, and units the catalogue does not allow.

Duplicates, one row per observation in a group of two or more:
- ``same uuid``: the OMH header's uuid is shared (a device or app uploading one record
  again);
- ``same reading``: the same patient, code, effective start and end and every numeric
  value, under different ids (one reading uploaded by two apps).
``duplicate_of`` is the group's lowest observation id."""

from __future__ import annotations

import re
from typing import Any

from jhe.quality._frame import polars

COLUMNS = ["observation_id", "patient_id", "code", "effective_start", "kind", "duplicate_of", "uuid"]


def duplicates(observations: Any, readings: Any) -> Any:
    pl = polars()
    by_uuid = _grouped(observations.filter(pl.col("uuid").is_not_null()), ["uuid"], "same uuid")
    # Same patient, code and times first (cheap, and rare); only those few are compared by value.
    times = ["patient_id", "code", "effective_start", *(["effective_end"] if "effective_end" in observations.columns else [])]
    timed = observations.filter(pl.col("effective_start").is_not_null())
    candidates = timed.filter(pl.len().over(times) > 1)
    values = (
        readings.join(candidates.select("observation_id"), on="observation_id", how="semi")
        .sort(["observation_id", "measure"])
        .group_by("observation_id")
        .agg(values=pl.concat_str([pl.col("measure"), pl.lit("="), pl.col("value").cast(pl.String)]).str.join(";"))
    )
    by_reading = _grouped(candidates.join(values, on="observation_id", how="left"), [*times, "values"], "same reading")
    return pl.concat([by_uuid, by_reading]).sort(["kind", "duplicate_of", "observation_id"])


def _grouped(rows: Any, key: list[str], kind: str) -> Any:
    pl = polars()
    return (
        rows.with_columns(
            n=pl.col("observation_id").n_unique().over(key),
            duplicate_of=pl.col("observation_id").min().over(key),
        )
        .filter(pl.col("n") > 1)
        .select("observation_id", "patient_id", pl.col("code").cast(pl.String), "effective_start", kind=pl.lit(kind), duplicate_of="duplicate_of", uuid="uuid")
    )


# The decoder's words for a unit it does not allow (src/decode/omh/catalog.rs).
_UNIT_PROBLEMS = (
    re.compile(r'(?P<measure>\S+) has unknown unit "(?P<unit>[^"]*)" \(expected one of (?P<allowed>[^)]*)\)'),
    re.compile(r"(?P<measure>\S+) has no unit(?P<unit>)(?P<allowed>)"),
    re.compile(r'(?P<measure>\S+) has unit "(?P<unit>[^"]*)", expected (?:unit )?"?(?P<allowed>[^"]*)"?'),
)


def units(errors: Any) -> Any:
    """Per code, measure and unit found: ``observations`` (how many) and their ids, from
    the decode errors whose reason is a unit the schema does not allow (or no unit)."""
    pl = polars()
    if errors.height == 0:
        return _empty_units()
    reason = pl.col("reason").cast(pl.String)
    parts = [
        errors.select(
            "observation_id",
            pl.col("code").cast(pl.String),
            reason.str.extract_groups(pattern.pattern).alias("m"),
        ).unnest("m")
        for pattern in _UNIT_PROBLEMS
    ]
    found = pl.concat(parts).filter(pl.col("measure").is_not_null()).unique(["observation_id", "measure"], keep="first")
    if found.height == 0:
        return _empty_units()
    return (
        found.group_by("code", "measure", "unit")
        .agg(allowed=pl.col("allowed").first(), observations=pl.len(), observation_ids=pl.col("observation_id").sort())
        .sort(["code", "measure", "unit"])
    )


def _empty_units() -> Any:
    pl = polars()
    return pl.DataFrame(
        schema={
            "code": pl.String,
            "measure": pl.String,
            "unit": pl.String,
            "allowed": pl.String,
            "observations": pl.UInt32,
            "observation_ids": pl.List(pl.Int64),
        }
    )
