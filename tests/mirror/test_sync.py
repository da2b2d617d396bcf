"""client.sync: a Delta Lake mirror kept equal to the server by reading only what changed."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import jhe
from jhe._export import file_stem
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


def mirrored(path: Path) -> dict[str, pd.DataFrame]:
    frames = jhe.read_mirror(path).to_pandas()
    return frames if isinstance(frames, dict) else {jhe.read_mirror(path).codes[0]: frames}


def fetched(client: jhe.Client, fx: FakeExchange) -> dict[str, pd.DataFrame]:
    frames = client.fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    return frames if isinstance(frames, dict) else {client.fetch(study_id=fx.main_study_id, layout="wide").codes[0]: frames}


def assert_same(mirror: dict[str, pd.DataFrame], fresh: dict[str, pd.DataFrame]) -> None:
    """The same ids and values, code by code, whatever the row order."""
    fresh = {code: frame for code, frame in fresh.items() if len(frame)}
    assert set(mirror) >= set(fresh)
    for code, frame in mirror.items():
        expected = fresh.get(code, frame.iloc[0:0])
        # An older server's changes come from its REST list, which also names the patient.
        assert set(frame.columns) - set(expected.columns) <= {"patient_name", "data_source"}
        order = lambda f: f.sort_values("observation_id").reset_index(drop=True)  # noqa: E731
        pd.testing.assert_frame_equal(order(frame[expected.columns]), order(expected), check_categorical=False)


def test_twenty_rounds_of_changes_each_leave_a_mirror_equal_to_a_full_fetch(fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(fx.url, fx.token)
    first = client.sync(tmp_path, study_id=fx.main_study_id)
    assert first.full and first.drift == 0 and first.added == first.mirror_total == first.server_total
    rng = random.Random(7)
    for _ in range(20):
        visible = [row["id"] for row in fx.expected_observations(study_id=fx.main_study_id)]
        added = fx.add_observations(rng.randint(0, 5))
        changed = rng.sample(visible, rng.randint(0, 3))
        fx.update_observations(changed)
        deleted = rng.sample([i for i in visible if i not in changed], rng.choice([0, 0, 0, 1, 2]))
        fx.delete_observations(deleted)
        result = client.sync(tmp_path, study_id=fx.main_study_id)
        assert not result.full
        assert (result.added, result.updated) == (len(added), len(changed))
        assert result.drift == len(deleted), "deletions are invisible to a reading of changes, and reported as drift"
        if deleted:
            result = client.sync(tmp_path, study_id=fx.main_study_id, full=True)
            assert result.full and result.drift == 0
        assert_same(mirrored(tmp_path), fetched(client, fx))


def test_a_second_sync_with_no_change_makes_a_constant_number_of_requests(fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(fx.url, fx.token)
    client.sync(tmp_path, study_id=fx.main_study_id)
    fx.clear_requests()
    result = client.sync(tmp_path, study_id=fx.main_study_id)
    assert (result.added, result.updated, result.drift) == (0, 0, 0)
    api = [r for r in fx.requests() if "/o/" not in r["path"]]
    assert len(api) <= 4, api
    assert result.requests <= len(api)


def test_the_mirror_reads_back_in_the_fetch_types_and_through_polars(tmp_path: Path) -> None:
    with FakeExchange(patients=3, days=2, seed=4, damaged_every=9) as fx:
        client = jhe.Client(fx.url, fx.token)
        client.sync(tmp_path, study_id=fx.main_study_id, codes=GLUCOSE)
        with_errors = jhe.read_mirror(tmp_path)
        fresh = client.fetch(study_id=fx.main_study_id, code=GLUCOSE)
    assert with_errors.codes == [GLUCOSE] and with_errors.total == fresh.total
    assert {e["observation_id"] for e in with_errors.errors} == {e["observation_id"] for e in fresh.errors} != set()
    with pytest.warns(jhe.DecodeWarning):
        frame, expected = with_errors.to_pandas(), fresh.to_pandas()
    assert dict(frame.dtypes) == dict(expected.dtypes)
    polars = pl.read_delta(str(tmp_path / file_stem(GLUCOSE)))
    assert polars.height == fresh.total


def test_reading_a_directory_that_is_no_mirror_says_so(tmp_path: Path) -> None:
    with pytest.raises(jhe.ConfigurationError, match="no jhe mirror"):
        jhe.read_mirror(tmp_path)


SYNC_FOREVER = """
import sys, jhe
client = jhe.Client(sys.argv[1], sys.argv[2])
print("started", flush=True)
while True:
    client.sync(sys.argv[3], study_id=int(sys.argv[4]), full=True)
"""


def test_a_sync_killed_mid_write_leaves_a_readable_mirror_and_the_next_sync_correct(tmp_path: Path) -> None:
    with FakeExchange(patients=4, days=3, seed=9) as fx:
        client = jhe.Client(fx.url, fx.token)
        client.sync(tmp_path, study_id=fx.main_study_id)
        for delay in (0.05, 0.2, 0.4, 0.8):
            fx.add_observations(3)
            process = subprocess.Popen(
                [sys.executable, "-c", SYNC_FOREVER, fx.url, fx.token, str(tmp_path), str(fx.main_study_id)],
                stdout=subprocess.PIPE, text=True,
            )
            assert process.stdout is not None and process.stdout.readline() == "started\n"
            time.sleep(delay)  # where in a sync the kill lands; any point must do
            process.kill()
            process.wait()
            assert jhe.read_mirror(tmp_path).total > 0, "the last committed version is readable"
            client.sync(tmp_path, study_id=fx.main_study_id)
            assert_same(mirrored(tmp_path), fetched(client, fx))
