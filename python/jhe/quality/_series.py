"""Time-series checks on when readings were taken: each series' sampling interval, its
gaps, and per-day coverage (active time).

A series is one patient's readings of one code, at distinct instants: two observations at
the same instant (a reading uploaded twice) are one reading in time. Readings whose time
cannot be right (before 2000, or after the fetch) are left out of series; the
``timestamps`` check lists them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jhe.quality._frame import polars

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
MINUTES_PER_DAY = 1440
SERIES = ["patient_id", "code"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def series(observations: Any, now: datetime) -> Any:
    """One row per distinct (patient, code, instant), in time order, with ``gap_s``: the
    seconds since the series' previous reading (null for its first)."""
    pl = polars()
    t = pl.col("effective_start")
    in_order = (
        observations.lazy()
        .filter(t.is_not_null() & (t >= EARLIEST) & (t <= now))
        .select("patient_id", "code", "effective_start", "utc_offset")
        .sort(["patient_id", "code", "effective_start"])
    )
    # Sorted, so a series starts where the patient or code changes; a reading at the same
    # instant as the one before it (a gap of 0) is the same reading in time.
    same_series = (pl.col("patient_id") == pl.col("patient_id").shift(1)) & (pl.col("code") == pl.col("code").shift(1))
    gap = pl.when(same_series).then(t.diff().dt.total_microseconds() / 1e6)
    return in_order.with_columns(gap_s=gap).filter(pl.col("gap_s").is_null() | (pl.col("gap_s") > 0)).collect()


def intervals(readings_in_time: Any) -> Any:
    """Per series: ``interval_s``, the median gap between consecutive readings, and
    ``interval_minutes``, that median rounded to whole minutes (at least 1), as iglu's
    ``dt0``. A series of one reading has neither."""
    pl = polars()
    return readings_in_time.group_by(SERIES).agg(
        interval_s=pl.col("gap_s").median(),
        readings=pl.len(),
        first=pl.col("effective_start").min(),
        last=pl.col("effective_start").max(),
    ).with_columns(interval_minutes=(pl.col("interval_s") / 60).round(0).clip(lower_bound=1))


def gaps(readings_in_time: Any, k: float = 3.0) -> Any:
    """Runs with no reading longer than ``k`` × the series' median interval: ``start`` and
    ``end`` are the readings either side, ``length`` the time between them."""
    pl = polars()
    _check_positive("k", k)
    return (
        readings_in_time.join(intervals(readings_in_time).select(*SERIES, "interval_s"), on=SERIES)
        .filter(pl.col("gap_s") > k * pl.col("interval_s"))
        .select(
            "patient_id",
            "code",
            start=pl.col("effective_start") - pl.duration(microseconds=(pl.col("gap_s") * 1e6).cast(pl.Int64)),
            end=pl.col("effective_start"),
            length=pl.duration(microseconds=(pl.col("gap_s") * 1e6).cast(pl.Int64)),
            interval=pl.duration(microseconds=(pl.col("interval_s") * 1e6).cast(pl.Int64)),
        )
        .sort(["patient_id", "code", "start"])
    )


def local_day() -> Any:
    """The reading's calendar day where it was taken (its UTC offset; UTC without one)."""
    pl = polars()
    offset = pl.col("utc_offset").fill_null(pl.duration(seconds=0))
    return (pl.col("effective_start") + offset).dt.replace_time_zone(None).dt.date()


def coverage(readings_in_time: Any, valid_day_percent: float = 70.0) -> Any:
    """Per patient × code × local day, every day from the code's first to its last day in
    the data: ``readings``, ``expected_readings`` (a day's minutes ÷ the series' interval
    in whole minutes), ``active_percent`` (readings ÷ expected, at most 100: iglu's
    ``active_percent`` over one whole day) and ``valid_day`` (``active_percent`` ≥
    ``valid_day_percent``)."""
    return coverage_of_days(daily_readings(readings_in_time), valid_day_percent)


def daily_readings(readings_in_time: Any) -> Any:
    """Per patient × code × local day with a reading: ``readings``, and the series'
    ``interval_minutes``. What :func:`coverage_of_days` needs, made one set of patients at a
    time if need be."""
    pl = polars()
    per_day = readings_in_time.with_columns(day=local_day()).group_by(*SERIES, "day").agg(readings=pl.len())
    return per_day.join(intervals(readings_in_time).select(*SERIES, "interval_minutes"), on=SERIES, how="left")


def coverage_of_days(daily: Any, valid_day_percent: float = 70.0) -> Any:
    """:func:`coverage` from :func:`daily_readings` (of every patient: a code's days run
    from its first to its last day among them all)."""
    pl = polars()
    if not 0 <= valid_day_percent <= 100:
        raise ValueError(f"valid_day_percent must be within 0 and 100, got {valid_day_percent!r}")
    span = daily.group_by("code").agg(first=pl.col("day").min(), last=pl.col("day").max())
    grid = (
        daily.select(SERIES)
        .unique()
        .join(span, on="code")
        .with_columns(day=pl.date_ranges("first", "last", "1d"))
        .explode("day")
        .select(*SERIES, "day")
    )
    expected = (MINUTES_PER_DAY / pl.col("interval_minutes")).round(0).clip(lower_bound=1)
    return (
        grid.join(daily.select(*SERIES, "day", "readings"), on=[*SERIES, "day"], how="left")
        .join(daily.select(*SERIES, "interval_minutes").unique(SERIES), on=SERIES, how="left")
        .with_columns(readings=pl.col("readings").fill_null(0).cast(pl.Int64))
        .with_columns(expected_readings=expected.cast(pl.Int64))
        .with_columns(
            active_percent=(100.0 * pl.min_horizontal("readings", "expected_readings") / pl.col("expected_readings")).fill_null(0.0)
        )
        .with_columns(valid_day=pl.col("active_percent") >= valid_day_percent)
        .sort([*SERIES, "day"])
    )


def active_percent(readings_in_time: Any) -> Any:
    """Per series, iglu's ``active_percent`` (range "automatic"): with ``dt0`` the median
    gap in whole minutes, ``theoretical = round(span / dt0) + 1`` readings over the span
    from first to last reading, ``missing = round((Σ gaps longer than dt0 − their count ×
    dt0) / dt0)``, and active % = 100 × (theoretical − missing) ÷ theoretical. Also
    ``span_days`` (iglu's ``ndays``)."""
    pl = polars()
    per = readings_in_time.join(intervals(readings_in_time).select(*SERIES, "interval_minutes"), on=SERIES)
    gap_min = pl.col("gap_s") / 60
    long_gap = gap_min.round(0) > pl.col("interval_minutes")
    stats = per.group_by(SERIES).agg(
        interval_minutes=pl.col("interval_minutes").first(),
        span_minutes=(pl.col("effective_start").max() - pl.col("effective_start").min()).dt.total_seconds() / 60,
        gap_minutes=gap_min.filter(long_gap).sum(),
        gaps=long_gap.sum(),
    )
    theoretical = (pl.col("span_minutes").round(0) / pl.col("interval_minutes")).round(0) + 1
    missing = ((pl.col("gap_minutes") - pl.col("gaps") * pl.col("interval_minutes")) / pl.col("interval_minutes")).round(0)
    return stats.with_columns(theoretical=theoretical, missing=missing).select(
        *SERIES,
        "interval_minutes",
        span_days=pl.col("span_minutes") / MINUTES_PER_DAY,
        active_percent=100.0 * (pl.col("theoretical") - pl.col("missing")) / pl.col("theoretical"),
    )


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


