"""``jhe.dask.quality``: the quality report of a study, its per-patient checks computed
by the workers (a partition holds whole patients) and the rest on this machine from what
they send back, so that every part equals the single-machine report's.

What needs more than one patient is never computed per partition: the coverage grid runs
from each code's first to its last day among all patients (the workers send their daily
counts), shared uuids are found across patients (the workers send each observation's ids,
code, time and uuid), and completeness and units are of the whole study.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jhe.dask import _plan, _read
from jhe.quality import _duplicates, _series, _units
from jhe.quality._completeness import completeness
from jhe.quality._frame import polars, read
from jhe.quality._report import PATIENT_PART_ORDER, QualityReport, Settings, errors_frame, patient_parts
from jhe.quality._study_report import look_up, window

if TYPE_CHECKING:
    from jhe.dask._connection import Credentials

# What the study-wide parts need of each observation.
NARROW = ["observation_id", "patient_id", "code", "effective_start", "utc_offset", "uuid"]


@dataclass(frozen=True)
class Checking:
    """What a task checks with: the read, the instant of the report, the settings, and the
    birth dates of each partition's patients (only those)."""

    read: _read.Read
    now: datetime
    settings: Settings
    birth_dates: tuple[tuple[int, str], ...]


def check_partition(partition: _plan.Partition, checking: Checking) -> tuple[dict[str, Any], Any, list[dict[str, Any]], int]:
    """A task: the per-patient parts of one partition's patients, the narrow rows the
    study-wide parts need, the decode errors, and the observations read."""
    results, errors = checking.read.fetch(partition)
    frame = read(_read.to_table(results))
    born = dict(checking.birth_dates)
    ids = {part.patient_id for part in partition.parts}
    births = {patient: day for patient, day in born.items() if patient in ids}
    parts = patient_parts(frame, now=checking.now, settings=checking.settings, birth_dates=births)
    return parts, frame.observations.select(NARROW), errors, sum(result.total for result in results)


def quality(
    study_id: int,
    codes: list[str],
    *,
    url: str | None,
    credentials: Credentials | str | None,
    since: Any,
    until: Any,
    target_rows: int,
    concurrency: int,
    client_options: dict[str, Any] | None,
    settings: Settings,
) -> QualityReport:
    import dask

    from jhe import _empty

    connecting = _read.connect(url, credentials, concurrency, client_options)
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="jhe-dask-quality")
    try:
        study = look_up(connecting.planner, study_id, codes, None, pool)
        with warnings.catch_warnings():
            # The report states what is missing and why.
            warnings.simplefilter("ignore", _empty.EmptyResultWarning)
            planned = _read.start(
                connecting, study_id=study_id, patient_id=None, code=study.searched, partition_by="patient",
                target_rows=target_rows, layout="long", strict=False, filters=window(since, until),
            )
        now = _series.now_utc()
        checking = Checking(planned, now, settings, tuple(sorted(study.birth_dates.items())))
        tasks = [dask.delayed(check_partition, pure=False)(partition, checking) for partition in planned.partitions]
        results = dask.compute(*tasks)
        study.wait()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    parts, total, errors = combine(list(results), study, settings)
    context = study.context(connecting.planner, total, len(errors), since, until)
    return QualityReport(parts, now, settings, study.title, context)


def combine(results: list[tuple[dict[str, Any], Any, list[dict[str, Any]], int]], study: Any, settings: Settings) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """The report's parts from every partition's: per-patient parts joined (and ordered as
    one report orders them), study-wide parts computed from all of it."""
    pl = polars()
    joined = {
        name: pl.concat([parts[name] for parts, *_ in results], how="vertical_relaxed").sort(order, maintain_order=True)
        for name, order in PATIENT_PART_ORDER.items()
    }
    narrow = pl.concat([rows for _, rows, *_ in results], how="vertical_relaxed")
    errors = [error for *_, found, _ in results for error in found]
    total = sum(observations for *_, observations in results)
    parts = {
        "completeness": completeness(study.study_id, study.ids, study.codes, study.requested, study.consent_of, narrow),
        "coverage": _series.coverage_of_days(joined["daily"], settings.valid_day_percent),
        "gaps": joined["gaps"],
        "outliers": joined["outliers"],
        "timestamps": joined["timestamps"],
        "duplicates": _duplicates.ordered(pl.concat([_duplicates.same_uuid(narrow), joined["same_reading"]])),
        "units": _units.units(errors_frame(errors)),
        "cgm": joined["cgm"],
    }
    return parts, total, errors

