"""The partition plan's arithmetic: grouping slices, sharing the budget, refusing counts
that do not add up."""

from __future__ import annotations

import pytest

import jhe

pytest.importorskip("distributed")

from jhe.dask._plan import Part, _check_adds_up, _next_boundary, group  # noqa: E402
from jhe.dask._read import share  # noqa: E402


def test_small_slices_are_grouped_and_a_large_one_stands_alone() -> None:
    parts = [Part(rows, patient_id=i) for i, rows in enumerate([50, 60, 500, 10, 20, 30], start=1)]
    grouped = group(parts, 100)
    assert [[p.patient_id for p in partition.parts] for partition in grouped] == [[1], [2], [3], [4, 5, 6]]
    assert [partition.rows for partition in grouped] == [50, 60, 500, 60]
    assert group([], 100) == []


@pytest.mark.parametrize(
    ("concurrency", "at_once", "pages"),
    [(16, 4, 400), (16, 2, 1), (3, 4, 9), (2, 40, 2), (64, 1, 1000), (5, 3, 3), (16, 600, 2), (32, 3, 1)],
)
def test_the_budget_is_never_exceeded(concurrency: int, at_once: int, pages: int) -> None:
    per_fetch, leases = share(concurrency, at_once, pages)
    assert per_fetch >= 1 and leases >= 1
    # Each fetch's pages and count take turns within its share.
    assert per_fetch >= 2 and per_fetch * leases <= concurrency


def test_small_slices_share_the_budget_between_more_fetches() -> None:
    # Two-page patients, hundreds of them: a page and a count each after the first, eight at once.
    assert share(16, 600, 2) == (2, 8)
    # Three large windows: the budget split three ways.
    assert share(16, 3, 400) == (5, 3)
    # One large slice has the whole budget.
    assert share(16, 1, 400) == (16, 1)


def test_counts_that_do_not_add_up_are_refused() -> None:
    _check_adds_up([Part(10), Part(5)], 15, True, "patient")
    _check_adds_up([Part(10)], 15, False, "month")  # an older server's count is not exact
    with pytest.raises(jhe.InconsistentResult, match="effective time") as caught:
        _check_adds_up([Part(10), Part(4)], 15, True, "month")
    assert (caught.value.expected, caught.value.received) == (15, 14)


def test_windows_end_at_month_and_monday_boundaries() -> None:
    from datetime import UTC, datetime

    assert _next_boundary(datetime(2025, 12, 31, 23, tzinfo=UTC), "month") == datetime(2026, 1, 1, tzinfo=UTC)
    assert _next_boundary(datetime(2026, 1, 15, tzinfo=UTC), "month") == datetime(2026, 2, 1, tzinfo=UTC)
    assert _next_boundary(datetime(2026, 12, 3, 10, tzinfo=UTC), "week") == datetime(2026, 12, 7, tzinfo=UTC)
    assert _next_boundary(datetime(2026, 12, 7, tzinfo=UTC), "week") == datetime(2026, 12, 14, tzinfo=UTC)
