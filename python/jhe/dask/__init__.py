"""Scale-out on Dask: a query read by many workers as one exact Dask DataFrame, a study
exported in parallel, and the quality report computed per partition. Needs
``pip install 'jhe[dask]'``.

>>> from distributed import Client, LocalCluster  # doctest: +SKIP
>>> cluster = Client(LocalCluster(n_workers=2))  # doctest: +SKIP
>>> ddf = jhe.dask.read_observations(30001, "omh:blood-glucose:4.0")  # doctest: +SKIP
>>> ddf.groupby("patient_id").glucose_mg_dl.mean().compute()  # doctest: +SKIP

How it works:

- **Partitions are planned from counts** (one small request per patient or window, as
  many at once as ``concurrency``), never from page numbers, which shift while data is
  written. Small patients are grouped so a partition holds about ``target_rows`` rows.
  The counts must add up to the query's own count, or the plan is refused
  (:class:`jhe.InconsistentResult`).
- **Each partition is one task**: the worker fetches it with jhe (every page, retries, the
  count check of a single fetch), with one client per worker process, so its connections
  and token are reused. Its slices (patients or windows) are fetched at once, as many
  as the budget lets.
- **Credentials never enter the task graph**: they reach the workers in a worker plugin
  (every worker, also one that joins later), or each worker reads its own environment
  (``credentials="environment"``).
- **One request budget for the whole cluster**: at most ``concurrency`` requests are in
  flight at the Exchange, whatever the number of workers. Each slice is fetched with a
  fixed share of it (no wider than a typical slice needs), and a ``distributed.Semaphore``
  lets only as many slices be fetched at once as the shares allow; the others wait their
  turn. A killed worker's share comes back after
  ``distributed.scheduler.locks.lease-timeout`` (30 s by default), and its tasks run again
  elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from jhe import _convert
from jhe.dask._connection import Credentials
from jhe._watch import DEFAULT_OVERLAP
from jhe.dask._read import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    import dask.dataframe as dd

    from jhe._typing import Filters
    from jhe._mirror import SyncResult
    from jhe.quality import QualityReport

_convert._require("dask.dataframe", "dask")
_convert._require("distributed", "dask")


def read_observations(
    study_id: int | None = None,
    code: str | Sequence[str] | None = None,
    *,
    patient_id: int | None = None,
    url: str | None = None,
    credentials: Credentials | str | None = None,
    partition_by: str = "patient",
    target_rows: int = 200_000,
    layout: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    strict: bool = False,
    client_options: dict[str, Any] | None = None,
    **filters: Unpack[Filters],
) -> dd.DataFrame:
    """A query as a Dask DataFrame: the rows :meth:`jhe.Client.fetch_dataframe` gives, with
    the same columns and dtypes, read by the workers partition by partition.

    Args:
        study_id, code, patient_id: As in :meth:`jhe.Client.fetch`.
        url: The Exchange; defaults to ``JHE_URL``.
        credentials: :class:`jhe.dask.Credentials`; default: this process's ``JHE_TOKEN``,
            else ``JHE_CLIENT_ID``/``JHE_CLIENT_SECRET``, sent to the workers in a worker
            plugin. ``"environment"``: each worker reads its own.
        partition_by: ``"patient"`` (default), or ``"month"`` / ``"week"`` of effective
            time (UTC; from ``since``, or the first row, to ``until``, or the last). An
            older Exchange ignores date filters: it is then partitioned by patient, with a
            warning.
        target_rows: About how many rows a partition holds (slices are grouped up to it; a
            larger slice is a partition of its own).
        layout: ``"wide"`` (one catalogued code) or ``"long"``; default: wide for one code.
        concurrency: Requests in flight at the Exchange, for the whole cluster.
        strict: A task raises :class:`jhe.DecodeError` on a record it could not decode.
        client_options: Other :class:`jhe.Client` settings (``timeout``, ``retries``,
            ``page_size``, ``max_response_bytes``, ``allow_insecure``).
        filters: ``since``, ``until``, ``updated_since``, ``api``, ``patient_identifier``,
            ``organization_id``, ``columns``, as in :meth:`jhe.Client.fetch`.

    Records that could not be decoded are kept as rows, as a fetch keeps them, and each
    task that met some sends a :class:`jhe.DecodeWarning` to the client.
    """
    import dask
    import dask.dataframe as dd

    from jhe.dask import _read

    connecting = _read.connect(url, credentials, concurrency, client_options)
    read = _read.start(
        connecting, study_id=study_id, patient_id=patient_id, code=code, partition_by=partition_by,
        target_rows=target_rows, layout=layout, strict=strict, filters=dict(filters),
    )
    # Dask would turn the text columns into its own string dtype: they stay as pandas gives them.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(_read.read_partition, read.partitions, read=read, meta=_read.meta(read), label="jhe-read-observations")




def export_study(
    path: str | os.PathLike[str],
    study_id: int,
    codes: str | Sequence[str] | None = None,
    *,
    url: str | None = None,
    credentials: Credentials | str | None = None,
    layout: str = "long",
    target_rows: int = 200_000,
    concurrency: int = DEFAULT_CONCURRENCY,
    strict: bool = False,
    client_options: dict[str, Any] | None = None,
    **filters: Unpack[Filters],
) -> dict[str, Path]:
    """Export a study from the workers as one Parquet dataset partitioned by code:
    ``path/code=omh%3Ablood-glucose%3A4.0/part-00000.parquet``, one file per code and
    partition (planned by patient, as :func:`read_observations`), each written under a
    temporary name and renamed into place. ``path`` must be new or empty. Returns
    ``{code: its folder}``.

    The long layout (default) gives the dataset one schema: ``pq.read_table(path)`` reads
    it all, with ``code`` restored from the folder names. ``layout="wide"`` gives each
    code's folder its own typed columns: read one folder at a time. Records that could not
    be decoded go to ``path/_errors/`` (which readers skip), with a :class:`jhe.DecodeWarning`;
    ``strict=True`` fails the export on the first instead.
    """
    from jhe.dask import _export, _read

    target = Path(path)
    _export.check_empty(target)
    connecting = _read.connect(url, credentials, concurrency, client_options)
    read = _read.start(
        connecting, study_id=study_id, patient_id=None, code=codes, partition_by="patient", target_rows=target_rows,
        layout=layout, strict=strict, filters=dict(filters), one_table=False,
    )
    return _export.export(read, target)


def sync(
    path: str | os.PathLike[str],
    study_id: int | None = None,
    codes: str | Sequence[str] | None = None,
    *,
    patient_id: int | None = None,
    url: str | None = None,
    credentials: Credentials | str | None = None,
    overlap: timedelta | float = DEFAULT_OVERLAP,
    target_rows: int = 200_000,
    concurrency: int = DEFAULT_CONCURRENCY,
    client_options: dict[str, Any] | None = None,
    **filters: Unpack[Filters],
) -> SyncResult:
    """A mirror's first sync (:meth:`jhe.Client.sync`) made by the workers: each writes its
    partitions' rows into each code's Delta table as data files, and this machine commits
    each table once, then the errors table with the cursor. ``path`` must be new or empty;
    afterwards ``client.sync(path, ...)`` with the same query continues it, reading only
    what changed. Until the last commit there is no mirror at ``path``.
    """
    from jhe._client import _argument_error, _overlap_window
    from jhe.dask import _export, _mirror, _read

    if "updated_since" in filters or "layout" in filters:
        raise _argument_error("sync reads by updated_since in the wide layout itself; it takes neither")
    target = Path(path)
    _export.check_empty(target)
    window = _overlap_window(overlap)
    connecting = _read.connect(url, credentials, concurrency, client_options)
    read = _read.start(
        connecting, study_id=study_id, patient_id=patient_id, code=codes, partition_by="patient", target_rows=target_rows,
        layout="wide", strict=False, filters=dict(filters), one_table=False,
    )
    return _mirror.sync(connecting.planner, read, target, window)


def quality(
    study_id: int,
    codes: str | Sequence[str] | None = None,
    *,
    url: str | None = None,
    credentials: Credentials | str | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    target_rows: int = 200_000,
    concurrency: int = DEFAULT_CONCURRENCY,
    client_options: dict[str, Any] | None = None,
    **settings: Any,
) -> QualityReport:
    """:meth:`jhe.Client.quality` on the cluster: the same report, part for part. Each
    partition (whole patients) is fetched and checked by a worker; what spans patients is
    computed here from what the workers send back: the coverage grid (each code's days run
    from its first to its last day among all patients), uuids shared across patients,
    completeness and units. ``settings`` as in :meth:`jhe.Client.quality`."""
    import dataclasses

    from jhe._client import _argument_error
    from jhe._empty import as_codes
    from jhe.dask import _quality
    from jhe.quality._report import Settings

    known = {field.name for field in dataclasses.fields(Settings)}
    for name in settings:
        if name not in known:
            raise _argument_error(f"jhe.dask.quality() got an unexpected keyword argument {name!r}")
    return _quality.quality(
        study_id, as_codes(codes), url=url, credentials=credentials, since=since, until=until, target_rows=target_rows,
        concurrency=concurrency, client_options=client_options, settings=Settings(**settings),
    )


__all__ = ["Credentials", "export_study", "quality", "read_observations", "sync"]
