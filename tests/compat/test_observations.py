"""compat's observations against the official client: the same resources from
``list_observations``, and the official ``list_observations_df`` (``tidy_observation``)
layout column by column and value by value (the whole resource and OMH document, which the
engine's flat layout flattens): every code, interval time frames as the payload wrote them
(start or end plus duration, or date plus part of day), IEEE codes, the caller's limit, and
no silent 2000-row cut."""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd
import pytest

import jupyterhealth_client as official  # type: ignore[import-untyped]
from jhe import compat
from jhe.testing import FakeExchange

from tests.compat.helpers import IEEE, INTERVAL_BOUNDS, INTERVAL_FORM_COLUMNS, assert_same_layout, official_code
from tests.helpers import GLUCOSE

REQUIRED = [
    "omh:blood-glucose:4.0",
    "omh:blood-pressure:4.0",
    "omh:heart-rate:2.0",
    "omh:step-count:3.0",
    "omh:sleep-episode:1.1",
    "omh:sleep-duration:2.0",
    "ieee:sleep-stage-summary:1.0",
]
OTHERS = [
    "omh:body-temperature:4.0",
    "omh:oxygen-saturation:2.0",
    "omh:respiratory-rate:2.0",
    "omh:body-weight:3.0",
    "omh:forced-vital-capacity:1.0",
    "omh:forced-expiratory-volume-1-second:1.0",
    "ieee:food-entry:0.1",
    "omh:ambient-sound:1.0",  # a code jhe's catalogue does not know: flattened generically
]


@pytest.mark.parametrize("code", REQUIRED + OTHERS)
def test_study_observations_match_official(clients: tuple[Any, Any], fake: FakeExchange, code: str) -> None:
    theirs, ours = clients
    expected = theirs.list_observations_df(study_id=fake.main_study_id, code=official_code(code), limit=None)
    assert len(expected) == len(fake.expected_observations(study_id=fake.main_study_id, code=code)) > 0
    assert_same_layout(expected, ours.list_observations_df(study_id=fake.main_study_id, code=code))


@pytest.mark.parametrize("code", [compat.Code.BLOOD_GLUCOSE, compat.Code.BLOOD_PRESSURE, compat.Code.HEART_RATE])
def test_patient_observations_with_code_enum(clients: tuple[Any, Any], code: compat.Code) -> None:
    theirs, ours = clients
    expected = theirs.list_observations_df(patient_id=40002, code=official.Code(code.value))
    assert 0 < len(expected) < 2000
    assert_same_layout(expected, ours.list_observations_df(patient_id=40002, code=code))
    # the official enum works too, as a notebook may import it
    assert_same_layout(expected, ours.list_observations_df(patient_id=40002, code=official.Code(code.value)))


def test_every_code_at_once_matches_official(clients: tuple[Any, Any]) -> None:
    """No code: every type in one table; the columns' order is the order they are first met
    row by row (newest first), which depends on every row's fields."""
    theirs, ours = clients
    expected = theirs.list_observations_df(patient_id=40001, limit=None)
    actual = ours.list_observations_df(patient_id=40001)
    assert expected["code"].nunique() == actual["code"].nunique() > 10
    assert set(actual.columns) == set(expected.columns)
    assert any(c in actual.columns for c in INTERVAL_FORM_COLUMNS)
    for column in ("meta_source", "identifier_0_system", "identifier_0_value", "schema_id_name",
                   "source_creation_date_time", "source_creation_date_time_local",
                   "external_datasheets_0_datasheet_type"):
        assert column in actual.columns, column
    assert_same_layout(expected, actual)


@pytest.mark.parametrize("code", ["omh:rr-interval:1.0", "omh:physical-activity:1.2"])
def test_interval_forms_as_written(clients: tuple[Any, Any], fake: FakeExchange, code: str) -> None:
    """Payloads written as start/end + duration or date + part_of_day: compat has the same
    columns as the official client, ``..._duration_value`` / ``..._part_of_day`` and only the
    bound that was written, and ``list_observations`` yields them as written."""
    theirs, ours = clients
    expected = theirs.list_observations_df(study_id=fake.main_study_id, code=code, limit=None)
    actual = ours.list_observations_df(study_id=fake.main_study_id, code=code)
    assert any(c in expected.columns for c in INTERVAL_FORM_COLUMNS)
    assert any(c in expected.columns for c in INTERVAL_BOUNDS)
    assert_same_layout(expected, actual)
    yielded = list(ours.list_observations(study_id=fake.main_study_id, code=code))
    tidied = pd.DataFrame.from_records([official.tidy_observation(r) for r in yielded])
    pd.testing.assert_frame_equal(tidied, actual)


def test_ieee_codes_are_found(clients: tuple[Any, Any], fake: FakeExchange) -> None:
    """The official client sends ieee:* codes with the Open mHealth system and finds nothing;
    compat sends the right system."""
    theirs, ours = clients
    assert theirs.list_observations_df(study_id=fake.main_study_id, code=official.Code.SLEEP_STAGE_SUMMARY).empty
    actual = ours.list_observations_df(study_id=fake.main_study_id, code=compat.Code.SLEEP_STAGE_SUMMARY)
    expected = theirs.list_observations_df(
        study_id=fake.main_study_id, code=official_code(compat.Code.SLEEP_STAGE_SUMMARY.value)
    )
    assert len(actual) == len(fake.expected_observations(study_id=fake.main_study_id, code=compat.Code.SLEEP_STAGE_SUMMARY.value)) > 0
    assert_same_layout(expected, actual)
    assert set(actual["code_coding_0_system"]) == {IEEE}


def test_list_observations_and_tidy_observation(clients: tuple[Any, Any], fake: FakeExchange) -> None:
    theirs, ours = clients
    code = "omh:heart-rate:2.0"
    raw = list(theirs.list_observations(study_id=fake.main_study_id, code=code))
    # compat's tidy_observation is the official one
    assert [compat.tidy_observation(r) for r in raw] == [official.tidy_observation(r) for r in raw]
    # compat's resources: the same ids in the same order, and tidied (by the official
    # function) they are exactly compat's DataFrame
    yielded = ours.list_observations(study_id=fake.main_study_id, code=code)
    assert inspect.isgenerator(yielded)
    yielded = list(yielded)
    assert [r["id"] for r in yielded] == [r["id"] for r in raw]
    frame = ours.list_observations_df(study_id=fake.main_study_id, code=code)
    tidied = pd.DataFrame.from_records([official.tidy_observation(r) for r in yielded])
    pd.testing.assert_frame_equal(tidied, frame)
    # and the resources are the server's, as received
    for mine, theirs_ in zip(yielded, raw, strict=True):
        for key in ("id", "status", "code", "subject", "resourceType"):
            assert mine[key] == theirs_[key]
        assert mine["meta"]["source"] == theirs_["meta"]["source"]
        assert mine.get("identifier") == theirs_.get("identifier")
        assert list(mine) == list(theirs_)
    assert yielded == raw


def test_limit_is_the_callers(clients: tuple[Any, Any]) -> None:
    theirs, ours = clients
    expected = theirs.list_observations_df(patient_id=40001, code=GLUCOSE, limit=25)
    assert len(expected) == 25
    assert_same_layout(expected, ours.list_observations_df(patient_id=40001, code=GLUCOSE, limit=25))
    assert len(list(ours.list_observations(patient_id=40001, code=GLUCOSE, limit=7))) == 7
    assert len(ours.list_observations_df(patient_id=40001, code=GLUCOSE, limit=0)) == len(
        theirs.list_observations_df(patient_id=40001, code=GLUCOSE, limit=0)
    )


def test_no_silent_2000_row_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """One patient with 25 days of CGM glucose (96 a day): the official client stops at its
    default 2000 rows without a word; compat returns all of them."""
    with FakeExchange(patients=1, days=25, seed=5) as big:
        monkeypatch.setenv("JHE_URL", big.url)
        monkeypatch.setenv("JHE_TOKEN", big.token)
        theirs, ours = official.JupyterHealthClient(big.url), compat.JupyterHealthClient()
        patient = big.directory["visible_patient_ids"][0]
        total = len(big.expected_observations(patient_id=patient, code=GLUCOSE))
        assert total > 2000
        cut = theirs.list_observations_df(patient_id=patient, code=GLUCOSE)
        assert len(cut) == 2000
        everything = ours.list_observations_df(patient_id=patient, code=GLUCOSE)
        assert len(everything) == total
        assert everything["id"].is_unique
        assert everything.attrs["jhe_source"]["observations"] == total
        assert sum(1 for _ in ours.list_observations(patient_id=patient, code=GLUCOSE)) == total
        # the first 2000 are the official client's 2000, column by column
        assert_same_layout(cut, everything.head(2000))
        assert_same_layout(cut, ours.list_observations_df(patient_id=patient, code=GLUCOSE, limit=2000))
        assert_same_layout(
            theirs.list_observations_df(patient_id=patient, code=GLUCOSE, limit=None), everything
        )

