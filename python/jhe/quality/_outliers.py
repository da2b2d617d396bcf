"""Readings that stand out: by their patient's own distribution (``zscore``, ``mad``) or by
physiology (``implausible``). One row per flagged reading and rule; nothing is dropped.

Each statistical rule is computed per patient, code and measure, over every reading of
that measure (flagged ones included, as the guide's rule does)."""

from __future__ import annotations

from typing import Any

from jhe.quality._frame import polars
from jhe.quality._limits import limits_keyed

METHODS = ("zscore", "mad", "implausible")
GROUP = ["patient_id", "code", "measure"]
# The MAD of a normal distribution is 1/1.4826 of its SD (Leys et al. 2013).
MAD_TO_SD = 1.4826
OUTLIER_COLUMNS = ["observation_id", "patient_id", "code", "measure", "value", "unit", "effective_start", "rule", "low", "high", "score"]


def flagged(readings: Any, methods: tuple[str, ...], threshold_std: float = 3.0, mad_k: float = 3.0) -> Any:
    """The readings each of `methods` flags, with the bounds they fell outside (``low``,
    ``high``) and a ``score`` (z, robust z; null for limits)."""
    pl = polars()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown outlier method {unknown[0]!r}: expected one of {', '.join(METHODS)}")
    for name, value in (("threshold_std", threshold_std), ("k", mad_k)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    parts = []
    if "zscore" in methods:
        parts.append(_zscore(readings, threshold_std))
    if "mad" in methods:
        parts.append(_mad(readings, mad_k))
    if "implausible" in methods:
        parts.append(_implausible(readings))
    out = pl.concat([p.select(OUTLIER_COLUMNS) for p in parts]) if parts else readings.head(0)
    return out.sort(["patient_id", "code", "measure", "effective_start", "rule"])


def _zscore(readings: Any, threshold: float) -> Any:
    pl = polars()
    mean, sd = pl.col("value").mean().over(GROUP), pl.col("value").std(ddof=1).over(GROUP)
    return (
        readings.with_columns(mean=mean, sd=sd)
        .filter((pl.col("sd") > 0) & ((pl.col("value") - pl.col("mean")).abs() > threshold * pl.col("sd")))
        .with_columns(
            rule=pl.lit("zscore"),
            low=pl.col("mean") - threshold * pl.col("sd"),
            high=pl.col("mean") + threshold * pl.col("sd"),
            score=(pl.col("value") - pl.col("mean")) / pl.col("sd"),
        )
    )


def _mad(readings: Any, k: float) -> Any:
    pl = polars()
    median = pl.col("value").median().over(GROUP)
    with_median = readings.with_columns(median=median)
    scale = MAD_TO_SD * (pl.col("value") - pl.col("median")).abs().median().over(GROUP)
    # A MAD of 0 (most readings equal) bounds nothing: no reading is flagged by it.
    return (
        with_median.with_columns(scale=scale)
        .filter((pl.col("scale") > 0) & ((pl.col("value") - pl.col("median")).abs() > k * pl.col("scale")))
        .with_columns(
            rule=pl.lit("mad"),
            low=pl.col("median") - k * pl.col("scale"),
            high=pl.col("median") + k * pl.col("scale"),
            score=(pl.col("value") - pl.col("median")) / pl.col("scale"),
        )
    )


def _implausible(readings: Any) -> Any:
    pl = polars()
    limits = limits_keyed().select("code", "measure", "low", "high", limit_unit="unit")
    joined = readings.join(limits, on=["code", "measure"], how="inner")
    # A reading in another unit than the limit's (an unknown unit, kept as written) is the
    # units check's, not compared here.
    same_unit = pl.col("limit_unit").is_null() | (pl.col("unit") == pl.col("limit_unit")) | pl.col("unit").is_null()
    outside = (pl.col("value") < pl.col("low")) | (pl.col("value") > pl.col("high"))
    return joined.filter(same_unit & outside).with_columns(rule=pl.lit("implausible"), score=pl.lit(None, pl.Float64))
