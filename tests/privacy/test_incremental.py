"""De-identified watch batches and mirrors: the same pseudonyms and shifts as a fetch, a
mirror merged by pseudonymized ids, and a mirror never synced two ways."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.privacy.conftest import KEY, OTHER_KEY

pytest.importorskip("deltalake")


@pytest.fixture
def changing() -> FakeExchange:
    """A fake whose data the test changes (not the package's shared one)."""
    with FakeExchange(patients=3, days=2, seed=23) as exchange:
        yield exchange  # type: ignore[misc]


def ids_of(obs: jhe.Observations, column: str) -> set[str]:
    arrow = obs.to_arrow()
    return {str(v) for table in (arrow.values() if isinstance(arrow, dict) else [arrow]) for v in table[column].to_pylist()}


def test_a_watch_batch_is_deidentified_as_a_fetch_is(changing: FakeExchange) -> None:
    client = jhe.Client(changing.url, changing.token)
    settings = jhe.Deidentification(KEY)
    added = changing.add_observations(4)
    since = min(row["last_updated"] for row in changing.expected_observations(study_id=changing.main_study_id) if row["id"] in added)
    batch = next(client.watch(changing.main_study_id, interval=0, since=since, deidentify=settings))
    fetched = client.fetch(study_id=changing.main_study_id, deidentify=settings)
    assert batch.deidentified is not None and batch.cursor
    assert ids_of(batch, "observation_id") <= ids_of(fetched, "observation_id")
    assert len(ids_of(batch, "observation_id")) == len(added)
    assert ids_of(batch, "pseudonym") <= ids_of(fetched, "pseudonym")
    assert not ids_of(batch, "observation_id") & {str(i) for i in added}


def test_a_deidentified_mirror_merges_changes_and_is_only_synced_one_way(changing: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(changing.url, changing.token)
    settings = jhe.Deidentification(KEY)
    first = client.sync(tmp_path, study_id=changing.main_study_id, deidentify=settings)
    assert first.full and first.drift == 0
    visible = [row["id"] for row in changing.expected_observations(study_id=changing.main_study_id)]
    added = changing.add_observations(3)
    changing.update_observations(visible[:2])
    second = client.sync(tmp_path, study_id=changing.main_study_id, deidentify=settings)
    assert (second.added, second.updated, second.drift) == (len(added), 2, 0)
    mirror = jhe.read_mirror(tmp_path)
    fresh = client.fetch(study_id=changing.main_study_id, layout="wide", deidentify=settings)
    assert ids_of(mirror, "observation_id") == ids_of(fresh, "observation_id")
    assert "patient_id" not in pa.table(next(iter(mirror.to_arrow().values()))).column_names  # type: ignore[union-attr]
    with pytest.raises(jhe.ConfigurationError, match="was written de-identified"):
        client.sync(tmp_path, study_id=changing.main_study_id)
    with pytest.raises(jhe.ConfigurationError, match="another key"):
        client.sync(tmp_path, study_id=changing.main_study_id, deidentify=jhe.Deidentification(OTHER_KEY))
    plain = tmp_path / "plain"
    client.sync(plain, study_id=changing.main_study_id)
    with pytest.raises(jhe.ConfigurationError, match="not de-identified"):
        client.sync(plain, study_id=changing.main_study_id, deidentify=settings)
