"""jhe.compat against the official jupyterhealth-client 0.5, both talking to the same fake
Exchange: the same public surface, the same listing results, and the official
``list_observations_df`` (``tidy_observation``) layout column by column, value by value
(including the resource's ``meta.source`` and ``identifier`` and the whole OMH header, which
the engine carries as extras for compat), and without the official client's silent 2000-row
cut. Time frames are the payload's as written, intervals given as start or end plus
duration, or as date plus part of day, included (the engine carries them as extras too)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import jupyterhealth_client as official  # type: ignore[import-untyped]
from jhe import compat
from jhe.testing import FakeExchange

GLUCOSE = "omh:blood-glucose:4.0"
IEEE = "https://w3id.org/ieee1752"

# Interval time frames that are not start + end (start or end + duration, date +
# part_of_day): the official columns are the payload's, and so are compat's.
INTERVAL_FORM_COLUMNS = tuple(
    "effective_time_frame_time_interval_" + name
    for name in ("duration_unit", "duration_value", "date", "part_of_day")
)
INTERVAL_BOUNDS = tuple(
    f"effective_time_frame_time_interval_{bound}_date_time{local}"
    for bound in ("start", "end")
    for local in ("", "_local")
)


def official_code(code: str) -> str:
    """The official client sends every bare code with the Open mHealth system; IEEE codes
    need theirs spelled out to match anything."""
    return f"{IEEE}|{code}" if code.startswith("ieee:") else code


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    with FakeExchange(patients=4, days=4, seed=3, unknown_codes=True) as exchange:
        yield exchange


@pytest.fixture
def clients(fake: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, compat.JupyterHealthClient]:
    """Both clients configured from JHE_URL / JHE_TOKEN. The official client reads JHE_URL
    when it is imported (its default argument), so it gets the URL from the environment
    explicitly; compat reads both when it is made."""
    monkeypatch.setenv("JHE_URL", fake.url)
    monkeypatch.setenv("JHE_TOKEN", fake.token)
    return official.JupyterHealthClient(os.environ["JHE_URL"]), compat.JupyterHealthClient()


def assert_same_layout(expected: pd.DataFrame, actual: pd.DataFrame, *, skip: tuple[str, ...] = ()) -> None:
    """``actual`` (compat) is ``expected`` (official), except the ``skip`` columns: the same
    columns in the same order, the same values, the same dtypes except where the official
    dtype depends on how the JSON spelled a number."""
    expected = expected.drop(columns=[c for c in expected.columns if c in skip])
    actual = actual.drop(columns=[c for c in actual.columns if c in skip])
    assert list(actual.columns) == list(expected.columns)
    for column in expected.columns:
        want, got = expected[column].dtype, actual[column].dtype
        if want != got:
            # The only difference allowed: the payload wrote integral numbers as floats
            # ("3828.0"), which the official client keeps as float64; jhe keeps the value.
            values = expected[column]
            assert (str(want), str(got)) == ("float64", "int64") and (values == values.round()).all(), column
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


# ---------------------------------------------------------------------------------------
# The public surface


def test_code_matches_official() -> None:
    assert [(m.name, m.value) for m in compat.Code] == [(m.name, m.value) for m in official.Code]


def test_public_names_match_official() -> None:
    assert set(official.__all__) <= set(compat.__all__)
    assert issubclass(compat.RequestError, Exception)
    public = [name for name in vars(official.JupyterHealthClient) if not name.startswith("_")]
    assert public, "the official client has public methods"
    for name in public:
        theirs = getattr(official.JupyterHealthClient, name)
        ours = getattr(compat.JupyterHealthClient, name)
        if not callable(theirs):
            continue
        want = inspect.signature(theirs).parameters
        got = inspect.signature(ours).parameters
        for parameter in want.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                continue
            assert parameter.name in got, f"{name}({parameter.name})"
            mine = got[parameter.name]
            assert mine.kind == parameter.kind, f"{name}({parameter.name})"
            if parameter.name == "limit" and name.startswith("list_observations"):
                assert parameter.default == 2000 and mine.default is None  # no silent cut
            elif parameter.name == "url":
                assert mine.default is None  # JHE_URL read when the client is made
            else:
                assert mine.default == parameter.default, f"{name}({parameter.name})"


def test_environment_and_errors(fake: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JHE_CLIENT_ID", raising=False)
    monkeypatch.delenv("JHE_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("JHE_URL", fake.url)
    monkeypatch.delenv("JHE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="JHE_TOKEN"):
        compat.JupyterHealthClient()
    with pytest.raises(ValueError, match="JHE_TOKEN"):
        official.JupyterHealthClient(fake.url)
    assert compat.JupyterHealthClient(token=fake.token).url.rstrip("/") == fake.url.rstrip("/")
    monkeypatch.setenv("JHE_TOKEN", fake.token)
    monkeypatch.delenv("JHE_URL")
    with pytest.raises(ValueError, match="JHE_URL"):
        compat.JupyterHealthClient()
    client = compat.JupyterHealthClient(fake.url)
    with pytest.raises(ValueError, match="patient_id or study_id"):
        client.list_observations_df()
    with pytest.raises(compat.RequestError):
        client.list_observations_df(study_id=fake.hidden_study_id)
    bad = compat.JupyterHealthClient(fake.url, token="not-the-token")
    with pytest.raises(compat.RequestError):
        bad.get_user()


# ---------------------------------------------------------------------------------------
# Listing calls: the same items


@pytest.mark.parametrize(
    "call",
    [
        ("list_patients", (), {}),
        ("list_patients", (), {"organization_id": 20001}),
        ("list_patients", (), {"organization_id": 20002}),
        ("list_patients", (), {"study_id": 30001}),
        ("list_patients", (), {"study_id": 30002}),
        ("list_studies", (), {}),
        ("list_studies", (), {"organization_id": 20001}),
        ("list_studies", (), {"organization_id": 20002}),
        ("list_organizations", (), {}),
        ("list_data_sources", (), {}),
        ("get_patient", (40001,), {}),
        ("get_patient", (40003,), {}),
        ("get_patient_consents", (40001,), {}),
        ("get_patient_consents", (40002,), {}),
        ("get_user", (), {}),
        ("get_study", (30001,), {}),
        ("get_organization", (20001,), {}),
    ],
    ids=lambda call: f"{call[0]}{call[1] or ''}{call[2] or ''}",
)
def test_listing_calls_match_official(clients: tuple[Any, Any], call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
    theirs, ours = clients
    name, args, kwargs = call
    want = getattr(theirs, name)(*args, **kwargs)
    got = getattr(ours, name)(*args, **kwargs)
    if inspect.isgenerator(want):
        assert inspect.isgenerator(got)
        want, got = list(want), list(got)
        assert want, "the fake has data for this call"
    assert type(got) is type(want)
    assert got == want


def test_lookup_patient_matches_official(clients: tuple[Any, Any], fake: FakeExchange) -> None:
    theirs, ours = clients
    (pid, pairs), *_ = [(p, ids) for p, ids in fake.directory["patient_identifiers"].items() if ids]
    system, value = pairs[0]
    assert ours.lookup_patient(external_id=value) == theirs.lookup_patient(external_id=value)
    assert ours.lookup_patient(external_id=value, system=system)["id"] == int(pid)
    with pytest.raises(KeyError):
        ours.lookup_patient(external_id=value, system="https://elsewhere.example")


def test_api_request_and_email_lookup(clients: tuple[Any, Any]) -> None:
    theirs, ours = clients
    params = {"study_id": 30002}
    assert ours.api_request("patients", params=params) == theirs.api_request("patients", params=params)
    with pytest.raises(NotImplementedError):
        ours.api_request("patients", method="POST")
    # GET patients/global_lookup?email=...: the same outcome from both (the fake Exchange
    # does not serve this endpoint yet, so today both get its 404).
    email = next(ours.list_patients())["telecomEmail"]
    outcomes = []
    for client in (theirs, ours):
        try:
            outcomes.append(("found", client.lookup_patient(email=email)))
        except Exception as error:  # the official RequestError, compat's jhe.JHEError
            wrapped = getattr(error, "requests_error", None)  # the official RequestError
            status = wrapped.response.status_code if wrapped is not None else getattr(error, "status", None)
            outcomes.append(("error", status))
    assert outcomes[0] == outcomes[1]


# ---------------------------------------------------------------------------------------
# Observations: the official tidy_observation layout

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
    # the official enum works too, as a notebook may still import it
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
    bound that was written, and ``list_observations`` rebuilds them as written."""
    theirs, ours = clients
    expected = theirs.list_observations_df(study_id=fake.main_study_id, code=code, limit=None)
    actual = ours.list_observations_df(study_id=fake.main_study_id, code=code)
    assert any(c in expected.columns for c in INTERVAL_FORM_COLUMNS)
    assert any(c in expected.columns for c in INTERVAL_BOUNDS)
    assert_same_layout(expected, actual)
    rebuilt = list(ours.list_observations(study_id=fake.main_study_id, code=code))
    tidied = pd.DataFrame.from_records([official.tidy_observation(r) for r in rebuilt])
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
    rebuilt = ours.list_observations(study_id=fake.main_study_id, code=code)
    assert inspect.isgenerator(rebuilt)
    rebuilt = list(rebuilt)
    assert [r["id"] for r in rebuilt] == [r["id"] for r in raw]
    frame = ours.list_observations_df(study_id=fake.main_study_id, code=code)
    tidied = pd.DataFrame.from_records([official.tidy_observation(r) for r in rebuilt])
    pd.testing.assert_frame_equal(tidied, frame)
    # and the resources' own fields are the server's, where jhe carries them
    for mine, theirs_ in zip(rebuilt, raw, strict=True):
        for key in ("id", "status", "code", "subject", "resourceType"):
            assert mine[key] == theirs_[key]
        assert mine["meta"]["source"] == theirs_["meta"]["source"]
        assert mine.get("identifier") == theirs_.get("identifier")
        assert list(mine) == list(theirs_)


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
        assert everything.attrs["jhe_source"]["total"] == total
        assert sum(1 for _ in ours.list_observations(patient_id=patient, code=GLUCOSE)) == total
        # the first 2000 are the official client's 2000, column by column
        assert_same_layout(cut, everything.head(2000))
        assert_same_layout(cut, ours.list_observations_df(patient_id=patient, code=GLUCOSE, limit=2000))
        assert_same_layout(
            theirs.list_observations_df(patient_id=patient, code=GLUCOSE, limit=None), everything
        )


# ---------------------------------------------------------------------------------------
# Where compat goes further than the official client


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


def test_older_servers() -> None:
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
