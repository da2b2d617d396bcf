"""client.watch: each poll reads only what changed, and delivers each change once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import jhe
from jhe import _watch
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


def ids(result: object) -> set[int]:
    """The observation ids a poll's native result holds."""
    arrow = jhe.Observations(result).to_arrow()  # type: ignore[arg-type]
    tables = arrow.values() if isinstance(arrow, dict) else [arrow]
    return {i for table in tables for i in table["observation_id"].to_pylist()}


def added_since(fx: FakeExchange, n: int) -> tuple[set[int], str]:
    """`n` rows added now, and the time of the first of them (a watch's `since`)."""
    added = set(fx.add_observations(n))
    since = min(row["last_updated"] for row in fx.expected_observations(study_id=fx.main_study_id) if row["id"] in added)
    return added, since


def watcher(fx: FakeExchange, **query: object) -> tuple[jhe.Client, _watch.Watch]:
    client = jhe.Client(fx.url, fx.token)
    return client, client._watcher(query.get("study_id", fx.main_study_id), None, query.get("code"), 5, {})  # type: ignore[arg-type]


def test_a_watch_from_now_delivers_what_is_added_after_it_exactly_once(fx: FakeExchange) -> None:
    _, watch = watcher(fx)
    position = watch.start(None)
    result, position = watch.poll(position)
    assert ids(result) == set(), "rows there before the watch started are not new"
    added = set(fx.add_observations(5))
    result, position = watch.poll(position)
    assert ids(result) == added
    result, position = watch.poll(position)
    assert ids(result) == set(), "nothing is delivered twice"


def test_a_changed_row_comes_again_as_a_change(fx: FakeExchange) -> None:
    _, watch = watcher(fx)
    position = watch.start(None)
    added = fx.add_observations(3)
    result, position = watch.poll(position)
    assert ids(result) == set(added)
    fx.update_observations(added[:2])
    result, position = watch.poll(position)
    assert ids(result) == set(added[:2])
    result, position = watch.poll(position)
    assert ids(result) == set()


def test_rows_committed_out_of_order_inside_the_overlap_are_delivered_once(fx: FakeExchange) -> None:
    _, watch = watcher(fx)
    position = watch.start(None)
    first = set(fx.add_observations(3))
    result, position = watch.poll(position)
    assert ids(result) == first
    late = set(fx.add_observations(2, last_updated_offset=timedelta(seconds=-2)))
    result, position = watch.poll(position)
    assert ids(result) == late, "older than the newest row read, but inside the overlap window"
    result, position = watch.poll(position)
    assert ids(result) == set()


def test_a_watch_of_one_code_delivers_only_that_code(fx: FakeExchange) -> None:
    _, watch = watcher(fx, code=GLUCOSE)
    position = watch.start(None)
    glucose = set(fx.add_observations(3, code=GLUCOSE))
    fx.add_observations(3, code="omh:heart-rate:2.0")
    result, position = watch.poll(position)
    assert ids(result) == glucose


def test_the_iterator_yields_batches_with_a_cursor_that_resumes_exactly(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    first, since = added_since(fx, 4)
    batches = client.watch(fx.main_study_id, interval=0, since=since)
    batch = next(batches)
    assert {*batch.to_pandas()["observation_id"]} >= first and batch.cursor
    batches.close()
    later = set(fx.add_observations(2))
    resumed = next(client.watch(fx.main_study_id, interval=0, cursor=batch.cursor))
    assert set(resumed.to_pandas()["observation_id"]) == later


def test_a_poll_on_an_older_server_reads_back_only_to_the_cursor() -> None:
    with FakeExchange(patients=4, days=3, seed=5, legacy=True) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=50)
        watch = client._watcher(fx.main_study_id, None, None, 5, {})
        position = watch.start(None)
        added = set(fx.add_observations(3))
        fx.clear_requests()
        result, position = watch.poll(position)
        assert ids(result) == added
        pages = [r for r in fx.requests() if r["path"].endswith("/observations")]
        assert len(pages) == 1, f"one page of 50 holds every change: {pages}"
        assert len(fx.expected_observations(study_id=fx.main_study_id)) > 10 * 50


def test_a_failed_poll_is_logged_and_the_watch_goes_on(fx: FakeExchange, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    client = jhe.Client(fx.url, fx.token)
    real_poll = _watch.Watch.poll
    failures = iter([jhe.ServerError("the server failed")])

    def flaky(self: _watch.Watch, cursor: _watch.Cursor) -> object:
        for failure in failures:
            raise failure
        return real_poll(self, cursor)

    monkeypatch.setattr(_watch.Watch, "poll", flaky)
    added, since = added_since(fx, 2)
    batches = client.watch(fx.main_study_id, interval=0, since=since)
    with caplog.at_level("WARNING", logger="jhe.watch"):
        batch = next(batches)
    assert set(batch.to_pandas()["observation_id"]) == added
    assert "a poll failed" in caplog.text


def test_a_refused_token_ends_the_watch(fx: FakeExchange) -> None:
    batches = jhe.Client(fx.url, "not-a-token").watch(fx.main_study_id, interval=0)
    with pytest.raises(jhe.AuthenticationError):
        next(batches)


def test_watch_arguments_are_checked_when_it_is_called(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    with pytest.raises(jhe.ConfigurationError, match="not a cursor jhe wrote"):
        client.watch(fx.main_study_id, cursor="garbage")
    with pytest.raises(jhe.ConfigurationError, match="not both"):
        client.watch(fx.main_study_id, since="2025-01-01", cursor=_watch.Cursor(0).encode())
    with pytest.raises(jhe.ArgumentError, match="updated_since itself"):
        client.watch(fx.main_study_id, updated_since="2025-01-01")
    with pytest.raises(jhe.ConfigurationError, match="interval"):
        client.watch(fx.main_study_id, interval=-1)
    with pytest.raises(jhe.ConfigurationError, match="since must be an ISO 8601 time"):
        client.watch(fx.main_study_id, since="yesterday")
    with pytest.raises(jhe.ConfigurationError, match="overlap must not be negative"):
        client.watch(fx.main_study_id, overlap=-1)
    with pytest.raises(jhe.ConfigurationError, match="overlap must not be negative"):
        client.sync("unused", fx.main_study_id, overlap=-1)


def test_watch_async_runs_in_a_running_loop(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    first, since = added_since(fx, 2)

    async def two_batches() -> tuple[set[int], set[int], set[int]]:
        batches = client.watch_async(fx.main_study_id, interval=0, since=since)
        one = await anext(batches)
        later = set(fx.add_observations(3))
        two = await anext(batches)
        await batches.aclose()
        return set(one.to_pandas()["observation_id"]), set(two.to_pandas()["observation_id"]), later

    one, two, later = asyncio.run(two_batches())
    assert one >= first and two == later


def test_a_watch_with_columns_keeps_what_it_needs_to_deliver_each_change_once(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    watch = client._watcher(fx.main_study_id, None, None, 5, {"columns": ["patient_id"]})
    position = watch.start(None)
    added = set(fx.add_observations(4))
    result, position = watch.poll(position)
    assert ids(result) == added
    table = jhe.Observations(result).to_arrow()  # type: ignore[arg-type]
    assert table.column_names == ["observation_id", "patient_id", "last_updated"]  # type: ignore[union-attr]
    result, position = watch.poll(position)
    assert ids(result) == set(), "nothing is delivered twice"
