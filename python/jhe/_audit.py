"""The audit trail: one JSON line per retrieval, appended to a file that several processes
may write at once (``Client(audit_log=PATH)`` or ``JHE_AUDIT_LOG``).

Each line has, in this order:

- ``time``: when the call ended, UTC, ISO 8601 (``2026-12-02T21:05:11.123456Z``);
- ``server``: the Exchange's URL;
- ``user``: ``{"id", "email"}`` from ``users/profile``, asked once per client (null, with
  ``user_error``, if that failed);
- ``action``: ``fetch``, ``list_patients``, ``list_studies``, ``list_organizations``,
  ``get_patient``, ``get_consents``, ``export_csv``, ``export_parquet``, ``export_study``,
  ``sync``, ``watch_batch`` or ``quality``;
- ``query``: the call's arguments (ids, codes, filters; times as ISO text), never a key;
- ``rows``: observations returned (rows for a listing, rows added or updated for a sync);
- ``errors``: records that could not be decoded;
- ``files``: ``[{"path", "sha256", "bytes"}]`` of what an export or sync wrote;
- ``deidentified``: null or ``{"mode", "date_shift_days"}``; ``encrypted``: a bool;
- ``outcome``: ``"ok"``, or the error's class and message for a call that failed.

A line is built from those fields alone, and any of the client's secrets (token, client
secret or key, refresh token) that still appears in it is replaced before it is written.
An export's inner fetch is not a line of its own: its rows are the export's.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

ENV_PATH = "JHE_AUDIT_LOG"
FIELDS = ("time", "server", "user", "user_error", "action", "query", "rows", "errors", "files", "deidentified", "encrypted", "outcome")
REDACTED = "[redacted]"
# A sha256 is read in pieces this size.
_CHUNK = 1 << 20

# The line being made by the outermost audited call of this thread or task, if any: calls it
# makes (an export's fetch) add to it instead of writing their own.
_current: contextvars.ContextVar[Entry | None] = contextvars.ContextVar("jhe_audit_entry", default=None)


@dataclass
class Entry:
    """One line in the making."""

    action: str
    query: dict[str, Any]
    rows: int | None = None
    errors: int | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    deidentified: dict[str, Any] | None = None
    encrypted: bool = False
    outcome: str = "ok"


class AuditLog:
    """Appends lines to `path`: one ``write`` of the whole line to a file opened with
    ``O_APPEND``, under an exclusive ``flock`` where the system has one, so lines from
    several processes never interleave."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"jhe.AuditLog({str(self.path)!r})"

    def append(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(self.path, flags, 0o600)
        try:
            with _locked(descriptor):
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view):]
        finally:
            os.close(descriptor)


@contextmanager
def _locked(descriptor: int) -> Iterator[None]:
    if sys.platform == "win32":  # no flock; O_APPEND alone
        yield
        return
    import fcntl

    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


class Auditor:
    """A client's audit trail: its log, its server, who is signed in (asked once), and the
    secrets no line may show."""

    def __init__(self, log: AuditLog, server: str, ask_profile: Callable[[], dict[str, Any]], secrets: Iterable[str | None]) -> None:
        self.log = log
        self.server = server
        self._ask_profile = ask_profile
        self._user: tuple[dict[str, Any] | None, str | None] | None = None
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"jhe.Auditor({str(self.log.path)!r})"

    def user(self) -> tuple[dict[str, Any] | None, str | None]:
        if self._user is None:
            try:
                profile = self._ask_profile()
                self._user = ({"id": profile.get("id"), "email": profile.get("email")}, None)
            except Exception as error:  # the user's call goes on; the line says why
                self._user = (None, f"{type(error).__name__}: {error}")
        return self._user

    @contextmanager
    def call(self, action: str, query: dict[str, Any]) -> Iterator[Entry]:
        """The line of one call, written when it ends (also when it fails); a call made
        inside another audited one adds to that one's line instead."""
        outer = _current.get()
        if outer is not None:
            yield outer
            return
        entry = Entry(action, query)
        token = _current.set(entry)
        try:
            yield entry
        except BaseException as error:
            entry.outcome = f"{type(error).__name__}: {error}"
            raise
        finally:
            _current.reset(token)
            self.write(entry)

    def write(self, entry: Entry) -> None:
        user, user_error = self.user()
        line: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "server": self.server,
            "user": user,
            "user_error": user_error,
            "action": entry.action,
            "query": entry.query,
            "rows": entry.rows,
            "errors": entry.errors,
            "files": entry.files,
            "deidentified": entry.deidentified,
            "encrypted": entry.encrypted,
            "outcome": entry.outcome,
        }
        self.log.append(self._scrubbed({name: line[name] for name in FIELDS if name != "user_error" or user_error}))

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {key: self._scrubbed(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._scrubbed(item) for item in value]
        return value


def json_safe(value: Any) -> Any:
    """An argument as a line records it: plain values as they are, times as ISO text,
    sequences as lists; anything else (a key's holder among them) by its type name only."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return type(value).__name__


def file_entries(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Each file's path, sha256 and size; a directory (Hive partitions) by its files."""
    entries = []
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                entries.append({"path": str(file), "sha256": _sha256(file), "bytes": file.stat().st_size})
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The log's lines, and ``(line number, why)`` of each that is not one."""
    lines, bad = [], []
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as error:
                bad.append((number, f"not JSON ({error.msg})"))
                continue
            if not isinstance(line, dict) or "action" not in line:
                bad.append((number, "not an audit line"))
                continue
            lines.append(line)
    return lines, bad


# What the client's methods record: the decorator, and how each kind of result is read.

# Arguments that are not the query: shown elsewhere in the line, or not at all.
_NOT_QUERY = ("self", "progress", "deidentify", "encryption", "filters", "_files_before")


# The decorated method keeps its signature (and its overloads) for type checkers.
Method = TypeVar("Method", bound=Callable[..., Any])


def audited(
    action: str, observe: Callable[[Entry, Any, dict[str, Any]], None], prepare: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[Method], Method]:
    """A client method that writes a line per call when its client has an audit log
    (otherwise it costs one attribute read). `observe(entry, result, arguments)` reads
    the call's result into its line; `prepare(arguments)` notes what it needs from before
    the call."""
    import functools
    import inspect

    def decorate(method: Method) -> Method:
        signature = inspect.signature(method)

        def begin(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Auditor, dict[str, Any]] | None:
            auditor = client._auditor
            if auditor is None:
                return None
            bound = signature.bind(client, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if prepare is not None:
                prepare(arguments)
            return auditor, arguments

        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def awaited(client: Any, *args: Any, **kwargs: Any) -> Any:
                started = begin(client, args, kwargs)
                if started is None:
                    return await method(client, *args, **kwargs)
                auditor, arguments = started
                with auditor.call(action, query_of(arguments)) as entry:
                    note_settings(entry, arguments)
                    result = await method(client, *args, **kwargs)
                    observe(entry, result, arguments)
                    return result

            return cast(Method, awaited)

        @functools.wraps(method)
        def called(client: Any, *args: Any, **kwargs: Any) -> Any:
            started = begin(client, args, kwargs)
            if started is None:
                return method(client, *args, **kwargs)
            auditor, arguments = started
            with auditor.call(action, query_of(arguments)) as entry:
                note_settings(entry, arguments)
                result = method(client, *args, **kwargs)
                observe(entry, result, arguments)
                return result

        return cast(Method, called)

    return decorate


def query_of(arguments: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments that say what was asked, the filters among them."""
    query = {name: json_safe(value) for name, value in arguments.items() if name not in _NOT_QUERY and value is not None}
    query.update({name: json_safe(value) for name, value in (arguments.get("filters") or {}).items() if value is not None})
    return query


def note_settings(entry: Entry, arguments: dict[str, Any]) -> None:
    """Whether the call de-identifies or encrypts, from its arguments (without a key)."""
    deidentify = arguments.get("deidentify")
    if deidentify is not None and deidentify is not False:
        from jhe._deidentify import DEFAULT_SHIFT_DAYS

        described = getattr(deidentify, "describe", None)
        entry.deidentified = described() if described else {"mode": "pseudonymize", "date_shift_days": DEFAULT_SHIFT_DAYS}
    if arguments.get("encryption") is not None:
        entry.encrypted = True


def observations(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
    """A fetch: its rows and errors (an export's or report's inner fetch adds to theirs)."""
    entry.rows = (entry.rows or 0) + int(result.total)
    entry.errors = (entry.errors or 0) + len(result.errors)
    if result.deidentified is not None:
        entry.deidentified = result.deidentified


def listing(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
    entry.rows = len(result)


def document(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
    entry.rows = 1


def export(format_argument: str | None) -> Callable[[Entry, Any, dict[str, Any]], None]:
    """An export's files: what it returned (a file, a directory of partitions, or a file
    per code), each with its errors sidecar when there is one."""

    def observe(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
        from jhe._export import sidecar_name, sidecar_stem

        written = list(result.values()) if isinstance(result, dict) else [result]
        format = arguments.get(format_argument, "parquet") if format_argument else ("csv" if Path(result).suffix == ".csv" else "parquet")
        paths = []
        for path in map(Path, written):
            paths.append(path)
            sidecar = path.parent / sidecar_name(sidecar_stem(path, format), format)
            if sidecar.exists() and path.is_file():
                paths.append(sidecar)
        entry.files = file_entries(paths)

    return observe


def files_under(path: Path) -> set[Path]:
    return {file for file in path.rglob("*") if file.is_file()} if path.is_dir() else set()


def before_sync(arguments: dict[str, Any]) -> None:
    arguments["_files_before"] = files_under(Path(arguments["path"]))


def sync(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
    """A sync: rows added or updated, and the files its commits wrote (the new ones)."""
    entry.rows = int(result.added + result.updated)
    before = arguments.get("_files_before", set())
    entry.files = file_entries(sorted(files_under(Path(arguments["path"])) - before))


def quality(entry: Entry, result: Any, arguments: dict[str, Any]) -> None:
    """A quality report: its fetch already counted its rows."""


def batches(auditor: Auditor | None, query: dict[str, Any], stream: Iterator[Any]) -> Iterator[Any]:
    """A watch's batches, each recorded as it is yielded."""
    for batch in stream:
        if auditor is not None:
            auditor.write(batch_entry(query, batch))
        yield batch


async def batches_async(auditor: Auditor | None, query: dict[str, Any], stream: Any) -> Any:
    async for batch in stream:
        if auditor is not None:
            auditor.write(batch_entry(query, batch))
        yield batch


def batch_entry(query: dict[str, Any], batch: Any) -> Entry:
    return Entry("watch_batch", query, rows=int(batch.total), errors=len(batch.errors), deidentified=batch.deidentified)
