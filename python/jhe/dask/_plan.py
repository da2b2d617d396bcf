"""Partitions planned from the server's counts, never from page numbers (pages shift while
data is written): by patient, or by calendar month or ISO week of effective time. Small
slices are grouped until a partition holds about ``target_rows`` rows.

A plan proves itself against the server: its slices' counts must add up to the query's
own count, or the plan is refused rather than a row being lost or read twice.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from jhe._convert import _caller_stacklevel

if TYPE_CHECKING:
    from jhe._client import Client

PartitionBy = Literal["patient", "month", "week"]
PARTITION_BY = ("patient", "month", "week")


@dataclass(frozen=True)
class Query:
    """One read, spelled once: what every partition fetches, less its own slice."""

    study_id: int | None
    patient_id: int | None
    codes: tuple[str, ...] | None
    layout: str
    filters: tuple[tuple[str, Any], ...]

    def request(self, part: Part | None = None) -> dict[str, Any]:
        """The keyword arguments of :meth:`jhe.Client.fetch` for the query, or one slice."""
        codes = list(self.codes) if self.codes is not None else None
        request: dict[str, Any] = {"study_id": self.study_id, "patient_id": self.patient_id, "code": codes}
        request.update(self.filters, layout=self.layout)
        if part is not None:
            if part.patient_id is not None:
                request["patient_id"] = part.patient_id
            if part.since is not None:
                request.update(since=part.since, until=part.until)
        return request

    def counting(self, part: Part | None = None) -> dict[str, Any]:
        """The keyword arguments of the native count of the query, or of one slice."""
        request = self.request(part)
        request["codes"] = request.pop("code")
        request.pop("columns", None)
        return request


@dataclass(frozen=True)
class Part:
    """One slice of a query: a patient, or a window of effective time ``[since, until)``."""

    rows: int
    patient_id: int | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Partition:
    """What one task fetches: one or more slices, one after another."""

    parts: tuple[Part, ...]

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.parts)


def plan(client: Client, query: Query, partition_by: str, target_rows: int, concurrency: int) -> list[Partition]:
    """The partitions of `query`, planned from counts (as many asked at once as `concurrency`)."""
    from jhe._jhe import ConfigurationError

    if partition_by not in PARTITION_BY:
        raise ConfigurationError(f"partition_by must be one of {', '.join(map(repr, PARTITION_BY))}, got {partition_by!r}")
    if isinstance(target_rows, bool) or not isinstance(target_rows, int) or target_rows < 1:
        raise ConfigurationError(f"target_rows must be a positive int, got {target_rows!r}")
    native = client._native
    if partition_by != "patient" and native.generation_of_server() == "legacy":
        warnings.warn(
            f"this Exchange (older API) ignores date filters: partitioned by patient, not by {partition_by}",
            stacklevel=_caller_stacklevel(),
        )
        partition_by = "patient"
    total, exact = native.count(**query.counting())
    if partition_by == "patient":
        parts = _patients(client, query)
    else:
        parts = _windows(client, query, partition_by)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="jhe-dask-plan") as pool:
        counts = list(pool.map(lambda part: native.count(**query.counting(part))[0], parts))
    counted = [replace(part, rows=rows) for part, rows in zip(parts, counts, strict=True)]
    _check_adds_up(counted, total, exact, partition_by)
    return group([part for part in counted if part.rows], target_rows) or [Partition((Part(0),))]


def _patients(client: Client, query: Query) -> list[Part]:
    """One slice per patient of the query: the one named, or those of its study or organization."""
    if query.patient_id is not None:
        return [Part(0, patient_id=query.patient_id)]
    organization = dict(query.filters).get("organization_id")
    listed = client._list("patients", organization_id=organization, study_id=query.study_id)
    return [Part(0, patient_id=int(patient)) for patient in (listed["id"] if len(listed) else [])]


def _windows(client: Client, query: Query, partition_by: str) -> list[Part]:
    """One slice per calendar month (or ISO week, from Monday) of effective time, UTC, from
    the query's ``since`` (or its first row) to its ``until`` (or just after its last)."""
    filters = dict(query.filters)
    first: datetime | None = _instant(filters["since"]) if filters.get("since") is not None else None
    end: datetime | None = _instant(filters["until"]) if filters.get("until") is not None else None
    if first is None or end is None:
        found = client._native.effective_range(**query.counting())
        if found is None:
            return []
        first = first or _from_micros(found[0])
        end = end or _from_micros(found[1]) + timedelta(microseconds=1)
    parts = []
    start = first
    while start < end:
        stop = min(_next_boundary(start, partition_by), end)
        parts.append(Part(0, since=start.isoformat(), until=stop.isoformat()))
        start = stop
    return parts


def _next_boundary(at: datetime, partition_by: str) -> datetime:
    """The first month (or week) boundary after `at`."""
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if partition_by == "week":
        return day + timedelta(days=7 - day.weekday())
    return datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)


def _instant(value: Any) -> datetime:
    """A time filter as jhe reads it: naive means UTC, a date is its midnight UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _check_adds_up(parts: list[Part], total: int, exact: bool, partition_by: str) -> None:
    """The slices must hold the query's rows once each, as far as the server's counts tell."""
    from jhe._jhe import InconsistentResult

    counted = sum(part.rows for part in parts)
    if not exact or counted == total:
        return
    if partition_by == "patient":
        why = "the data changed while it was planned, or rows belong to patients the listing does not show"
    else:
        why = "rows without an effective time, or whose time matches two windows; use partition_by=\"patient\""
    error = InconsistentResult(
        f"the {partition_by} slices count {counted:,} rows, the query {total:,}: {why}"
    )
    error.expected, error.received = total, counted
    error.status = error.url = error.diagnostics = None
    raise error


def group(parts: list[Part], target_rows: int) -> list[Partition]:
    """Consecutive slices joined while a partition stays within `target_rows` (a slice larger
    than that is a partition of its own)."""
    partitions: list[Partition] = []
    current: list[Part] = []
    rows = 0
    for part in parts:
        if current and rows + part.rows > target_rows:
            partitions.append(Partition(tuple(current)))
            current, rows = [], 0
        current.append(part)
        rows += part.rows
    if current:
        partitions.append(Partition(tuple(current)))
    return partitions
