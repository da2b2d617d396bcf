"""Where compat goes further than the official client: damaged records and older servers."""

from __future__ import annotations

import pytest

import jupyterhealth_client as official  # type: ignore[import-untyped]
from jhe import compat
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


def test_damaged_records_are_kept_not_fatal() -> None:
    with FakeExchange(patients=2, days=1, seed=0, damaged_every=5) as damaged:
        theirs = official.JupyterHealthClient(damaged.url, token=damaged.token)
        ours = compat.JupyterHealthClient(damaged.url, token=damaged.token)
        with pytest.raises(ValueError):  # the official client stops at the first bad payload
            theirs.list_observations_df(study_id=damaged.main_study_id, code=GLUCOSE, limit=None)
        with pytest.warns(UserWarning, match="could not be fully decoded"):
            frame = ours.list_observations_df(study_id=damaged.main_study_id, code=GLUCOSE)
        assert len(frame) == len(damaged.expected_observations(study_id=damaged.main_study_id, code=GLUCOSE))
        assert frame.attrs["jhe_errors"]


def test_older_servers_are_read_with_their_own_columns() -> None:
    """The official client only knows /FHIR/R5 (older servers 404 there); compat works and
    gives the columns an older server's resources flatten to."""
    with FakeExchange(patients=2, days=1, seed=0, legacy=True) as older:
        theirs = official.JupyterHealthClient(older.url, token=older.token)
        ours = compat.JupyterHealthClient(older.url, token=older.token)
        with pytest.raises(official.RequestError):
            theirs.list_observations_df(study_id=older.main_study_id, code=GLUCOSE)
        frame = ours.list_observations_df(study_id=older.main_study_id, code=GLUCOSE)
        assert len(frame) == len(older.expected_observations(study_id=older.main_study_id, code=GLUCOSE)) > 0
        assert list(frame.columns[:9]) == [
            "resource_type", "code", "resourceType", "id", "meta_lastUpdated", "status",
            "subject_reference", "code_coding_0_code", "code_coding_0_system",
        ]
        assert frame["effective_time_frame_date_time"].notna().all()
