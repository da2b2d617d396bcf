"""Nothing is lost: damaged records are kept and reported, unknown codes are kept, and
duplicate uuids are flagged, through both APIs."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import observation_ids

UNKNOWN = "omh:ambient-sound:1.0"
# What each kind of damage must be reported as.
REASONS = {
    "not_base64": ("base64", "not a valid OMH JSON document"),
    "not_json": ("not a valid OMH JSON document",),
    "missing_measure": ("required",),
    "bad_unit": ("unit",),
    "no_time_frame": ("no effective_time_frame",),
    "bad_date_time": ("not an ISO 8601 date-time",),
}


@pytest.fixture(scope="module")
def dirty() -> Iterator[FakeExchange]:
    with FakeExchange(
        patients=4, days=2, seed=13, damaged_every=9, unknown_codes=True, duplicate_uuid_every=13
    ) as exchange:
        yield exchange


def fetch(fx: FakeExchange, **kwargs: Any) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = jhe.Client(fx.url, fx.token, page_size=200).fetch_dataframe(study_id=fx.main_study_id, **kwargs)
    decode_warnings = [w for w in caught if issubclass(w.category, jhe.DecodeWarning)]
    return result, decode_warnings


@pytest.mark.parametrize("api", ["fhir", "rest"])
def test_damaged_records_are_kept_and_reported(dirty: FakeExchange, api: str) -> None:
    fx = dirty
    expected = fx.expected_observations(study_id=fx.main_study_id)
    damaged = {i: kind for i, kind in fx.damaged() if i in {row["id"] for row in expected}}
    assert set(damaged.values()) == set(REASONS), "every kind of damage is served"
    df, decode_warnings = fetch(fx, api=api, layout="long")
    assert observation_ids(df) == [row["id"] for row in expected], "every observation, damaged or not"
    errors = df.attrs["jhe_errors"]
    assert {e["observation_id"] for e in errors} == set(damaged), "exactly the damaged ones are reported"
    for error in errors:
        kind = damaged[error["observation_id"]]
        assert any(reason in error["reason"] for reason in REASONS[kind]), (kind, error["reason"])
        assert error["raw"], "the raw payload is kept"
    assert len(decode_warnings) == 1
    assert f"{len(errors)} records could not be fully decoded ({len(expected)} observations in the result" in str(
        decode_warnings[0].message
    )
    assert decode_warnings[0].filename == __file__, "the warning points at the caller's line"


def test_wide_frames_carry_their_codes_errors(dirty: FakeExchange) -> None:
    fx = dirty
    frames, decode_warnings = fetch(fx, layout="wide")
    damaged = dict(fx.damaged())
    assert len(decode_warnings) == 1
    reported = [e["observation_id"] for frame in frames.values() for e in frame.attrs["jhe_errors"]]
    assert sorted(reported) == sorted(i for i in damaged if i in {r["id"] for r in fx.expected_observations()})
    for code, frame in frames.items():
        assert all(e["code"] == code for e in frame.attrs["jhe_errors"])


def test_strict_raises_naming_the_first_bad_record(dirty: FakeExchange) -> None:
    fx = dirty
    with pytest.raises(jhe.DecodeError) as caught:
        jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, strict=True)
    first = int(str(caught.value).split()[1])
    assert first in dict(fx.damaged())
    assert "such records in all" in str(caught.value)


@pytest.mark.parametrize("api", ["fhir", "rest"])
def test_unknown_codes_are_kept_in_both_layouts(dirty: FakeExchange, api: str) -> None:
    fx = dirty
    sound = [row for row in fx.expected_observations(study_id=fx.main_study_id, code=UNKNOWN) if not row["damage"]]
    assert sound, "the fake serves the unknown code"
    frames, _ = fetch(fx, api=api, layout="wide")
    wide = frames[UNKNOWN]
    for column in ["sound_level_value", "sound_level_unit", "environment_label", "environment_indoor", "tags"]:
        assert column in wide.columns
    assert wide["environment_indoor"].dtype == "bool" or wide["environment_indoor"].dtype == "object"
    by_id = wide.set_index("observation_id")
    for row in sound:
        body = row["omh"]["body"]
        got = by_id.loc[row["id"]]
        assert got["sound_level_value"] == body["sound_level"]["value"]
        assert got["sound_level_unit"] == body["sound_level"]["unit"]
        assert got["environment_label"] == body["environment"]["label"]
        assert got["tags"] == '["' + '","'.join(body["tags"]) + '"]'
    long, _ = fetch(fx, api=api, layout="long")
    levels = long[(long["code"] == UNKNOWN) & (long["measure"] == "sound_level")].set_index("observation_id")
    for row in sound:
        assert levels.loc[row["id"], "value"] == row["omh"]["body"]["sound_level"]["value"]
        assert levels.loc[row["id"], "unit"] == "dB"


def test_duplicate_uuids_are_flagged_not_merged(dirty: FakeExchange) -> None:
    fx = dirty
    expected = [row for row in fx.expected_observations(study_id=fx.main_study_id) if row["omh"]]
    counts = Counter(row["omh"]["header"].get("uuid") for row in expected)
    shared = {row["id"] for row in expected if counts[row["omh"]["header"].get("uuid")] > 1}
    assert shared, "the fake serves duplicate uuids"
    frames, _ = fetch(fx, layout="wide")
    flagged = {int(i) for frame in frames.values() for i in frame.loc[frame["duplicate_uuid"], "observation_id"]}
    assert flagged == shared
    total_rows = sum(len(frame) for frame in frames.values())
    assert total_rows == len(fx.expected_observations(study_id=fx.main_study_id)), "none merged"
    assert next(iter(frames.values())).attrs["jhe_source"]["duplicate_uuids"] == len(shared)
