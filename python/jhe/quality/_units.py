"""Units the catalogue does not allow, from the decode errors: the decoder keeps such a
value as written and names the unit in its reason, and this counts them per code, measure
and unit."""

from __future__ import annotations

import re
from typing import Any

from jhe.quality._frame import polars

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
