"""Records that are there twice, one row per observation in a group of two or more:
- ``same uuid``: the OMH header's uuid is shared (a device or app uploading one record
  again);
- ``same reading``: the same patient, code, effective start and end and every numeric
  value, under different ids (one reading uploaded by two apps).
``duplicate_of`` is the group's lowest observation id."""

from __future__ import annotations

from typing import Any

from jhe.quality._frame import polars

COLUMNS = ["observation_id", "patient_id", "code", "effective_start", "kind", "duplicate_of", "uuid"]


def duplicates(observations: Any, readings: Any) -> Any:
    return ordered(polars().concat([same_uuid(observations), same_reading(observations, readings)]))


def ordered(duplicates: Any) -> Any:
    return duplicates.sort(["kind", "duplicate_of", "observation_id"])


def same_uuid(observations: Any) -> Any:
    """Observations sharing a uuid (across patients too)."""
    pl = polars()
    # Candidates by hash first (one pass, and they are few); each group is then made of equal
    # values, so a hash collision finds nothing.
    uuids = observations.filter(pl.col("uuid").is_not_null() & pl.col("uuid").hash().is_duplicated())
    return _grouped(uuids, ["uuid"], "same uuid")


def same_reading(observations: Any, readings: Any) -> Any:
    """One patient's readings uploaded twice: same code, times and values, other ids."""
    pl = polars()
    # Same patient, code and times, then compared by value.
    times = ["patient_id", "code", "effective_start", *(["effective_end"] if "effective_end" in observations.columns else [])]
    timed = observations.filter(pl.col("effective_start").is_not_null())
    candidates = timed.filter(pl.struct(times).is_duplicated())
    values = (
        readings.join(candidates.select("observation_id"), on="observation_id", how="semi")
        .sort(["observation_id", "measure"])
        .group_by("observation_id")
        .agg(values=pl.concat_str([pl.col("measure").cast(pl.String), pl.lit("="), pl.col("value").cast(pl.String)]).str.join(";"))
    )
    return _grouped(candidates.join(values, on="observation_id", how="left"), [*times, "values"], "same reading")


def _grouped(rows: Any, key: list[str], kind: str) -> Any:
    pl = polars()
    return (
        rows.with_columns(
            n=pl.col("observation_id").n_unique().over(key),
            duplicate_of=pl.col("observation_id").min().over(key),
        )
        .filter(pl.col("n") > 1)
        .select("observation_id", "patient_id", "code", "effective_start", kind=pl.lit(kind), duplicate_of="duplicate_of", uuid="uuid")
    )
