"""The public client."""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Unpack, cast

from jhe import _audit, _convert, _deidentify, _empty, _export, _mirror, _progress, _watch
from jhe._jhe import NativeClient
from jhe._result import Observations
from jhe._typing import ClientOptions, Fetch, FetchAsync, Filters

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from jhe._deidentify import Deidentification
    from jhe._encryption import Encryption
    from jhe._jhe import NativeFetchResult
    from jhe._typing import NativeRequest
    from jhe.quality import QualityReport


def _argument_error(message: str) -> Exception:
    """A :class:`jhe.ArgumentError`, as the native layer raises it (no status, URL or diagnostics)."""
    from jhe._jhe import ArgumentError

    error = ArgumentError(message)
    error.status = error.url = error.diagnostics = None
    return error


def _checked_id(name: str, value: object) -> int:
    """An id argument: a positive int (not a bool, not text), else an error naming it."""
    from jhe._jhe import ConfigurationError

    if isinstance(value, bool) or not isinstance(value, int):
        raise _argument_error(f"{name} must be an int, not {type(value).__name__}")
    if value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {value}")
    return value


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _checked(method: _Method) -> _Method:
    """`method`, raising :class:`jhe.ArgumentError` (not a bare TypeError) for arguments it
    does not take, as the native layer does for filters."""
    signature = inspect.signature(method)

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise _argument_error(f"{method.__qualname__}() {exc}") from None

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return await method(*args, **kwargs)

        return cast(_Method, awaited)

    @functools.wraps(method)
    def called(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
        return method(*args, **kwargs)

    return cast(_Method, called)


def _then(name: str, fetch: Callable[..., Any], convert: Callable[[Observations], Any], doc: str) -> Any:
    """The method `name`: `fetch` (sync or async), then `convert`. It has `fetch`'s
    signature; the class declares its type (:class:`~jhe._typing.Fetch`)."""

    async def awaited(self: Client, *args: Any, **kwargs: Any) -> Any:
        return convert(await fetch(self, *args, **kwargs))

    def called(self: Client, *args: Any, **kwargs: Any) -> Any:
        return convert(fetch(self, *args, **kwargs))

    method: Any = awaited if inspect.iscoroutinefunction(fetch) else called
    method.__name__, method.__qualname__, method.__doc__ = name, f"Client.{name}", doc
    returns = inspect.signature(convert).return_annotation
    method.__signature__ = inspect.signature(fetch).replace(return_annotation=returns)
    return method


def _interval(seconds: float) -> float:
    """A polling interval: a non-negative number of seconds."""
    from jhe._jhe import ConfigurationError

    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise _argument_error(f"interval must be a number of seconds, not {type(seconds).__name__}")
    if not seconds >= 0:
        raise ConfigurationError(f"interval must be a non-negative number of seconds, got {seconds!r}")
    return float(seconds)


def _keeping(filters: dict[str, Any], *needed: str) -> dict[str, Any]:
    """``filters`` whose ``columns=`` (if any) also holds the ``needed`` columns."""
    columns = filters.get("columns")
    if columns is None or isinstance(columns, str):
        return filters  # every column, or a str the native fetch refuses
    return {**filters, "columns": [*columns, *(name for name in needed if name not in columns)]}


def _overlap_window(overlap: timedelta | float) -> timedelta:
    """How far before its cursor a reading of changes starts again: a timedelta or seconds."""
    from jhe._jhe import ConfigurationError

    window = overlap if isinstance(overlap, timedelta) else timedelta(seconds=overlap)
    if window < timedelta(0):
        raise ConfigurationError(f"overlap must not be negative, got {overlap!r}")
    return window


def _incremental_deidentification(deidentify: bool | Deidentification | None) -> Deidentification | None:
    """``deidentify=`` of a watch or sync, which read part of a result at a time: Safe
    Harbor's times count from each patient's first observation, which they do not see."""
    settings = _deidentify.resolve(deidentify)
    if settings is not None and settings.mode == "safe_harbor":
        from jhe._jhe import ConfigurationError

        raise ConfigurationError(
            "Safe Harbor counts times from each patient's first observation, which a watch or sync, "
            'reading what changed, does not see: use mode="pseudonymize"'
        )
    return settings


def _require_writer() -> None:
    """Exports write with pyarrow: say so before fetching, naming the extra to install."""
    _convert._require("pyarrow", "pyarrow")


class Client:
    """A connection to one JupyterHealth Exchange.

    Args:
        url: The Exchange's address, e.g. ``https://jhe.example.org``. Defaults to ``JHE_URL``.
        token: An OAuth access token. Defaults to ``JHE_TOKEN`` (JupyterHub injects it).
        client_key: The key JHE issues for scripts (``practitioner_clients``): base64 of
            ``client_id:client_secret``. Tokens are then minted and renewed automatically.
        client_id, client_secret: The same as a pair (also ``JHE_CLIENT_ID`` and
            ``JHE_CLIENT_SECRET`` when no token is set).
        refresh_token: An OAuth refresh token (from the interactive login); each refresh
            returns the next one.
        timeout: Seconds one request may take, from connecting to the last byte of the
            answer (default 60, at most 86400).
        retries: Retries of a request that failed transiently: connection errors, timeouts,
            429, 500, 502, 503, 504 (default 5, at most 100), with exponential backoff and
            jitter, honouring ``Retry-After`` up to 60 seconds (a server asking for longer
            gets an error that says how long it asked for).
        concurrency: Pages fetched at once when a fetch starts (default 16, at most 64).
        max_concurrency: The most pages fetched at once (default 32, or ``concurrency`` if
            higher; at most 64). A fetch raises its pages in flight from ``concurrency``
            towards this while the server answers as fast, and lowers them again when the
            server slows down or answers 429 or 503 (it may then go below
            ``concurrency``). Set it to ``concurrency`` for a fixed number.
        page_size: Rows per page (1-1000; default 1000, the server's maximum).
        max_response_bytes: The largest answer read, counted after decompression (default
            64 MiB; a page of 1000 observations is under 2 MB). A larger one is a
            :class:`jhe.ProtocolError`.
        allow_insecure: Allow plain ``http://`` to a host other than this machine.
        audit_log: A file to append one JSON line to for every fetch, listing, export, sync,
            watch batch and quality report (see :mod:`jhe._audit`); defaults to
            ``JHE_AUDIT_LOG``. Several processes may share one.

    The environment is read when the client is made. No token or secret ever appears in a
    repr, a log line or an exception, and none is sent anywhere but the Exchange: redirects
    are followed only on its scheme, host and port, and never from its token endpoint.

    >>> client = jhe.Client()  # doctest: +SKIP
    >>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # doctest: +SKIP
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, audit_log: str | os.PathLike[str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._native = NativeClient(url, token, **options)
        self._profile: dict[str, Any] | None = None
        self._auditor = self._auditor_for(audit_log or os.environ.get(_audit.ENV_PATH) or None, token, options)

    def _auditor_for(self, path: str | os.PathLike[str] | None, token: str | None, options: ClientOptions) -> _audit.Auditor | None:
        """The audit trail, if asked for; it knows the secrets only to keep them out of it."""
        if path is None:
            return None
        secrets = [token, options.get("client_secret"), options.get("client_key"), options.get("refresh_token")]
        secrets += [os.environ.get(name) for name in ("JHE_TOKEN", "JHE_CLIENT_SECRET")]
        return _audit.Auditor(_audit.AuditLog(path), self.url, lambda: self._get("users/profile"), secrets)

    @property
    def url(self) -> str:
        """The Exchange's address."""
        return self._native.url

    def __repr__(self) -> str:
        return f"jhe.Client(url={self.url!r}, auth={self._native.auth_method!r})"

    def _fetch_native(self, filters: Filters, progress: bool | None, **request: Unpack[NativeRequest]) -> NativeFetchResult:
        """The native fetch of the caller's `filters` and `request`, with progress bars if wanted."""
        bars = _progress.Bars() if _progress.wanted(progress) else None
        try:
            return self._native.fetch(filters, progress=bars, **request)
        finally:
            if bars is not None:
                bars.close()

    @_checked
    @_audit.audited("fetch", _audit.observations)
    def fetch(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        strict: bool = False,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> Observations:
        """Fetch observations, every page, into Arrow tables (see :class:`jhe.Observations`).

        Every filter is applied by the server (on older servers that ignore time filters,
        jhe applies them itself, so none is silently dropped).

        Args:
            study_id: Patients enrolled in this study, codes the study asks for.
            patient_id: One patient.
            code: One data type (``"omh:blood-glucose:4.0"``) or several.
            progress: Progress bars for pages and observations; default: on in a notebook
                or a terminal, off otherwise.
            strict: Raise :class:`jhe.DecodeError` if an observation could not be fully
                decoded, instead of keeping it and listing the problem in ``errors``.
            deidentify: ``True`` (the key from ``JHE_DEID_KEY``) or a
                :class:`jhe.Deidentification`: the result de-identified, as
                :meth:`jhe.Observations.deidentify` does.
            api: ``"fhir"``, ``"rest"`` (the admin API: no code or time filters), or
                ``"auto"`` (default): FHIR, unless an older server's FHIR cannot take the
                query and REST can.
            since: Effective time at or after this (a date, datetime or ISO text; naive means UTC).
            until: Effective time before this.
            updated_since: Stored or changed on the server at or after this.
            patient_identifier: ``(system, value)``, e.g. an MRN.
            organization_id: Patients of this organization.
            source: Which records: ``None`` (default) the Exchange's own; ``"imported"``
                those imported from EHRs; a FHIR source's id or URI, that source's;
                ``"all"`` both. An Exchange whose CapabilityStatement does not list
                ``_source`` is refused (:class:`jhe.ConfigurationError`): it would ignore
                the filter and answer with its own records.
            layout: ``"wide"``: one row per observation with the data type's typed columns,
                one table per code. ``"long"``: one tidy table for any mix, one row per
                observation and measure. Default: wide when one code is asked for, else long.
            columns: Keep only these columns (minimum necessary); the others are not built.
                They keep the table's order, not the order given; rows and the errors table
                are unchanged. A name that is not a column of the layout (for the codes asked
                for) is a :class:`jhe.ConfigurationError` listing the columns. For a code the
                catalogue does not know (wide layout), key-path columns are named by its
                data, so any name is accepted for it and kept when a column has it. Watch
                also keeps ``observation_id`` and ``last_updated``, sync those and
                ``duplicate_uuid``: they need them. Not for the flat layout (``jhe.compat``).

        Raises:
            jhe.InconsistentResult: the rows received do not match the server's total even
                after re-reading what changed during the fetch.

        Warns:
            jhe.EmptyResultWarning: nothing matched a study's or patient's query; jhe then
                asks the Exchange why (not enrolled, code not requested, no consent or
                consent pending, no data in the time range, an unknown code) and says so,
                also in ``obs.source["empty_reason"]``.

        >>> obs = client.fetch(study_id=30001, code="omh:heart-rate:2.0", since="2025-06-01")  # doctest: +SKIP
        >>> obs.to_pandas()  # doctest: +SKIP
        """
        settings = _deidentify.resolve(deidentify)
        filters = _deidentify.selection(filters, settings)
        native = self._fetch_native(filters, progress, study_id=study_id, patient_id=patient_id, codes=code)
        result = Observations(native, strict=strict, server=self.url)
        _empty.warn_if_empty(self._native, result, study_id, patient_id, code, dict(filters))
        return _deidentify.observations(result, settings) if settings else result

    @_checked
    @_audit.audited("fetch", _audit.observations)
    async def fetch_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        strict: bool = False,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> Observations:
        """:meth:`fetch`, awaitable: runs on jhe's Rust runtime, so it works inside Jupyter's
        running event loop, and several awaited fetches run at once.

        >>> obs = await client.fetch_async(study_id=30001)  # doctest: +SKIP
        """
        settings = _deidentify.resolve(deidentify)
        filters = _deidentify.selection(filters, settings)
        native = await self._native.fetch_async(filters, study_id=study_id, patient_id=patient_id, codes=code)
        result = Observations(native, strict=strict, server=self.url)
        if not result.total:
            import asyncio  # here, not at import: it costs a fresh kernel more than a fetch

            # The lookups are blocking calls (the GIL released): off the event loop.
            await asyncio.to_thread(_empty.warn_if_empty, self._native, result, study_id, patient_id, code, dict(filters))
        return _deidentify.observations(result, settings) if settings else result

    # The conversions: fetch's signature, one table as a frame and one per code as a dict.
    fetch_dataframe: Fetch[pd.DataFrame, dict[str, pd.DataFrame]] = _then(
        "fetch_dataframe",
        fetch,
        Observations._take_pandas,
        """:meth:`fetch` into pandas: one DataFrame, or a dict keyed by code (wide layout,
        several codes).

        Every layout has ``observation_id``, ``patient_id``, ``code``, ``effective_start``,
        ``effective_end`` (UTC), ``utc_offset`` (the payload's own offset), ``last_updated``,
        ``created`` (the OMH header's creation time), ``uuid``, ``duplicate_uuid``, ``modality``, ``source_name``, and ``patient_name`` /
        ``data_source`` where the API gives them. Wide adds ``timestamp`` (the guide's name
        for ``effective_start``) and the data type's columns, e.g. ``glucose_mg_dl`` and
        ``meal_context``; long adds ``measure``, ``value``, ``unit``, ``canonical_value``,
        ``canonical_unit`` and ``text``. Records that could not be decoded are kept and listed
        in ``df.attrs["jhe_errors"]`` with a :class:`jhe.DecodeWarning`, or raise
        :class:`jhe.DecodeError` with ``strict=True``.

        >>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # doctest: +SKIP
        >>> df[["patient_id", "timestamp", "glucose_mg_dl"]].head()  # doctest: +SKIP
        """,
    )
    fetch_arrow: Fetch[pa.Table, dict[str, pa.Table]] = _then(
        "fetch_arrow", fetch, Observations.to_arrow, ":meth:`fetch` as pyarrow Tables (one, or a dict keyed by code)."
    )
    fetch_polars: Fetch[pl.DataFrame, dict[str, pl.DataFrame]] = _then(
        "fetch_polars", fetch, Observations.to_polars, ":meth:`fetch` as polars DataFrames (one, or a dict keyed by code)."
    )
    fetch_dataframe_async: FetchAsync[pd.DataFrame, dict[str, pd.DataFrame]] = _then(
        "fetch_dataframe_async", fetch_async, Observations._take_pandas, ":meth:`fetch_dataframe`, awaitable."
    )
    fetch_arrow_async: FetchAsync[pa.Table, dict[str, pa.Table]] = _then(
        "fetch_arrow_async", fetch_async, Observations.to_arrow, ":meth:`fetch_arrow`, awaitable."
    )
    fetch_polars_async: FetchAsync[pl.DataFrame, dict[str, pl.DataFrame]] = _then(
        "fetch_polars_async", fetch_async, Observations.to_polars, ":meth:`fetch_polars`, awaitable."
    )

    # Watching: polls that read only what changed (jhe._watch).

    def _watcher(
        self, study_id: int | None, patient_id: int | None, code: str | Sequence[str] | None,
        overlap: timedelta | float, filters: Filters, deidentify: bool | Deidentification | None = None,
    ) -> _watch.Watch:
        if "updated_since" in filters:
            raise _argument_error("watch reads by updated_since itself: start earlier with since=, or resume with cursor=")
        settings = _incremental_deidentification(deidentify)
        request = {"study_id": study_id, "patient_id": patient_id, "codes": code}
        # A poll skips the rows delivered before by (id, last_updated).
        watched = _deidentify.selection(_keeping(dict(filters), "observation_id", "last_updated"), settings)
        return _watch.Watch(self._native, watched, request, _overlap_window(overlap), self.url, settings)

    @_checked
    def watch(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        interval: float = 60,
        since: str | date | datetime | None = None,
        cursor: str | None = None,
        overlap: timedelta | float = _watch.DEFAULT_OVERLAP,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> Iterator[Observations]:
        """Poll every ``interval`` seconds for observations stored or changed on the server,
        yielding one :class:`jhe.Observations` per poll that found any.

        Each poll reads only what changed since the last (``_lastUpdated`` on current
        servers; on older ones, which ignore it, the REST list, newest first, up to the
        rows already read). A row changed on the server comes again, as a change; a row is
        never delivered twice unchanged, even one committed late inside the ``overlap``
        window (seconds, default 5) that each poll reads again.

        Args:
            since: Start here instead of "from now" (the server's newest row, by its own
                clock, not this machine's).
            cursor: Resume exactly where an earlier watch stopped: its last batch's
                ``batch.cursor``.
            deidentify: Each batch de-identified as :meth:`fetch` does (pseudonymize mode).

        A poll that fails on the server's or the network's side (after the usual retries)
        is logged and tried again at the next interval; a refused token or permission, or a
        wrong argument, ends the watch with its error. Ctrl-C stops it.

        >>> for batch in client.watch(study_id=30001, code="omh:blood-glucose:4.0", interval=60):  # doctest: +SKIP
        ...     print(batch.total, "new", batch.cursor)
        """
        watcher = self._watcher(study_id, patient_id, code, overlap, filters, deidentify)
        stream = _watch.watch(watcher, interval=_interval(interval), begin=_watch.begin(since, cursor))
        return _audit.batches(self._auditor, _audit.query_of({**watcher.request, "filters": filters}), stream)

    @_checked
    def watch_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        interval: float = 60,
        since: str | date | datetime | None = None,
        cursor: str | None = None,
        overlap: timedelta | float = _watch.DEFAULT_OVERLAP,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> AsyncIterator[Observations]:
        """:meth:`watch` as an async iterator, for Jupyter's running event loop:
        ``async for batch in client.watch_async(...)``."""
        watcher = self._watcher(study_id, patient_id, code, overlap, filters, deidentify)
        stream = _watch.watch_async(watcher, interval=_interval(interval), begin=_watch.begin(since, cursor))
        return _audit.batches_async(self._auditor, _audit.query_of({**watcher.request, "filters": filters}), stream)

    @_checked
    @_audit.audited("sync", _audit.sync, _audit.before_sync)
    def sync(
        self,
        path: str | os.PathLike[str],
        study_id: int | None = None,
        patient_id: int | None = None,
        codes: str | Sequence[str] | None = None,
        *,
        full: bool = False,
        overlap: timedelta | float = _watch.DEFAULT_OVERLAP,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> _mirror.SyncResult:
        """Keep a local mirror of a query current: one Delta Lake table per code under
        ``path`` (``omh_blood-glucose_4.0/``, ...), and ``_errors/`` for the records that
        could not be decoded. Needs ``pip install 'jhe[mirror]'``.

        The first sync fetches everything; later ones read only what was stored or changed
        since the last (as :meth:`watch` does) and merge it by observation id, a changed row
        replacing the old one. Each sync checks the mirror's row count against the server's
        count for the same query: rows deleted on the server show as ``drift``, and
        ``full=True`` rebuilds the mirror. A sync killed at any point leaves the mirror
        readable at its previous version, and the next sync correct. Read it back with
        :func:`jhe.read_mirror`, ``pl.read_delta(path / "omh_blood-glucose_4.0")``, DuckDB's
        ``delta_scan`` or Spark. One mirror per query: sync the same query into a path.

        ``deidentify`` stores the rows de-identified as :meth:`fetch` does (pseudonymize
        mode: Safe Harbor's times depend on the whole result, which a sync does not read).
        A mirror is synced one way only: always with the same key, or never de-identified.

        >>> result = client.sync("mirror/", study_id=30001)  # doctest: +SKIP
        >>> result.added, result.updated, result.drift  # doctest: +SKIP
        """
        if "updated_since" in filters or "layout" in filters:
            raise _argument_error("sync reads by updated_since in the wide layout itself; it takes neither")
        settings = _incremental_deidentification(deidentify)
        request = {"study_id": study_id, "patient_id": patient_id, "codes": codes}
        # The mirror merges by id where last_updated is newer, and counts duplicate uuids.
        mirrored = _deidentify.selection(_keeping(dict(filters), "observation_id", "last_updated", "duplicate_uuid"), settings)
        return _mirror.sync(
            self._native, Path(path), mirrored, request, full=full, overlap=_overlap_window(overlap), deidentify=settings
        )

    # Exports: written from Arrow (no pandas round trip), atomically.

    @_checked
    @_audit.audited("export_csv", _audit.export(None))
    def export_csv(
        self,
        path: str | os.PathLike[str],
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        preset: Literal["guide"] | None = None,
        progress: bool | None = None,
        strict: bool = False,
        neutralize_formulas: bool = True,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> Path:
        """Fetch and write one CSV file (the long layout unless one code is asked for).

        ``preset="guide"`` writes the guide's blood glucose CSV: ``Observation ID``,
        ``Patient Name``, ``Date/Time``, ``Glucose (mg/dL)``, ``Meal Context`` (``N/A`` when
        absent), ``Data Source`` (the OMH ``source_name``) and ``Created`` (the server's
        ``lastUpdated``); it fetches ``omh:blood-glucose:4.0`` unless ``code`` says otherwise.

        Records that could not be fully decoded are exported as they are and listed beside
        the file in ``<name>.errors.csv`` (``observation_id``, ``code``, ``reason``, ``raw``),
        with a :class:`jhe.DecodeWarning`; ``strict=True`` raises :class:`jhe.DecodeError`
        instead and writes nothing.

        Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
        ``-``, ``@``, a tab or a carriage return) are written with a single quote before
        them, as OWASP advises against CSV injection; numbers stay numbers.
        ``neutralize_formulas=False`` writes them as they are.

        ``deidentify`` de-identifies what is written, as :meth:`fetch` does (the guide preset
        then has ``Patient``, the pseudonym, instead of ``Patient Name``).

        The files are written under a temporary directory beside ``path`` and moved into
        place when complete, so an interrupted export leaves no half file. The directory
        must exist. Returns the path written.
        """
        target = Path(path)
        _export.check_target(target, directory=False)
        if preset == "guide" and filters.get("columns") is not None:
            raise _argument_error('preset="guide" writes the guide\'s own columns; it takes no columns=')
        settings = _deidentify.resolve(deidentify)
        if preset == "guide":
            _convert._require("pandas", "pandas")  # the patients' names come from list_patients
            code = code or _export.GUIDE_GLUCOSE_CODE
            filters.setdefault("layout", "wide")
            if settings is not None and settings.mode == "safe_harbor":
                from jhe._jhe import ConfigurationError

                raise ConfigurationError('preset="guide" writes dates and times, which Safe Harbor does not keep: use mode="pseudonymize"')
        _require_writer()
        observations = self.fetch(study_id, patient_id, code, progress=progress, strict=strict, deidentify=settings, **filters)
        if preset == "guide":
            names = self.list_patients(study_id=study_id) if settings is None else None
            table = _export.guide_glucose_table(observations, names)
        elif preset is None:
            table = _export.single_table(observations)
        else:
            raise ValueError(f'preset must be "guide" or None, got {preset!r}')
        return _export.export_table(observations, table, target, "csv", _export.Writing(neutralize_formulas=neutralize_formulas))

    @_checked
    @_audit.audited("export_parquet", _audit.export(None))
    def export_parquet(
        self,
        path: str | os.PathLike[str],
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        partition_by: Sequence[str] | None = None,
        progress: bool | None = None,
        strict: bool = False,
        encryption: Encryption | None = None,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> Path:
        """Fetch and write Parquet: one file, or with ``partition_by=["code"]`` or
        ``["patient_id"]`` a directory of Hive partitions (``code=<value>/part-0.parquet``,
        the value URL-escaped as pyarrow writes it: ``code=omh%3Aheart-rate%3A2.0``).

        Several codes in the wide layout need ``partition_by=["code"]`` (one schema per code).
        Damaged records are listed beside it in ``<name>.errors.parquet``, as
        :meth:`export_csv` does. Written under a temporary directory and moved into place
        when complete. Returns the path written.

        ``encryption=jhe.Encryption(...)`` writes the file and its sidecar with Parquet
        modular encryption (AES-GCM, encrypted footer): readable with the key by pyarrow
        (:func:`jhe.read_parquet`) and Spark, unreadable without it. Not with ``partition_by``.

        ``deidentify`` de-identifies what is written, as :meth:`fetch` does;
        ``partition_by=["patient_id"]`` then partitions by ``pseudonym``.
        """
        target = Path(path)
        _export.check_target(target, directory=bool(partition_by))
        _require_writer()
        writing = _export.Writing(encryption=encryption)
        writing.check("parquet", partition_by)
        settings = _deidentify.resolve(deidentify)
        if settings is not None and partition_by:
            partition_by = ["pseudonym" if name == "patient_id" else name for name in partition_by]
        # The partitions are made from their columns (a pseudonym from its patient_id).
        needed = ["patient_id" if name == "pseudonym" else name for name in partition_by or []]
        filters = cast(Filters, _keeping(dict(filters), *needed))
        observations = self.fetch(study_id, patient_id, code, progress=progress, strict=strict, deidentify=settings, **filters)
        return _export.write_parquet(observations, target, partition_by, writing)

    @_checked
    @_audit.audited("export_study", _audit.export("format"))
    def export_study(
        self,
        organization_id: int,
        study_id: int,
        codes: Sequence[str] | None = None,
        *,
        path: str | os.PathLike[str] = ".",
        format: Literal["parquet", "csv"] = "parquet",
        progress: bool | None = None,
        strict: bool = False,
        neutralize_formulas: bool = True,
        encryption: Encryption | None = None,
        deidentify: bool | Deidentification | None = None,
        **filters: Unpack[Filters],
    ) -> dict[str, Path]:
        """Export every patient of a study: one study-level fetch (pages in parallel), then
        one file per code in ``path`` (made if missing), each in the wide layout:
        ``omh_blood-glucose_4.0.parquet`` for ``omh:blood-glucose:4.0``. A code that cannot
        be a file name as it is (``_``, ``/``, upper case, very long) is written readably
        with a short hash of it (``omh/x/1.0`` → ``omh_x_1.0~34356f57f4cb.parquet``), so no two codes share a
        file. Each code's damaged records go beside its file (``<name>.errors.parquet``).
        All files are written under one temporary directory and moved into place together
        when complete.

        The study must belong to ``organization_id``. Returns ``{code: file}``. CSV files
        neutralize formulas as :meth:`export_csv` does (``neutralize_formulas``); Parquet
        files (and their sidecars) are encrypted with ``encryption`` as in
        :meth:`export_parquet`, and ``deidentify`` de-identifies them as :meth:`fetch` does.
        """
        _require_writer()
        target = Path(path)
        _export.check_target(target, directory=True)
        if format not in ("parquet", "csv"):
            raise ValueError(f'format must be "parquet" or "csv", got {format!r}')
        writing = _export.Writing(neutralize_formulas=neutralize_formulas, encryption=encryption)
        writing.check(format)
        settings = _deidentify.resolve(deidentify)
        _checked_id("organization_id", organization_id)
        study = self._get(f"studies/{_checked_id('study_id', study_id)}")
        owner = (study.get("organization") or {}).get("id")
        if owner != organization_id:
            from jhe._jhe import ConfigurationError

            raise ConfigurationError(f"study {study_id} belongs to organization {owner}, not {organization_id}")
        filters["layout"] = "wide"
        observations = self.fetch(study_id, None, codes or None, progress=progress, strict=strict, deidentify=settings, **filters)
        return _export.write_per_code(observations, target, format, writing)

    @_checked
    @_audit.audited("quality", _audit.quality)
    def quality(
        self,
        study_id: int,
        codes: str | Sequence[str] | None = None,
        *,
        since: date | datetime | str | None = None,
        until: date | datetime | str | None = None,
        patient_id: int | None = None,
        progress: bool | None = None,
        **settings: Any,
    ) -> QualityReport:
        """A data-quality report over a study: one fetch of the study (never one per patient:
        one search for every code it requests, or one per code named), the study's patients,
        requested scopes and consents, then every check of :mod:`jhe.quality`. Needs
        ``pip install 'jhe[quality]'``.

        Args:
            study_id: The study.
            codes: The codes to check; default: every observation code the study requests.
            since, until: The effective-time window, as in :meth:`fetch`.
            patient_id: Only this patient of the study.
            progress: Progress bars for the fetch, as in :meth:`fetch`.
            settings: ``k`` (gaps: a gap is longer than k × the median interval; 3),
                ``threshold_std`` (zscore; 3), ``mad_k`` (mad; 3), ``valid_day_percent``
                (coverage; 70) and ``tolerance`` (timestamps; 5 minutes).

        >>> report = client.quality(30001)  # doctest: +SKIP
        >>> report.completeness[report.completeness.status != "has data"]  # doctest: +SKIP
        >>> report.to_html("report.html")  # doctest: +SKIP
        """
        from jhe.quality._study_report import study_report

        return study_report(self, study_id, _empty.as_codes(codes), since=since, until=until, patient_id=patient_id, progress=progress, **settings)

    def _repr_html_(self) -> str:
        """The Exchange, how the client signs in, and who you are if :meth:`profile` has
        been asked. A display never sends a request (a dead server must not hang a
        notebook cell) and never shows a credential."""
        import html as _html

        profile = self._profile
        who = (
            f"signed in as {_html.escape(str(profile.get('firstName', '')))} {_html.escape(str(profile.get('lastName', '')))} "
            f"&lt;{_html.escape(str(profile.get('email', '')))}&gt; ({_html.escape(str(profile.get('userType', '')))}), "
            if profile is not None
            else "not asked yet who you are (<code>client.profile()</code> asks), "
        )
        return (
            f"<p><b>jhe.Client</b> for <code>{_html.escape(self.url)}</code><br>"
            f"{who}by {_html.escape(self._native.auth_method)}</p>"
        )

    # Listing calls: small, so they come back as JSON and become DataFrames or dicts.

    def _list(self, path: str, **params: int | None) -> pd.DataFrame:
        pairs = [(name, str(_checked_id(name, value))) for name, value in params.items() if value is not None]
        pandas = _convert._require("pandas", "pandas")
        return pandas.DataFrame(json.loads(self._native.list_json(path, pairs)))

    def _get(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._native.get_json(path))
        return document

    @_checked
    @_audit.audited("fetch_resources", _audit.listing)
    def fetch_resources(
        self,
        resource_type: str,
        *,
        study_id: int | None = None,
        patient_id: int | None = None,
        source: str | int | None = None,
        params: dict[str, Any] | None = None,
    ) -> pa.Table:
        """Every resource of one FHIR type a search matches (``"Condition"``,
        ``"MedicationRequest"``, ``"Encounter"``, ...), as one pyarrow Table.

        Columns: ``id``, ``patient_id`` (the Exchange's patient: an imported record's
        ``patient-id`` extension, never the EHR's own id), ``source`` (``meta.source``),
        ``last_updated``, then one per key path of the resources, named by it
        (``code.coding[0].code``; a reference also as ``subject.reference_type`` and
        ``subject.reference_id``), numbers as float64, booleans as bool, the rest as text.

        Args:
            resource_type: A type the server's CapabilityStatement lists; another is a
                :class:`jhe.ConfigurationError` naming those it does.
            study_id: Resources of the study's enrolled patients.
            patient_id: One patient's.
            source: As for :meth:`fetch`: ``None`` the type's default store (the
                Exchange's own for Observation and Patient, imported records for the
                types only EHRs bring), ``"imported"``, a FHIR source's id or URI, or
                ``"all"``.
            params: Further search parameters, sent as given (``{"clinical-status": "active"}``).
        """
        _convert._require("pyarrow", "pyarrow")
        extra = [(str(name), str(value)) for name, value in (params or {}).items()]
        table = self._native.fetch_resources(resource_type, study_id=study_id, patient_id=patient_id, source=source, params=extra)
        return _convert.to_pyarrow(table)

    @_checked
    @_audit.audited("list_patients", _audit.listing)
    def list_patients(
        self, organization_id: int | None = None, study_id: int | None = None, *, deidentify: bool | Deidentification | None = None
    ) -> pd.DataFrame:
        """The patients you may see, optionally of one organization or study: ``id``,
        ``nameFamily``, ``nameGiven``, ``birthDate``, ``identifiers``, ...

        ``deidentify`` applies the rules of :meth:`fetch`: ``pseudonym`` (the same as in the
        observations) instead of ``id``; no names, emails, phones, identifiers or JHE user
        id; the birth date shifted with the patient's times, or in Safe Harbor mode only
        ``birth_year`` and ``age`` (ages over 89 as ``"90+"``, without their year).
        """
        settings = _deidentify.resolve(deidentify)
        patients = self._list("patients", organization_id=organization_id, study_id=study_id)
        return _deidentify.patients(patients, settings, self.url) if settings else patients

    @_checked
    @_audit.audited("list_studies", _audit.listing)
    def list_studies(self, organization_id: int | None = None) -> pd.DataFrame:
        """The studies you may see: ``id``, ``name``, ``description``, ``organization`` (a
        dict) and ``organizationId`` (its id, for :meth:`export_study`)."""
        studies = self._list("studies", organization_id=organization_id)
        if "organization" in studies.columns:
            studies["organizationId"] = [(o or {}).get("id") for o in studies["organization"]]
        return studies

    @_checked
    @_audit.audited("list_organizations", _audit.listing)
    def list_organizations(self) -> pd.DataFrame:
        """The organizations: ``id``, ``name``, ``type``, ``partOf``, ``currentUserRole``."""
        return self._list("organizations")

    @_checked
    @_audit.audited("get_patient", _audit.document)
    def get_patient(self, patient_id: int) -> dict[str, Any]:
        """One patient's record."""
        return self._get(f"patients/{_checked_id('patient_id', patient_id)}")

    @_checked
    @_audit.audited("get_consents", _audit.document)
    def get_consents(self, patient_id: int) -> dict[str, Any]:
        """A patient's consents: consolidated scopes, and per study what was consented."""
        return self._get(f"patients/{_checked_id('patient_id', patient_id)}/consents")

    @_checked
    def profile(self) -> dict[str, Any]:
        """Who you are on this Exchange (asked each time; the client's display shows the
        last answer)."""
        self._profile = self._get("users/profile")
        return self._profile


def _from_environment(name: str, method: Callable[..., Any]) -> Any:
    """`jhe.<name>`: the client method on a client made from the environment."""

    def function(*args: Any, **kwargs: Any) -> Any:
        return method(Client(), *args, **kwargs)

    signature = inspect.signature(method)
    function.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f":meth:`Client.{name}` with a client made from the environment."
    return function


fetch_dataframe: Fetch[pd.DataFrame, dict[str, pd.DataFrame]] = _from_environment("fetch_dataframe", Client.fetch_dataframe)
