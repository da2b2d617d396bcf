"""Times that cannot be right, one row per observation and rule:

- ``future``: effective start after the fetch (``now``) by more than ``tolerance``;
- ``after_creation``: effective start after the OMH header's creation time (the
  ``created`` column: ``source_creation_date_time``, else ``creation_date_time``) by more
  than ``tolerance``: a reading cannot be taken after its record was made;
- ``before_2000``: before 2000-01-01 UTC (a device clock reset to its epoch);
- ``before_birth``: before the patient's birth date (when birth dates are given);
- ``missing_offset``: no UTC offset (jhe, like the Exchange, reads such a time as UTC; a
  ``{date, part_of_day}`` frame has none either);
- ``offset_change``: the patient's UTC offset differs from the one of their previous
  reading (any code, in time order): travel, or a clock set wrong."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jhe.quality._frame import polars
from jhe.quality._series import EARLIEST

RULES = ("future", "after_creation", "before_2000", "before_birth", "missing_offset", "offset_change")
COLUMNS = ["observation_id", "patient_id", "code", "effective_start", "rule", "detail"]


def check(observations: Any, now: datetime, tolerance: timedelta, birth_dates: Any | None) -> Any:
    pl = polars()
    t = pl.col("effective_start")
    timed = observations.filter(t.is_not_null())
    text = t.dt.to_string("%Y-%m-%dT%H:%M:%SZ")
    parts = [
        _rule(timed.filter(t > now + tolerance), "future", pl.lit(f"after the fetch at {now:%Y-%m-%dT%H:%M:%SZ}")),
        _rule(
            timed.filter(t > pl.col("created") + tolerance),
            "after_creation",
            pl.format("created {}", pl.col("created").dt.to_string("%Y-%m-%dT%H:%M:%SZ")),
        ),
        _rule(timed.filter(t < EARLIEST), "before_2000", text),
        _rule(timed.filter(pl.col("utc_offset").is_null()), "missing_offset", pl.lit("no UTC offset: read as UTC")),
        _offset_changes(timed),
    ]
    if birth_dates is not None:
        births = _birth_dates(birth_dates)
        born = timed.join(births, on="patient_id", how="inner")
        parts.append(_rule(born.filter(t.dt.date() < pl.col("birth_date")), "before_birth", pl.format("born {}", pl.col("birth_date"))))
    return pl.concat(parts).sort(["patient_id", "effective_start", "rule"])


def _rule(rows: Any, rule: str, detail: Any) -> Any:
    pl = polars()
    return rows.select(
        "observation_id", "patient_id", "code", "effective_start", rule=pl.lit(rule), detail=detail.cast(pl.String)
    )


def _offset_changes(timed: Any) -> Any:
    pl = polars()
    # Only a patient with more than one offset can change it: the rest are not sorted.
    with_offset = (
        timed.filter(pl.col("utc_offset").is_not_null())
        .filter(pl.col("utc_offset").n_unique().over("patient_id") > 1)
        .sort(["patient_id", "effective_start", "observation_id"])
    )
    previous = pl.col("utc_offset").shift(1).over("patient_id")
    changed = with_offset.with_columns(previous=previous).filter(
        pl.col("previous").is_not_null() & (pl.col("previous") != pl.col("utc_offset"))
    )
    detail = pl.format("{} to {}", _offset_text("previous"), _offset_text("utc_offset"))
    return _rule(changed, "offset_change", detail)


def _offset_text(column: str) -> Any:
    pl = polars()
    minutes = pl.col(column).dt.total_minutes()
    sign = pl.when(minutes < 0).then(pl.lit("-")).otherwise(pl.lit("+"))
    hours = (minutes.abs() // 60).cast(pl.String).str.zfill(2)
    rest = (minutes.abs() % 60).cast(pl.String).str.zfill(2)
    return pl.concat_str([sign, hours, pl.lit(":"), rest])


def _birth_dates(birth_dates: Any) -> Any:
    """``patient_id`` → ``birth_date`` from a mapping, or a frame with ``id``/``patient_id``
    and ``birthDate``/``birth_date`` (what :meth:`jhe.Client.list_patients` returns)."""
    pl = polars()
    if isinstance(birth_dates, dict):
        frame = pl.DataFrame({"patient_id": list(birth_dates), "birth_date": [str(v) for v in birth_dates.values()]})
    else:
        frame = birth_dates if isinstance(birth_dates, pl.DataFrame) else pl.from_pandas(birth_dates)
        frame = frame.rename({k: v for k, v in (("id", "patient_id"), ("birthDate", "birth_date")) if k in frame.columns})
    return frame.select(
        pl.col("patient_id").cast(pl.Int64),
        pl.col("birth_date").cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
    ).filter(pl.col("birth_date").is_not_null())
