"""jhe.dask.sync on the two-process cluster: the workers' first sync is the mirror
client.sync makes, and client.sync continues it incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

pytest.importorskip("deltalake")

import jhe.dask  # noqa: E402


def rows_of(mirror: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each code's rows in the mirror, by observation id, every column's value."""
    tables = jhe.read_mirror(mirror).to_arrow()
    tables = tables if isinstance(tables, dict) else {"only": tables}
    return {code: sorted(map(tuple, (row.values() for row in table.to_pylist())), key=lambda row: row[0]) for code, table in tables.items()}


def test_the_workers_first_sync_is_the_clients(cluster: Any, tmp_path: Path) -> None:
    with FakeExchange(patients=6, days=3, seed=8, damaged_every=53) as fx:
        study = fx.main_study_id
        spread = jhe.dask.sync(tmp_path / "spread", study, url=fx.url, credentials=jhe.dask.Credentials(fx.token), target_rows=800)
        client = jhe.Client(fx.url, fx.token)
        single = client.sync(tmp_path / "single", study)
        assert spread.added == single.added == single.server_total and spread.drift == 0
        assert rows_of(tmp_path / "spread") == rows_of(tmp_path / "single")
        damaged = jhe.read_mirror(tmp_path / "spread").errors
        assert damaged and sorted(e["observation_id"] for e in damaged) == sorted(e["observation_id"] for e in jhe.read_mirror(tmp_path / "single").errors)
        # The client continues the workers' mirror, reading only what changed.
        new = fx.add_observations(25)
        again = client.sync(tmp_path / "spread", study)
        assert (again.added, again.updated, again.drift, again.full) == (25, 0, 0, False)
        assert again.requests < single.requests
        ids = {row[0] for rows in rows_of(tmp_path / "spread").values() for row in rows}
        assert set(new) <= ids


def test_a_mirror_is_made_in_a_new_or_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(jhe.ConfigurationError, match="not an empty folder"):
        jhe.dask.sync(tmp_path, 30001, url="http://127.0.0.1:9", credentials=jhe.dask.Credentials("t"))
