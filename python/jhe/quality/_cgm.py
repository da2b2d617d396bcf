"""The international consensus CGM metrics (Battelino et al., Diabetes Care 2019;42:1593),
per patient, from their blood-glucose readings in mg/dL.

Percentages are of readings. ``tbr_70`` counts every reading below 70 (level 2 included)
and ``tar_180`` every reading above 180; the SD is the sample SD (n − 1). GMI is
Bergenstal et al. (Diabetes Care 2018): 3.31 + 0.02392 × mean. GRI is Klonoff et al.
(J Diabetes Sci Technol 2022): 3.0 × (VLow + 0.8 × Low) + 1.6 × (VHigh + 0.5 × High),
capped at 100, with VLow < 54, Low 54-69, High 181-250, VHigh > 250 (% of readings).
Active time is iglu's ``active_percent`` (see :func:`jhe.quality.coverage`); data
sufficiency is ≥ 14 days with readings and ≥ 70% active time."""

from __future__ import annotations

from typing import Any

from jhe.quality._frame import polars
from jhe.quality._series import active_percent, local_day

GLUCOSE = "omh:blood-glucose:4.0"
GLUCOSE_MEASURE = "blood_glucose"
SUFFICIENT_DAYS = 14
SUFFICIENT_ACTIVE_PERCENT = 70.0


def _share(condition: Any) -> Any:
    """The percentage of readings for which `condition` holds."""
    return 100.0 * condition.cast(polars().Float64).mean()


def cgm_metrics(glucose: Any, readings_in_time: Any) -> Any:
    """`glucose`: readings of the glucose measure in mg/dL (``patient_id``, ``value``,
    ``effective_start``, ``utc_offset``); `readings_in_time`: the glucose series, for active
    time. One row per patient."""
    pl = polars()
    g = pl.col("value")
    metrics = glucose.with_columns(day=local_day()).group_by("patient_id").agg(
        readings=pl.len(),
        days=pl.col("day").n_unique(),
        mean_glucose_mg_dl=g.mean(),
        sd_mg_dl=g.std(ddof=1),
        tbr_54=_share(g < 54),
        tbr_70=_share(g < 70),
        tir_70_180=_share((g >= 70) & (g <= 180)),
        tar_180=_share(g > 180),
        tar_250=_share(g > 250),
        vlow=_share(g < 54),
        low=_share((g >= 54) & (g < 70)),
        high=_share((g > 180) & (g <= 250)),
        vhigh=_share(g > 250),
    )
    active = active_percent(readings_in_time.filter(pl.col("code") == GLUCOSE)).select(
        "patient_id", "interval_minutes", "span_days", "active_percent"
    )
    hypo = pl.col("vlow") + 0.8 * pl.col("low")
    hyper = pl.col("vhigh") + 0.5 * pl.col("high")
    return (
        metrics.join(active, on="patient_id", how="left")
        .with_columns(
            gmi=3.31 + 0.02392 * pl.col("mean_glucose_mg_dl"),
            cv_percent=100.0 * pl.col("sd_mg_dl") / pl.col("mean_glucose_mg_dl"),
            gri_hypo=hypo,
            gri_hyper=hyper,
            gri=pl.min_horizontal(3.0 * hypo + 1.6 * hyper, pl.lit(100.0)),
        )
        .with_columns(
            meets_data_sufficiency=(pl.col("days") >= SUFFICIENT_DAYS)
            & (pl.col("active_percent").fill_null(0.0) >= SUFFICIENT_ACTIVE_PERCENT)
        )
        .select(
            "patient_id", "readings", "days", "span_days", "interval_minutes", "active_percent",
            "mean_glucose_mg_dl", "sd_mg_dl", "gmi", "cv_percent",
            "tbr_54", "tbr_70", "tir_70_180", "tar_180", "tar_250",
            "gri_hypo", "gri_hyper", "gri", "meets_data_sufficiency",
        )
        .sort("patient_id")
    )
