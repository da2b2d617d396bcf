"""Data-quality checks on any jhe frame, and the study report built from them.

Every function takes what :func:`jhe.fetch_dataframe` (or :meth:`jhe.Client.fetch`)
returns, in either layout: a pandas or polars DataFrame, a pyarrow Table, a dict of them by
code, or a :class:`jhe.Observations`. Each returns a frame of the kind passed in (pandas in,
pandas out; polars for a :class:`jhe.Observations`). The work is polars expressions over whole columns; nothing runs per row in
Python. Needs ``pip install 'jhe[quality]'`` (polars).

>>> import jhe
>>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")
>>> jhe.quality.cgm_metrics(df)
>>> jhe.quality.outliers(df, "glucose_mg_dl", method="zscore", threshold_std=3)

:meth:`jhe.Client.quality` runs them all over a study, with completeness from the study's
patients, scopes and consents, and returns a :class:`QualityReport`. The definitions and
their sources are in the README ("Data quality").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jhe.quality import _cgm, _duplicates, _outliers, _series, _timestamps, _units
from jhe.quality._frame import Frame, catalogued_measures, polars, read, returned_as
from jhe.quality._limits import LIMITS, Limit, limits_frame
from jhe.quality._report import QualityReport, build_report

DEFAULT_TOLERANCE = timedelta(minutes=5)


def coverage(data: Any, *, valid_day_percent: float = 70.0, now: datetime | None = None) -> Any:
    """Per patient × code × local day: ``readings``, ``expected_readings``, ``interval_minutes``,
    ``active_percent`` and ``valid_day``. See :func:`jhe.quality._series.coverage`."""
    frame = read(data)
    return returned_as(_series.coverage(_in_time(frame, now), valid_day_percent), frame.kind)


def gaps(data: Any, *, k: float = 3.0, now: datetime | None = None) -> Any:
    """Runs with no reading longer than ``k`` × the series' median interval, per patient and
    code: ``start``, ``end`` (the readings either side), ``length`` and ``interval``."""
    frame = read(data)
    return returned_as(_series.gaps(_in_time(frame, now), k), frame.kind)


def outliers(
    data: Any,
    column: str | None = None,
    method: str | tuple[str, ...] = "zscore",
    threshold_std: float = 3.0,
    *,
    k: float = 3.0,
) -> Any:
    """Readings flagged by ``method``, one row per reading and rule, per patient, code and
    measure (``column``: a wide column such as ``"glucose_mg_dl"`` or a long ``measure``
    such as ``"blood_glucose"``; all numeric measures when None).

    Methods: ``"zscore"`` (the guide's: \\|x − mean\\| > ``threshold_std`` × SD),
    ``"mad"`` (\\|x − median\\| > ``k`` × 1.4826 × MAD, Leys et al. 2013) and
    ``"implausible"`` (outside the physiological limits of :func:`limits`); a tuple runs
    several. Columns: ``observation_id``, ``patient_id``, ``code``, ``measure``, ``value``,
    ``unit``, ``effective_start``, ``rule``, ``low``, ``high`` (the bounds the value fell
    outside) and ``score`` (the z or robust z)."""
    frame = read(data)
    readings = frame.readings
    if column is not None:
        readings = readings.filter(polars().col("measure") == _measure_of(column, readings))
    methods = (method,) if isinstance(method, str) else tuple(method)
    return returned_as(_outliers.flagged(readings, methods, threshold_std, k), frame.kind)


def timestamps(
    data: Any,
    *,
    now: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    birth_dates: Any = None,
) -> Any:
    """Times that cannot be right: ``future``, ``after_creation``, ``before_2000``,
    ``before_birth`` (with ``birth_dates``: a mapping of patient id to date, or
    :meth:`jhe.Client.list_patients`' frame), ``missing_offset`` and ``offset_change``.
    ``now`` is the fetch time (default: now)."""
    frame = read(data)
    checked = _timestamps.check(frame.observations, now or _series.now_utc(), tolerance, birth_dates)
    return returned_as(checked, frame.kind)


def duplicates(data: Any) -> Any:
    """Observations there twice: ``same uuid`` and ``same reading`` (same patient, code,
    times and values under different ids), with ``duplicate_of``, the group's lowest id."""
    frame = read(data)
    return returned_as(_duplicates.duplicates(frame.observations, frame.readings), frame.kind)


def units(errors: Any) -> Any:
    """Units the schema does not allow, per code, measure and unit, from decode errors:
    :attr:`jhe.Observations.errors`, a pandas frame's ``attrs["jhe_errors"]`` (pass the
    frame), or a list of error dicts."""
    from jhe.quality._report import errors_frame

    return _units.units(errors_frame(errors))


def cgm_metrics(data: Any, *, now: datetime | None = None) -> Any:
    """The consensus CGM metrics per patient, from the blood-glucose readings in ``data``
    (see the README for each definition): ``readings``, ``days``, ``span_days``,
    ``interval_minutes``, ``active_percent``, ``mean_glucose_mg_dl``, ``sd_mg_dl``,
    ``gmi``, ``cv_percent``, ``tbr_54``, ``tbr_70``, ``tir_70_180``, ``tar_180``,
    ``tar_250``, ``gri_hypo``, ``gri_hyper``, ``gri`` and ``meets_data_sufficiency``."""
    frame = read(data)
    return returned_as(cgm_of(frame, now or _series.now_utc()), frame.kind)


def cgm_of(frame: Frame, now: datetime, in_time: Any = None) -> Any:
    """The CGM metrics of `frame`; `in_time`: its series (:func:`_series.series`), if made already."""
    pl = polars()
    if in_time is None:
        in_time = _series.series(frame.observations.filter(pl.col("code") == _cgm.GLUCOSE), now)
    t = pl.col("effective_start")
    # The readings a series holds: a time that cannot be right is the timestamps check's.
    glucose = frame.readings.filter(
        (pl.col("code") == _cgm.GLUCOSE) & (pl.col("measure") == _cgm.GLUCOSE_MEASURE) & (t >= _series.EARLIEST) & (t <= now)
    )
    return _cgm.cgm_metrics(glucose, in_time.filter(pl.col("code") == _cgm.GLUCOSE))


def limits() -> Any:
    """The plausibility limits (``code``, ``measure``, ``low``, ``high``, ``unit``,
    ``source``) as a pandas DataFrame."""
    return limits_frame().to_pandas()


def _in_time(frame: Frame, now: datetime | None) -> Any:
    return _series.series(frame.observations, now or _series.now_utc())


def _measure_of(column: str, readings: Any) -> str:
    for m in catalogued_measures():
        if column in (m.column, m.path):
            return m.path
    known = set(readings.get_column("measure").unique().to_list())
    if column in known:
        return column
    raise ValueError(f"no numeric measure named {column!r} in this frame (measures: {', '.join(sorted(known)) or 'none'})")


__all__ = [
    "LIMITS",
    "Limit",
    "QualityReport",
    "build_report",
    "cgm_metrics",
    "coverage",
    "duplicates",
    "gaps",
    "limits",
    "outliers",
    "timestamps",
    "units",
]
