"""An incremental local mirror of a study: one Delta table per code (the wide layout) and
one of the decode errors, kept current by reading only what changed on the server.

Delta Lake (delta-rs, ``pip install 'jhe[mirror]'``) gives the transactions, merge and time
travel; polars (``pl.read_delta``), pandas (through ``deltalake``), DuckDB and Spark read it
directly. A sync merges the rows read by observation id (a changed row replaces the old one)
into each code's table, then ends with one commit to the errors table that carries the
cursor (commit metadata ``jhe.cursor``). A code's rows are committed before the cursor that
covers them, so a sync killed at any point leaves every table readable at its last version,
and the next sync, starting from the last cursor committed, reads again whatever the killed
one did not finish (merging it twice changes nothing).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jhe import _convert, _jhe
from jhe._export import file_stem
from jhe._watch import Cursor, as_datetime

if TYPE_CHECKING:
    import pyarrow as pa

    from jhe._deidentify import Deidentification
    from jhe._jhe import NativeClient, NativeFetchResult

ERRORS_TABLE = "_errors"
CURSOR_KEY = "jhe.cursor"
SCHEMA_KEY = "jhe.arrow_schema"
CODE_KEY = "jhe.code"
MAX_ID_KEY = "jhe.max_id"
# A de-identified mirror: the pseudonym the key gives patient 0, which shows whether a later
# sync uses the same key (and reveals nothing of it).
KEY_CHECK_KEY = "jhe.deidentified_key_check"


def _deltalake() -> Any:
    return _convert._require("deltalake", "mirror")


@dataclass(frozen=True)
class SyncResult:
    """What one :meth:`jhe.Client.sync` did.

    Attributes:
        added: Rows new to the mirror.
        updated: Rows replaced by a newer version from the server.
        unchanged: Rows read again that the mirror held already, unchanged.
        server_total: The server's count for the mirror's query now.
        mirror_total: Rows in the mirror after the sync.
        drift: ``mirror_total - server_total`` when the server's count is exact, else None.
            Not 0 means rows were deleted on the server (which a reading of changes cannot
            see); ``sync(..., full=True)`` rebuilds the mirror.
        cursor: Where the mirror has read to (also stored in the mirror).
        full: Whether everything was fetched (the first sync, or ``full=True``).
        requests: HTTP requests made for pages and counts.
        seconds: Wall time of the sync.
    """

    added: int
    updated: int
    unchanged: int
    server_total: int
    mirror_total: int
    drift: int | None
    cursor: str
    full: bool
    requests: int
    seconds: float


def _schema_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _schema_of(text: str) -> pa.Schema:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _storable(table: pa.Table) -> pa.Table:
    """`table` in types Delta Lake stores: dictionaries as their values, durations as int64
    (the Arrow schema, kept in the commit, restores them on reading)."""
    import pyarrow as pa

    def stored(kind: pa.DataType) -> pa.DataType:
        if pa.types.is_dictionary(kind):
            return kind.value_type
        if pa.types.is_duration(kind):
            return pa.int64()
        return kind

    return table.cast(pa.schema([field.with_type(stored(field.type)) for field in table.schema]))


def _restored(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table read from Delta in the Arrow types it was written from (`schema`, the
    newest written); columns the schema does not know keep their stored type."""
    import pyarrow as pa

    known = {field.name: field for field in schema}
    fields = [known.get(field.name, field) for field in table.schema]
    return table.cast(pa.schema(fields, metadata=schema.metadata))


class Mirror:
    """The Delta tables under one directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Each table opened once per sync; merges and writes through it keep it current.
        self._opened: dict[Path, Any] = {}
        self.key_check: str | None = None

    def check_deidentified(self, key_check: str | None) -> None:
        """Refuse to sync into a mirror written the other way (identified or de-identified,
        or with another key): its rows would not merge with these."""
        from jhe._jhe import ConfigurationError

        self.key_check = key_check
        errors = self._open(self.path / ERRORS_TABLE)
        if errors is None:
            return
        stored = _latest(errors, KEY_CHECK_KEY)
        if stored == key_check:
            return
        if stored is None or key_check is None:
            was, now = ("de-identified", "without deidentify") if stored else ("not de-identified", "with deidentify")
            raise ConfigurationError(f"the mirror at {self.path} was written {was}: it cannot be synced {now}; use another path")
        raise ConfigurationError(f"the mirror at {self.path} was de-identified with another key: use that key, or another path")

    def table_path(self, code: str) -> Path:
        return self.path / file_stem(code)

    def _open(self, path: Path) -> Any | None:
        if path in self._opened:
            return self._opened[path]
        deltalake = _deltalake()
        try:
            table = self._opened[path] = deltalake.DeltaTable(str(path))
        except deltalake.exceptions.TableNotFoundError:
            return None
        return table

    def cursor(self) -> Cursor | None:
        """The cursor of the last sync that completed, or None (no mirror yet)."""
        errors = self._open(self.path / ERRORS_TABLE)
        cursor = None if errors is None else _latest(errors, CURSOR_KEY)
        return None if cursor is None else Cursor.decode(cursor)

    def code_tables(self) -> dict[str, Any]:
        """Each code's Delta table, by code (read from its commits)."""
        tables = {}
        for child in sorted(self.path.iterdir()) if self.path.is_dir() else []:
            if child.name == ERRORS_TABLE or not (child / "_delta_log").is_dir():
                continue
            table = self._open(child)
            code = _latest(table, CODE_KEY) if table is not None else None
            if code is not None:
                tables[code] = table
        return tables

    def rows(self) -> int:
        return sum(table.to_pyarrow_dataset().count_rows() for table in self.code_tables().values())

    def merge(self, code: str, table: pa.Table, cursor: str, *, replace: bool) -> tuple[int, int]:
        """Merge (or with `replace`, write anew) `code`'s rows; (added, updated)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        deltalake = _deltalake()
        existing = None if replace else self._open(self.table_path(code))
        known = None if existing is None else _latest(existing, MAX_ID_KEY)
        # Pseudonymized ids have no order: every row read goes through the merge.
        ordered = pa.types.is_integer(table["observation_id"].type)
        ids = pc.max(table["observation_id"]).as_py() if ordered else None
        newest = max(int(known or 0), int(ids or 0))
        metadata = {CURSOR_KEY: cursor, SCHEMA_KEY: _schema_text(table.schema), CODE_KEY: code, MAX_ID_KEY: str(newest)}
        commit = deltalake.CommitProperties(custom_metadata=metadata)
        if existing is None:
            deltalake.write_deltalake(
                str(self.table_path(code)), _storable(table), mode="overwrite", schema_mode="overwrite", commit_properties=commit
            )
            self._opened.pop(self.table_path(code), None)
            return table.num_rows, 0
        # Ids are given in order: a row above the table's newest id is new, and is appended;
        # only the others (changed rows, or rows committed late) need a merge, which reads
        # the table's files that may hold them.
        if not ordered:
            above = pa.array([False] * table.num_rows)
        else:
            above = pc.fill_null(pc.greater(table["observation_id"], int(known or 0)), False)
        fresh, rest = table.filter(above), table.filter(pc.invert(above))
        added = updated = 0
        if rest.num_rows:
            metrics = (
                existing.merge(
                    _storable(rest), predicate="t.observation_id = s.observation_id", source_alias="s", target_alias="t",
                    merge_schema=True, commit_properties=commit,
                )
                .when_matched_update_all(predicate="s.last_updated > t.last_updated")
                .when_not_matched_insert_all()
                .execute()
            )
            added, updated = metrics["num_target_rows_inserted"], metrics["num_target_rows_updated"]
        if fresh.num_rows:
            deltalake.write_deltalake(existing, _storable(fresh), mode="append", schema_mode="merge", commit_properties=commit)
        return added + fresh.num_rows, updated

    def record_errors(self, errors: pa.Table, read_ids: pa.Array, cursor: str, *, replace: bool) -> None:
        """The decode errors of the rows read replace those rows' earlier errors; the commit
        that appends them carries the cursor, and so ends the sync."""
        import pyarrow as pa

        deltalake = _deltalake()
        path = str(self.path / ERRORS_TABLE)
        metadata = {CURSOR_KEY: cursor, SCHEMA_KEY: _schema_text(errors.schema)}
        if self.key_check is not None:
            metadata[KEY_CHECK_KEY] = self.key_check
        commit = deltalake.CommitProperties(custom_metadata=metadata)
        existing = None if replace else self._open(self.path / ERRORS_TABLE)
        if existing is not None and len(read_ids):
            read = pa.table({"observation_id": read_ids})
            existing.merge(
                read, predicate="t.observation_id = s.observation_id", source_alias="s", target_alias="t"
            ).when_matched_delete().execute()
        mode = "overwrite" if existing is None else "append"
        deltalake.write_deltalake(path, _storable(errors), mode=mode, commit_properties=commit)
        self._opened.pop(self.path / ERRORS_TABLE, None)

    def read(self, code: str | None = None) -> tuple[dict[str, pa.Table], pa.Table]:
        """Each code's table (or `code`'s alone) and the errors, in their Arrow types."""
        from jhe._jhe import ConfigurationError

        tables = _in_catalogue_order(self.code_tables())
        errors_table = self._open(self.path / ERRORS_TABLE)
        if errors_table is None:
            raise ConfigurationError(f"{self.path} holds no jhe mirror (no {ERRORS_TABLE} table): run jhe sync first")
        if code is not None:
            if code not in tables:
                raise ConfigurationError(f"the mirror at {self.path} has no table of {code!r}; it has {', '.join(tables) or 'none'}")
            tables = {code: tables[code]}
        read = {name: _restored(table.to_pyarrow_table(), _schema_of(_latest(table, SCHEMA_KEY))) for name, table in tables.items()}
        errors = _restored(errors_table.to_pyarrow_table(), _schema_of(_latest(errors_table, SCHEMA_KEY)))
        if code is not None:
            import pyarrow.compute as pc

            errors = errors.filter(pc.equal(errors["code"], code))
        return read, errors


def _in_catalogue_order(tables: dict[str, Any]) -> dict[str, Any]:
    """As a fetch orders its wide tables: catalogue order, then the other codes by name."""
    from jhe._jhe import catalog

    rank = {entry["code"]: i for i, entry in enumerate(catalog())}
    return dict(sorted(tables.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _latest(table: Any, key: str) -> Any | None:
    """The newest value of `key` in `table`'s commit metadata (the last commits first: the
    last is jhe's unless someone else wrote to the table since)."""
    for commits in (table.history(8), table.history()):
        for commit in commits:
            if key in commit:
                return commit[key]
    return None


def _read_ids(tables: dict[str, pa.Table], errors: pa.Table) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [table["observation_id"] for table in tables.values()] + [errors["observation_id"]]
    ids = pa.chunked_array([chunk for column in columns for chunk in column.chunks], type=errors.schema.field("observation_id").type)
    return pc.unique(ids.drop_null())


def sync(
    native: NativeClient, path: str | Path, filters: dict[str, Any], request: dict[str, Any], *, full: bool, overlap: timedelta,
    deidentify: Deidentification | None = None,
) -> SyncResult:
    """Bring the mirror at `path` up to date with the query (`filters` and the native
    fetch's `request`), reading only what changed since its cursor unless `full`; with
    `deidentify`, what is stored is de-identified (and a mirror is only ever synced one way)."""
    _jhe.check_changes_readable(filters)
    started = time.perf_counter()
    mirror = Mirror(path)
    key_check = None if deidentify is None else deidentify.native(native.url).patients([0])[0][0]
    mirror.check_deidentified(key_check)
    cursor = None if full else mirror.cursor()
    fetch_filters = {**filters, "layout": "wide"}
    if cursor is None:
        result = native.fetch(fetch_filters, **request)
        start = Cursor(0)
    else:
        # The rows the last sync merged, read again unchanged, are skipped (and counted).
        changes = {**fetch_filters, "updated_since": as_datetime(cursor.read_from)}
        result = native.fetch(changes, **request, delivered=list(cursor.delivered))
        start = cursor
    after = start.after(result, overlap).encode()
    if deidentify is not None:
        result = deidentify.native(native.url).apply(result)
    tables = {str(code): _convert.to_pyarrow(table) for code, table in result.tables}
    errors = _convert.to_pyarrow(result.errors)
    added, updated, unchanged = 0, 0, result.redelivered
    if cursor is None:
        # A rebuild: a code the server no longer has rows of keeps no rows either.
        for code, stale in mirror.code_tables().items():
            if code not in tables:
                stale.delete(commit_properties=_deltalake().CommitProperties(custom_metadata={CURSOR_KEY: after}))
    for code, table in tables.items():
        table_added, table_updated = mirror.merge(code, table, after, replace=cursor is None)
        added, updated = added + table_added, updated + table_updated
    # Rows read again that the merge left as they were (the rows skipped already counted).
    unchanged += sum(table.num_rows for table in tables.values()) - added - updated
    mirror.record_errors(errors, _read_ids(tables, errors), after, replace=cursor is None)
    server_total, exact = native.count(filters, **request)
    requests = result.requests + 1
    mirror_total = mirror.rows()
    return SyncResult(
        added=added, updated=updated, unchanged=unchanged, server_total=server_total, mirror_total=mirror_total,
        drift=mirror_total - server_total if exact else None, cursor=after, full=cursor is None, requests=requests,
        seconds=time.perf_counter() - started,
    )


class MirrorResult:
    """A mirror's tables in the shape :class:`jhe.Observations` reads a fetch's result in."""

    layout = "wide"
    api = "mirror"
    generation = "mirror"
    requests = 0
    duplicates = 0

    def __init__(self, tables: dict[str, pa.Table], errors: pa.Table, single_code: str | None) -> None:
        self._tables: dict[str, pa.Table] | None = tables
        self.errors = errors
        self.single_code = single_code
        self.observations = self.server_total = sum(table.num_rows for table in tables.values())
        import pyarrow.compute as pc

        self.duplicate_uuids = sum(pc.sum(table["duplicate_uuid"]).as_py() or 0 for table in tables.values())
        self.error_count = errors.num_rows
        self.newest_last_updated = None

    @property
    def tables(self) -> list[tuple[str | None, pa.Table]]:
        if self._tables is None:
            raise RuntimeError("this result's tables were moved into pandas; read the mirror again to convert it another way")
        return list(self._tables.items())

    def take_tables(self) -> list[tuple[str | None, pa.Schema, list[pa.Array]]]:
        taken = [(code, table.schema, [column.combine_chunks() for column in table.columns]) for code, table in self.tables]
        self._tables = None
        return taken


def read_mirror(path: str | Path, code: str | None = None) -> Any:
    """The mirror at `path` (every code's table, or `code`'s) as :class:`jhe.Observations`."""
    from jhe._result import Observations

    tables, errors = Mirror(path).read(code)
    single = code if code is not None else (next(iter(tables)) if len(tables) == 1 else None)
    return Observations(MirrorResult(tables, errors, single))  # type: ignore[arg-type]
