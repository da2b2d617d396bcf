"""``jhe.dask.read_observations``: a Dask DataFrame of a query, one task per planned
partition, each fetched by jhe on a worker exactly as :meth:`jhe.Client.fetch` does."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jhe import _convert
from jhe.dask import _connection, _plan
from jhe.dask._connection import Connection, Credentials

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from jhe._client import Client
    from jhe._result import Observations

DEFAULT_CONCURRENCY = 16
# The filters a partition passes on to its fetch as they are.
FILTERS = ("api", "since", "until", "updated_since", "patient_identifier", "organization_id", "source", "columns")


@dataclass(frozen=True)
class Read:
    """A planned read: the query, its partitions, and how tasks reach the Exchange."""

    query: _plan.Query
    partitions: list[_plan.Partition]
    connection: Connection
    strict: bool

    def fetch(self, partition: _plan.Partition) -> tuple[list[Observations], list[dict[str, Any]]]:
        """Each slice of `partition` fetched, as many at once as the cluster's budget lets
        (each fetch holds a lease of it), and their errors, in the partition's order."""
        from jhe._empty import EmptyResultWarning

        # Asked on the task's own thread: the threads it starts are not the worker's.
        lease = _connection.budget(self.connection)
        at_once = min(len(partition.parts), self.connection.leases)
        with warnings.catch_warnings():
            # A slice was planned from a count: an empty one is data changed since, not news.
            warnings.simplefilter("ignore", EmptyResultWarning)
            if at_once == 1:
                results = [self._fetch_part(lease, part) for part in partition.parts]
            else:
                with ThreadPoolExecutor(at_once, thread_name_prefix="jhe-dask-part") as pool:
                    results = list(pool.map(functools.partial(self._fetch_part, lease), partition.parts))
        errors = [error for result in results for error in result.errors]
        if self.strict:
            _convert.raise_for_errors(errors)
        return results, errors

    def _fetch_part(self, lease: AbstractContextManager[Any], part: _plan.Part) -> Observations:
        with lease:
            # Inside the lease: a new client's first request (its server's generation) counts too.
            client = _connection.client_for(self.connection)
            return client.fetch(**self.query.request(part), progress=False)


@dataclass(frozen=True)
class Connecting:
    """The client this machine plans with, and what the workers' clients are made of."""

    planner: Client
    credentials: Credentials | str | None
    signing_in: Credentials
    options: dict[str, Any]
    concurrency: int


def connect(url: str | None, credentials: Credentials | str | None, concurrency: int, client_options: dict[str, Any] | None) -> Connecting:
    """The planning client, every argument about reaching the Exchange checked."""
    from jhe._client import Client, _argument_error
    from jhe._jhe import ConfigurationError

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 2 <= concurrency <= 64:
        # Two: a worker's first fetch asks metadata beside its first page.
        raise ConfigurationError(f"concurrency must be an int from 2 to 64, got {concurrency!r}")
    signing_in = _signing_in(credentials)
    options = dict(client_options or {})
    for taken in ("concurrency", "max_concurrency", "audit_log", *_connection.SECRET_FIELDS, "refresh_token"):
        if taken in options:
            raise _argument_error(f"client_options cannot set {taken!r}: jhe.dask sets it (see its arguments)")
    planner = Client(url, **signing_in.as_options(), concurrency=concurrency, max_concurrency=concurrency, **options)
    return Connecting(planner, credentials, signing_in, options, concurrency)


def start(
    connecting: Connecting,
    *,
    study_id: int | None,
    patient_id: int | None,
    code: str | Sequence[str] | None,
    partition_by: str,
    target_rows: int,
    layout: str | None,
    strict: bool,
    filters: dict[str, Any],
    one_table: bool = True,
) -> Read:
    """The read planned on this machine (its counts asked here). `one_table`: its result is
    one frame (so the wide layout takes one catalogued code); else a table per code."""
    from jhe._client import _argument_error

    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise _argument_error(f"jhe.dask got an unexpected keyword argument {unknown[0]!r}")
    planner, concurrency = connecting.planner, connecting.concurrency
    codes = [code] if isinstance(code, str) else list(code) if code is not None else None
    ordered_filters = tuple(sorted(filters.items(), key=lambda item: item[0]))
    if one_table:
        chosen = _layout(layout, codes)
    elif layout in (None, "long", "wide"):
        chosen = layout or "long"
    else:
        from jhe._jhe import ConfigurationError

        raise ConfigurationError(f'layout must be "wide" or "long", got {layout!r}')
    query = _plan.Query(study_id, patient_id, tuple(codes) if codes is not None else None, chosen, ordered_filters)
    partitions = _plan.plan(planner, query, partition_by, target_rows, concurrency)
    per_fetch, leases = share(concurrency, _fetches_at_once(partitions), _typical_pages(partitions, planner._native.page_size))
    if connecting.credentials == _connection.FROM_ENVIRONMENT:
        credentials_id = _connection.FROM_ENVIRONMENT
    else:
        credentials_id = _connection.register(connecting.signing_in)
    connection = Connection(
        planner.url, credentials_id, tuple(sorted(connecting.options.items())),
        _connection.budget_name(planner.url, concurrency, per_fetch), leases, per_fetch,
    )
    return Read(query, partitions, connection, strict)


def _signing_in(credentials: Credentials | str | None) -> Credentials:
    """The credentials this machine plans with (and, unless the workers read their own
    environment, sends them)."""
    from jhe._client import _argument_error

    if credentials is None or credentials == _connection.FROM_ENVIRONMENT:
        return Credentials.from_environment()
    if isinstance(credentials, Credentials):
        return credentials
    raise _argument_error(
        f'credentials must be jhe.dask.Credentials(...), "environment" or None, not {type(credentials).__name__} '
        "(a token given as text would travel inside the task graph)"
    )


def _layout(layout: str | None, codes: list[str] | None) -> str:
    """A Dask DataFrame is one table: the wide layout of one catalogued code, or the long one."""
    from jhe._jhe import ConfigurationError, catalog

    if layout is None:
        return "wide" if codes is not None and len(codes) == 1 else "long"
    if layout == "long":
        return layout
    if layout != "wide":
        raise ConfigurationError(f'layout must be "wide" or "long", got {layout!r}')
    if codes is None or len(codes) != 1:
        raise ConfigurationError('a Dask DataFrame is one table: layout="wide" needs exactly one code; use layout="long" for several')
    if codes[0] not in {entry["code"] for clinical in (False, True) for entry in catalog(clinical=clinical)}:
        raise ConfigurationError(
            f"{codes[0]} is not in jhe's catalogue: its wide columns are named by its data, so every partition "
            'would have its own; use layout="long"'
        )
    return layout


def _worker_threads() -> int:
    """The threads that run tasks: the cluster's, or this machine's cores."""
    cluster = _connection._distributed_client()
    if cluster is not None:
        threads = sum(cluster.nthreads().values())
        if threads:
            return int(threads)
    return os.cpu_count() or 1


def _fetches_at_once(partitions: list[_plan.Partition]) -> int:
    """How many slices could be fetched at once: those of as many partitions as the
    cluster runs tasks at once (the largest, in slices)."""
    largest = sorted((len(partition.parts) for partition in partitions), reverse=True)
    return max(1, sum(largest[: _worker_threads()]))


def _typical_pages(partitions: list[_plan.Partition], page_size: int) -> int:
    """The pages of the median slice (by its planned count)."""
    rows = sorted(part.rows for partition in partitions for part in partition.parts)
    return max(1, -(-rows[len(rows) // 2] // page_size)) if rows else 1


def share(concurrency: int, fetches_at_once: int, typical_pages: int) -> tuple[int, int]:
    """``(pages in flight per fetch, fetches at once in the cluster)``: the budget split
    between the fetches that could run at once, and no wider than a typical slice needs
    (so small slices leave room for more of them). A fetch's count takes its turn among
    its pages, so a fetch holds at most its share: ``share × fetches ≤ concurrency``. A
    share is two at least: a worker's first fetch asks ``metadata`` beside its first page.
    A slice of n pages holds at most n after its first (n - 1 pages and the count)."""
    requests = max(2, concurrency // max(1, fetches_at_once))
    requests = min(requests, max(2, typical_pages))
    return requests, concurrency // requests


def meta(read: Read) -> pd.DataFrame:
    """The frame's columns and dtypes, from the catalogue: an empty table of the layout."""
    from dask.dataframe.utils import clear_known_categories

    from jhe._jhe import empty_tables

    request = read.query.request()
    request["codes"] = request.pop("code")
    tables = empty_tables(**request)
    frame = _convert.arrow_to_pandas(_convert.to_pyarrow(tables[0][1]))
    # Each partition has its own categories.
    return clear_known_categories(frame)


def to_table(results: list[Observations]) -> pa.Table:
    """One partition's results (one table each) as one pyarrow Table."""
    import pyarrow as pa

    tables = [_convert.to_pyarrow(result._single()) for result in results]
    return pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]


def to_frame(results: list[Observations]) -> pd.DataFrame:
    """One partition's results as one frame, converted as :meth:`jhe.Client.fetch_dataframe`
    converts one result (the Arrow tables joined first, so dtypes follow the same rules)."""
    return _convert.arrow_to_pandas(to_table(results))


def read_partition(partition: _plan.Partition, read: Read) -> pd.DataFrame:
    """A task: one partition's rows. Records that could not be decoded are kept as rows, as
    a fetch keeps them, and reported to the client with a :class:`jhe.DecodeWarning`."""
    results, errors = read.fetch(partition)
    if errors:
        warn_decode_errors(errors, sum(result.total for result in results))
    return to_frame(results)


def warn_decode_errors(errors: list[dict[str, Any]], observations: int) -> None:
    """A :class:`jhe.DecodeWarning` here and, from a worker, at the client."""
    from distributed import warn

    first = errors[0]
    warn(
        f"{len(errors)} records could not be fully decoded in a partition of {observations} observations "
        f"(first: {_convert._record(first)}: {first['reason']}); kept as rows where the table has a place for them; "
        "strict=True fails instead, and jhe.dask.export_study(...) writes them to its _errors/ folder",
        _convert.DecodeWarning,
    )
