"""``jhe.dask.sync``: a mirror's first sync (:meth:`jhe.Client.sync`) made by the workers.
Each task writes its partition's rows as Parquet data files into each code's Delta table
folder (a deterministic name per partition, renamed into place, so a task run again
replaces its files); this machine then commits each table once, with every file the tasks
reported, and the errors table last with the cursor, as a sync does. Until that last
commit there is no mirror; after it, ``client.sync`` continues it incrementally."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jhe import _convert, _mirror
from jhe._watch import Cursor
from jhe.dask import _export, _plan, _read

if TYPE_CHECKING:
    import pyarrow as pa

    from jhe._client import Client


@dataclass(frozen=True)
class DataFile:
    """A Parquet file a task wrote into a code's table, and what the commit needs of it."""

    code: str
    name: str
    size: int
    modified_ms: int
    rows: int
    schema: str  # the Arrow schema, serialized (restored on reading)
    max_id: int | None


@dataclass(frozen=True)
class Written:
    """What one task wrote and read: its files, its decode errors, and for the cursor its
    newest ``last_updated`` and the ``(id, last_updated)`` of its rows since `overlap`
    before that."""

    files: list[DataFile]
    errors: Any
    newest: int | None
    delivered: list[tuple[int, int]]
    requests: int


def write_partition(partition: _plan.Partition, index: int, read: _read.Read, target: str, overlap_us: int) -> Written:
    """A task: one partition's rows, per code, as a Delta data file of that code's table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    results, _ = read.fetch(partition)
    files = []
    for code, table in _export.by_code(results).items():
        if not table.num_rows:
            continue
        name = f"part-{index:05d}.parquet"
        path = Path(target) / _mirror.file_stem(code) / name
        stored = _mirror._storable(table)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{_export.TEMPORARY}{name}")
        pq.write_table(stored, partial)
        os.replace(partial, path)
        ids = table["observation_id"]
        max_id = pc.max(ids).as_py() if pa.types.is_integer(ids.type) else None
        stat = path.stat()
        files.append(DataFile(code, name, stat.st_size, int(stat.st_mtime * 1000), table.num_rows, _mirror._schema_text(table.schema), max_id))
    newest = max((r._native.newest_last_updated for r in results if r._native.newest_last_updated is not None), default=None)
    delivered = [] if newest is None else [pair for r in results for pair in r._native.delivered_since(newest - overlap_us)]
    errors = pa.concat_tables([_convert.to_pyarrow(r._native.errors) for r in results])
    return Written(files, errors, newest, delivered, sum(r._native.requests for r in results))


class _Delivered:
    """Every task's reading as one result, as :meth:`Cursor.after` reads a fetch's."""

    def __init__(self, written: list[Written]) -> None:
        newest = [w.newest for w in written if w.newest is not None]
        self.newest_last_updated = max(newest) if newest else None
        self._delivered = [pair for w in written for pair in w.delivered]

    def delivered_since(self, at: int) -> list[tuple[int, int]]:
        return [pair for pair in self._delivered if pair[1] >= at]


def commit(target: Path, files: list[DataFile], cursor: str) -> int:
    """Each code's table made with one commit of its files; the rows committed."""
    import pyarrow as pa

    deltalake = _mirror._deltalake()
    from deltalake.transaction import AddAction, create_table_with_add_actions

    from jhe._jhe import ProtocolError

    by_code: dict[str, list[DataFile]] = {}
    for file in files:
        by_code.setdefault(file.code, []).append(file)
    for code, parts in by_code.items():
        try:
            schema = pa.unify_schemas([_mirror._schema_of(part.schema) for part in parts])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ProtocolError(f"the partitions of {code} disagree about its columns' types ({exc}): sync it with client.sync") from None
        ids = [part.max_id for part in parts if part.max_id is not None]
        metadata = {
            _mirror.CURSOR_KEY: cursor, _mirror.SCHEMA_KEY: _mirror._schema_text(schema), _mirror.CODE_KEY: code,
            _mirror.MAX_ID_KEY: str(max(ids, default=0)),
        }
        stored = _mirror._storable(schema.empty_table()).schema
        actions = [AddAction(p.name, p.size, {}, p.modified_ms, True, json.dumps({"numRecords": p.rows})) for p in parts]
        create_table_with_add_actions(
            str(target / _mirror.file_stem(code)), deltalake.Schema.from_arrow(stored), actions, mode="error",
            commit_properties=deltalake.CommitProperties(custom_metadata=metadata),
        )
    return sum(file.rows for file in files)


def sync(planner: Client, read: _read.Read, target: Path, overlap: timedelta) -> _mirror.SyncResult:
    """The mirror's first sync: the tasks' files, then one commit per table."""
    import dask
    import pyarrow as pa

    started = time.perf_counter()
    _export.check_empty(target)
    target.mkdir(parents=True, exist_ok=True)
    overlap_us = overlap // timedelta(microseconds=1)
    tasks = [
        dask.delayed(write_partition, pure=False)(partition, index, read, str(target), overlap_us)
        for index, partition in enumerate(read.partitions)
    ]
    written: list[Written] = list(dask.compute(*tasks))
    _export.remove_partials(target)
    cursor = Cursor(0).after(_Delivered(written), overlap).encode()  # type: ignore[arg-type]
    added = commit(target, [file for w in written for file in w.files], cursor)
    errors = pa.concat_tables([w.errors for w in written])
    _mirror.Mirror(target).record_errors(errors, pa.array([], errors.schema.field("observation_id").type), cursor, replace=True)
    server_total, exact = planner._native.count(**read.query.counting())
    return _mirror.SyncResult(
        added=added, updated=0, unchanged=0, server_total=server_total, mirror_total=added,
        drift=added - server_total if exact else None, cursor=cursor, full=True,
        requests=sum(w.requests for w in written) + 1,
        seconds=time.perf_counter() - started,
    )
