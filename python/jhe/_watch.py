"""Watching an Exchange for new and changed observations.

The Exchange has no webhooks or subscriptions, so watching is polling, made exact: each
poll reads what was stored or changed since a cursor, by the server's ``last_updated``
(``_lastUpdated`` on current servers; the REST list, newest first, on older ones), from a
little before the newest row already read (``overlap``: ``last_updated`` is set when a row
is saved, not when it is committed, so a row can appear later with an older time). Rows
read again unchanged inside that window are skipped by ``(id, last_updated)``; a changed
row comes again, as a change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jhe import _deidentify, _jhe
from jhe._result import Observations

if TYPE_CHECKING:
    from jhe._deidentify import Deidentification
    from jhe._jhe import NativeClient, NativeFetchResult

log = logging.getLogger("jhe.watch")

DEFAULT_OVERLAP = timedelta(seconds=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = 1


def _micros(moment: datetime) -> int:
    """µs since the epoch of an aware datetime, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def as_datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _instant(name: str, value: str | date | datetime) -> int:
    """A time argument (ISO text, date or datetime; naive means UTC) in µs."""
    from jhe._jhe import ConfigurationError

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"{name} must be an ISO 8601 time, e.g. 2025-06-01T00:00:00Z, not {value!r}") from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return _micros(value if value.tzinfo else value.replace(tzinfo=UTC))


@dataclass(frozen=True)
class Cursor:
    """Where a watch or a mirror has read to: rows stored at or after ``read_from`` (µs)
    are read by the next poll, less ``delivered``, the ``(id, last_updated)`` of rows in
    that window already delivered."""

    read_from: int
    delivered: tuple[tuple[int, int], ...] = ()

    def encode(self) -> str:
        state = {"v": _CURSOR_VERSION, "from": self.read_from, "delivered": [list(pair) for pair in self.delivered]}
        return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        from jhe._jhe import ConfigurationError

        try:
            state = json.loads(base64.urlsafe_b64decode(text.encode()))
            if state["v"] != _CURSOR_VERSION:
                raise ValueError(f"version {state['v']}")
            delivered = tuple((int(i), int(t)) for i, t in state["delivered"])
            return cls(int(state["from"]), delivered)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ConfigurationError(f"not a cursor jhe wrote (batch.cursor or a state file's): {exc}") from None

    def after(self, result: NativeFetchResult, overlap: timedelta) -> Cursor:
        """The cursor once `result` (the poll from this one) was delivered: from `overlap`
        before the newest row read, less every delivered row since then."""
        newest = result.newest_last_updated
        read_from = self.read_from if newest is None else max(self.read_from, newest - overlap // timedelta(microseconds=1))
        delivered = {pair for pair in self.delivered if pair[1] >= read_from}
        delivered.update(result.delivered_since(read_from))
        return Cursor(read_from, tuple(sorted(delivered)))


def begin(since: str | date | datetime | None, cursor: str | None) -> Cursor | None:
    """Where a watch starts, as its caller said (checked now, not at the first poll):
    resumed at `cursor`, from `since`, or None: from the server's newest row."""
    from jhe._jhe import ConfigurationError

    if cursor is not None and since is not None:
        raise ConfigurationError("give since= or cursor=, not both: a cursor knows where it starts")
    if cursor is not None:
        return Cursor.decode(cursor)
    return None if since is None else Cursor(_instant("since", since))


def _transient(error: Exception) -> bool:
    """Whether a poll's failure is worth another poll: the server or the network failed
    (after the transport's own retries), or the data changed under the reading. A refused
    token or permission, a wrong id or argument is not."""
    from jhe._jhe import InconsistentResult, ServerError, TransportError

    return isinstance(error, ServerError | TransportError | InconsistentResult)


@dataclass
class Watch:
    """One watch's query and state: `request` is the native fetch's keywords, without
    ``updated_since``, which the cursor sets."""

    native: NativeClient
    filters: dict[str, Any]
    request: dict[str, Any]
    overlap: timedelta
    server: str | None = None
    deidentify: Deidentification | None = None

    def __post_init__(self) -> None:
        _jhe.check_changes_readable(self.filters)

    def batch(self, result: NativeFetchResult, after: Cursor) -> Observations:
        """What a poll that found rows yields: de-identified if asked, with its cursor."""
        batch = Observations(result, server=self.server)
        if self.deidentify is not None:
            batch = _deidentify.observations(batch, self.deidentify)
        batch.cursor = after.encode()
        return batch

    def _reading(self, cursor: Cursor) -> tuple[dict[str, Any], dict[str, Any]]:
        filters = {**self.filters, "updated_since": as_datetime(cursor.read_from)}
        return filters, {**self.request, "delivered": list(cursor.delivered)}

    def _start_from_newest(self, newest: int | None) -> Cursor:
        # Nothing matches yet: every row that appears will be new.
        return Cursor(0) if newest is None else Cursor(newest - self.overlap // timedelta(microseconds=1))

    def start(self, begin: Cursor | None) -> Cursor:
        """The first cursor: `begin`, else the server's newest row ("from now", by the
        server's clock), with the rows of the overlap window before it read as delivered."""
        if begin is not None:
            return begin
        start = self._start_from_newest(self.native.newest_update(self.filters, **self.request))
        if not start.read_from:
            return start
        # The rows already there inside the overlap window are not new.
        filters, request = self._reading(start)
        return start.after(self.native.fetch(filters, **request), self.overlap)

    async def start_async(self, begin: Cursor | None) -> Cursor:
        if begin is not None:
            return begin
        start = self._start_from_newest(await self.native.newest_update_async(self.filters, **self.request))
        if not start.read_from:
            return start
        filters, request = self._reading(start)
        return start.after(await self.native.fetch_async(filters, **request), self.overlap)

    def poll(self, cursor: Cursor) -> tuple[NativeFetchResult, Cursor]:
        filters, request = self._reading(cursor)
        result = self.native.fetch(filters, **request)
        return result, cursor.after(result, self.overlap)

    async def poll_async(self, cursor: Cursor) -> tuple[NativeFetchResult, Cursor]:
        filters, request = self._reading(cursor)
        result = await self.native.fetch_async(filters, **request)
        return result, cursor.after(result, self.overlap)


def _settle(
    watcher: Watch, position: Cursor, poll: tuple[NativeFetchResult, Cursor] | Exception, interval: float
) -> tuple[Cursor, Observations | None]:
    """After a poll: the next cursor, and the batch to yield if the poll found anything. A
    failed poll keeps the cursor if it may pass (logged), and raises if it may not."""
    if isinstance(poll, Exception):
        if not _transient(poll):
            raise poll
        log.warning("a poll failed, trying again in %s s: %s", interval, poll)
        return position, None
    result, after = poll
    if not (result.observations or result.error_count):
        return after, None
    return after, watcher.batch(result, after)


def watch(watcher: Watch, *, interval: float, begin: Cursor | None) -> Iterator[Observations]:
    """Poll every `interval` seconds, yielding each poll that found new or changed rows."""
    position = watcher.start(begin)
    while True:
        try:
            poll: tuple[NativeFetchResult, Cursor] | Exception = watcher.poll(position)
        except Exception as error:
            poll = error
        position, batch = _settle(watcher, position, poll, interval)
        if batch is not None:
            yield batch
        time.sleep(interval)


async def watch_async(watcher: Watch, *, interval: float, begin: Cursor | None) -> AsyncIterator[Observations]:
    """:func:`watch`, as an async iterator: sleeps without blocking the running loop."""
    position = await watcher.start_async(begin)
    while True:
        try:
            poll: tuple[NativeFetchResult, Cursor] | Exception = await watcher.poll_async(position)
        except Exception as error:
            poll = error
        position, batch = _settle(watcher, position, poll, interval)
        if batch is not None:
            yield batch
        await asyncio.sleep(interval)
