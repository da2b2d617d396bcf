"""Pseudonyms and date shifts: keyed, stable across runs, codes, layouts and the patient
list, other with another key, and every interval within a patient exact after a shift."""

from __future__ import annotations

import warnings
from collections import defaultdict
from datetime import timedelta

import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE
from tests.privacy.conftest import KEY, OTHER_KEY, expected_pseudonym

TIMES = ["effective_start", "effective_end", "last_updated", "created"]


def fetched(client: jhe.Client, study: int, **options: object) -> jhe.Observations:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jhe.DecodeWarning)
        return client.fetch(study_id=study, **options)  # type: ignore[arg-type]


def tables(obs: jhe.Observations) -> list[pa.Table]:
    arrow = obs.to_arrow()
    return list(arrow.values()) if isinstance(arrow, dict) else [arrow]


def pairs(original: jhe.Observations, deidentified: jhe.Observations, left: str, right: str) -> set[tuple[object, object]]:
    """(original value, de-identified value) of each row: the rows stay in order."""
    found: set[tuple[object, object]] = set()
    for before, after in zip(tables(original), tables(deidentified), strict=True):
        found |= set(zip(before[left].to_pylist(), after[right].cast(pa.string()).to_pylist(), strict=True))
    return found


def test_a_pseudonym_is_the_documented_hmac_the_same_everywhere(fx: FakeExchange, client: jhe.Client) -> None:
    settings = jhe.Deidentification(KEY)
    mapping: dict[int, str] = {}
    for options in ({"layout": "wide"}, {"layout": "long"}, {"code": GLUCOSE}, {"code": HEART_RATE}, {"api": "rest"}):
        original = fetched(client, fx.main_study_id, **options)
        # Another run: a fetch of its own, de-identified as it is fetched.
        again = fetched(client, fx.main_study_id, deidentify=settings, **options)
        for patient, pseudonym in pairs(original, again, "patient_id", "pseudonym"):
            assert mapping.setdefault(patient, pseudonym) == pseudonym, f"{options}: one pseudonym per patient"  # type: ignore[arg-type]
    assert len(mapping) == len(fx.directory["patients_by_study"][fx.main_study_id])
    assert len(set(mapping.values())) == len(mapping), "no two patients share one"
    for patient, pseudonym in mapping.items():
        assert pseudonym == expected_pseudonym(KEY, client.url, patient)
    listed = client.list_patients(study_id=fx.main_study_id, deidentify=settings)
    assert set(listed["pseudonym"]) == set(mapping.values()), "the patient list joins on the same pseudonyms"


def test_another_key_gives_other_pseudonyms_and_shifts(fx: FakeExchange, client: jhe.Client) -> None:
    original = fetched(client, fx.main_study_id, code=GLUCOSE)
    one, other = original.deidentify(KEY), original.deidentify(OTHER_KEY)
    assert not set(tables(one)[0]["pseudonym"].to_pylist()) & set(tables(other)[0]["pseudonym"].to_pylist())
    assert not set(tables(one)[0]["observation_id"].to_pylist()) & set(tables(other)[0]["observation_id"].to_pylist())
    assert tables(one)[0]["effective_start"] != tables(other)[0]["effective_start"]
    assert tables(one)[0].equals(tables(original.deidentify(KEY))[0]), "the same key, the same table"


def test_observation_ids_are_rekeyed_consistently_and_stay_joinable(fx: FakeExchange, client: jhe.Client) -> None:
    wide = fetched(client, fx.main_study_id, layout="wide")
    long = fetched(client, fx.main_study_id, layout="long")
    ids_wide = pairs(wide, wide.deidentify(KEY), "observation_id", "observation_id")
    ids_long = pairs(long, long.deidentify(KEY), "observation_id", "observation_id")
    assert ids_wide == ids_long
    assert len({pseudonym for _, pseudonym in ids_wide}) == len(ids_wide), "one pseudonym per observation"
    assert all(len(str(p)) == 32 for _, p in ids_wide)
    # The errors name the same pseudonyms as the rows they describe.
    deidentified = long.deidentify(KEY)
    rekeyed = dict(ids_long)
    assert deidentified.errors and len(deidentified.errors) == len(long.errors)
    for before, after in zip(long.errors, deidentified.errors, strict=True):
        if before["observation_id"] is not None and before["observation_id"] in rekeyed:
            assert after["observation_id"] == rekeyed[before["observation_id"]]
        assert after["raw"] == "" and after["reason"] == before["reason"]


def test_every_interval_within_a_patient_is_exact_after_the_shift(fx: FakeExchange, client: jhe.Client) -> None:
    original = fetched(client, fx.main_study_id, layout="long")
    shifted = original.deidentify(KEY, date_shift_days=30)
    before, after = tables(original)[0], tables(shifted)[0]
    shifts: dict[int, set[timedelta]] = defaultdict(set)
    times_of: dict[int, list[tuple[object, object]]] = defaultdict(list)
    for name in TIMES:
        for patient, old, new in zip(before["patient_id"].to_pylist(), before[name].to_pylist(), after[name].to_pylist(), strict=True):
            assert (old is None) == (new is None)
            if old is not None:
                shifts[patient].add(new - old)
                times_of[patient].append((old, new))
    for patient, moved in shifts.items():
        assert len(moved) == 1, f"patient {patient}: every time moves by one shift"
        (shift,) = moved
        assert shift % timedelta(weeks=1) == timedelta(0) and abs(shift) <= timedelta(days=30)
        pairs_ = sorted(times_of[patient], key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]
        for (old_a, new_a), (old_b, new_b) in zip(pairs_, pairs_[1:]):
            assert new_b - new_a == old_b - old_a  # type: ignore[operator]
            assert new_a.weekday() == old_a.weekday() and new_a.time() == old_a.time()  # type: ignore[attr-defined]
    assert any(shift != {timedelta(0)} for shift in shifts.values()), "times do move"
    # The patient list's birth dates move by the same shift.
    plain = client.list_patients(study_id=fx.main_study_id).set_index("id")
    listed = client.list_patients(study_id=fx.main_study_id, deidentify=jhe.Deidentification(KEY, date_shift_days=30)).set_index("pseudonym")
    for patient, (shift,) in shifts.items():
        born = plain.loc[patient, "birthDate"]
        moved = listed.loc[expected_pseudonym(KEY, client.url, patient), "birthDate"]
        assert _days_between(born, moved) == shift.days


def _days_between(before: str, after: str) -> int:
    from datetime import date

    return (date.fromisoformat(after) - date.fromisoformat(before)).days


def test_the_key_is_required_never_shown_and_checked(monkeypatch: pytest.MonkeyPatch, client: jhe.Client, fx: FakeExchange) -> None:
    monkeypatch.delenv("JHE_DEID_KEY", raising=False)
    with pytest.raises(jhe.ConfigurationError, match="JHE_DEID_KEY"):
        client.fetch(study_id=fx.main_study_id, code=GLUCOSE, deidentify=True)
    with pytest.raises(jhe.ConfigurationError, match="at least 16 bytes"):
        jhe.Deidentification("short")
    with pytest.raises(jhe.ConfigurationError, match="whole weeks"):
        jhe.Deidentification(KEY, date_shift_days=3)
    with pytest.raises(jhe.ConfigurationError, match="mode must be"):
        jhe.Deidentification(KEY, mode="hash")  # type: ignore[arg-type]
    with pytest.raises(jhe.ConfigurationError, match="date_shift_days"):
        jhe.Deidentification(KEY, date_shift_days=-1)
    with pytest.raises(jhe.ArgumentError, match="deidentify must be"):
        client.fetch(study_id=fx.main_study_id, code=GLUCOSE, deidentify="yes")  # type: ignore[arg-type]
    monkeypatch.setenv("JHE_DEID_KEY", KEY)
    from_env = fetched(client, fx.main_study_id, code=GLUCOSE, deidentify=True)
    given = fetched(client, fx.main_study_id, code=GLUCOSE, deidentify=jhe.Deidentification(KEY))
    assert tables(from_env)[0].equals(tables(given)[0])
    settings = jhe.Deidentification(KEY)
    assert KEY not in repr(settings) and KEY not in repr(settings.native(client.url)) and KEY not in repr(from_env)
    assert from_env.deidentified == {"mode": "pseudonymize", "date_shift_days": 365}


def test_columns_name_the_deidentified_tables_and_the_pseudonym_stays(fx: FakeExchange, client: jhe.Client) -> None:
    settings = jhe.Deidentification(KEY)
    obs = fetched(client, fx.main_study_id, code=GLUCOSE, columns=["timestamp", "glucose_mg_dl"], deidentify=settings)
    assert tables(obs)[0].column_names == ["pseudonym", "timestamp", "glucose_mg_dl"]
    full = fetched(client, fx.main_study_id, code=GLUCOSE, deidentify=settings)
    assert tables(obs)[0]["timestamp"].equals(tables(full)[0]["timestamp"]), "the same shift as without columns="
    harbored = fetched(client, fx.main_study_id, code=GLUCOSE, columns=["first_year", "glucose_mg_dl"], deidentify=jhe.Deidentification(KEY, mode="safe_harbor"))
    assert tables(harbored)[0].column_names == ["pseudonym", "first_year", "effective_start", "glucose_mg_dl"]
    with pytest.raises(jhe.ConfigurationError, match="patient_id"):
        jhe.Deidentification(KEY).native(client.url).apply(client._native.fetch({"columns": ["glucose_mg_dl"]}, study_id=fx.main_study_id, codes=GLUCOSE))
