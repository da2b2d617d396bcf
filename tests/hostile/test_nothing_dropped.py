"""Nothing a server sends is dropped silently: every entry of a page is a row, or a row of
the errors table naming its problem, in the wide, long and flat layouts."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe import compat

from tests.helpers import GLUCOSE, HEART_RATE
from tests.hostile.server import Hostile, Reply, bundle

GLUCOSE_BODY = {"blood_glucose": {"value": 105, "unit": "mg/dL"}, "temporal_relationship_to_meal": "fasting"}
HEART_BODY = {"heart_rate": {"value": 61, "unit": "beats/min"}}


def observation(
    id: int, code: str | dict[str, Any] | None = GLUCOSE, body: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A FHIR Observation carrying an OMH document; `code` is a code, the `code` element
    itself (a dict), or `None` for none at all."""
    document = {
        "header": {"uuid": f"u{id}"},
        "body": {"effective_time_frame": {"date_time": f"2025-01-01T00:{id % 60:02}:00Z"}, **(body or GLUCOSE_BODY)},
    }
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(id),
        "meta": {"lastUpdated": "2025-01-02T00:00:00Z"},
        "status": "final",
        "subject": {"reference": "Patient/40001"},
        "valueAttachment": {"contentType": "application/json", "data": base64.b64encode(json.dumps(document).encode()).decode()},
    }
    if isinstance(code, str):
        resource["code"] = {"coding": [{"system": "https://w3id.org/openmhealth", "code": code}]}
    elif code is not None:
        resource["code"] = code
    resource.update(fields)
    return resource


def serving(entries: list[dict[str, Any] | None], total: int, only_code: str | None = None) -> Hostile:
    """A current-generation Exchange whose every Observation search (with `only_code`, its
    search for that code) answers `entries` (a `None` entry has no `resource`), paged by
    `_count` and `_page`, announcing `total`; other searches find nothing."""
    listed = [{"resource": e} if e is not None else {"fullUrl": "urn:uuid:gone"} for e in entries]

    def answer(request: Any) -> Reply | None:
        if request.path == "/FHIR/R5/metadata":
            return Reply.json({"resourceType": "CapabilityStatement"})
        if request.path != "/FHIR/R5/Observation":
            return Reply(404, b"no such page")
        if only_code is not None and not request.query.get("code", [""])[0].endswith(f"|{only_code}"):
            return Reply.json(bundle([], total=0))
        size, number = int(request.query.get("_count", ["1000"])[0]), int(request.query.get("_page", ["1"])[0])
        more = number * size < len(listed)
        page = bundle([], total=total, next_url=f"/FHIR/R5/Observation?_count={size}&_page={number + 1}" if more else None)
        page["entry"] = listed[(number - 1) * size : number * size]
        return Reply.json(page)

    return Hostile(answer)


def fetch(hostile: Hostile, layout: str, code: str | list[str] | None = GLUCOSE) -> tuple[Any, list[dict[str, Any]], list[warnings.WarningMessage]]:
    """The frame (or frames) and the errors of a fetch through `hostile`, and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if layout == "flat":
            client = compat.JupyterHealthClient(hostile.url, token="t")
            frame = client.list_observations_df(study_id=1, code=code)
        else:
            client = jhe.Client(hostile.url, "t", retries=0)
            frame = client.fetch_dataframe(study_id=1, code=code, layout=layout)  # type: ignore[call-overload]
    frames = frame.values() if isinstance(frame, dict) else [frame]
    errors = [e for f in frames for e in f.attrs["jhe_errors"]]
    return frame, errors, [w for w in caught if issubclass(w.category, UserWarning)]


def ids(frame: Any, layout: str) -> set[int]:
    """The observation ids among a frame's rows."""
    return set(frame["observation_id"] if layout != "flat" else frame["id"].astype(int))


@pytest.fixture(params=[5, 8], ids=["total of observations", "total of entries"])
def damaged_entries(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    operation_outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "processing", "diagnostics": "some rows were hidden"}],
    }
    entries: list[dict[str, Any] | None] = [
        observation(1),
        {"resourceType": "Patient", "id": "40001", "name": [{"family": "Ali"}]},
        operation_outcome,
        None,
        observation(2, code=None),
        observation(3, code={"coding": []}),
        observation(4, code={"coding": [{"system": "https://w3id.org/openmhealth"}]}),
        {k: v for k, v in observation(5).items() if k != "valueAttachment"},
    ]
    # FHIR counts the Observations matched, not the other entries; a server may count them all.
    with serving(entries, total=request.param) as hostile:
        yield hostile


REPORTED = {
    None: ["a Patient (id \"40001\"), not an Observation", "an OperationOutcome, not an Observation: some rows were hidden",
           "a Bundle entry (urn:uuid:gone) has no resource"],
    2: ["the observation has no code"],
    3: ["the observation has no code"],
    4: ["the observation has no code"],
    5: ["no OMH payload"],
}


@pytest.mark.parametrize("layout", ["wide", "long", "flat"])
def test_entries_that_are_not_whole_observations_are_reported(damaged_entries: Hostile, layout: str) -> None:
    frame, errors, caught = fetch(damaged_entries, layout)
    reasons: dict[Any, list[str]] = {}
    for error in errors:
        reasons.setdefault(error["observation_id"], []).append(error["reason"])
    assert sorted(reasons, key=str) == sorted(REPORTED, key=str), errors
    for id, expected in REPORTED.items():
        for text in expected:
            assert any(text in reason for reason in reasons[id]), (text, reasons[id])
    assert len(errors) == 7
    # the wide tables have no place for the three codeless observations
    kept = 2 if layout == "wide" else 5
    assert len(caught) == 1 and f"7 records could not be fully decoded ({kept} observations in the result" in str(caught[0].message)
    assert {1, 5} <= ids(frame, layout), "the glucose observations are rows"


def test_a_code_not_asked_for_is_reported_not_dropped() -> None:
    entries: list[dict[str, Any] | None] = [observation(1), observation(2, code=HEART_RATE, body=HEART_BODY)]
    with serving(entries, total=2, only_code=GLUCOSE) as hostile:
        for layout in ["wide", "long", "flat"]:
            frame, errors, caught = fetch(hostile, layout)
            assert ids(frame, layout) == {1}, layout
            assert [(e["observation_id"], e["code"]) for e in errors] == [(2, HEART_RATE)], layout
            assert f"code {HEART_RATE} was not asked for" in errors[0]["reason"]
            assert errors[0]["raw"], "its payload is kept"
            assert len(caught) == 1
        # several codes: the same, each frame listing what belongs to no frame
        frames, errors, _ = fetch(hostile, "wide", code=[GLUCOSE, "omh:blood-pressure:4.0"])
        assert sorted(frames) == [GLUCOSE, "omh:blood-pressure:4.0"]
        assert {e["observation_id"] for e in errors} == {2}
        assert all(f.attrs["jhe_errors"] for f in frames.values())


def test_body_keys_never_duplicate_a_column_name() -> None:
    body = {
        "observation_id": 7, "timestamp": "then", "patient_id": "p", "code": "c", "duplicate_uuid": True,
        "a": {"b": 1}, "a_b": 2, "level": {"value": 3, "unit": "dB"}, "level_value": 4, "body_a_b": 5,
    }
    entries: list[dict[str, Any] | None] = [observation(1, code="x:odd:1.0", body=body)]
    with serving(entries, total=1) as hostile:
        frame, errors, _ = fetch(hostile, "wide", code="x:odd:1.0")
    assert errors == []
    assert frame.columns.is_unique, list(frame.columns)
    row = frame.iloc[0]
    assert row["observation_id"] == 1 and row["patient_id"] == 40001 and row["code"] == "x:odd:1.0"
    # every body value is there, under a name of its own
    values = {str(v) for v in row.to_dict().values()}
    assert {"7.0", "then", "p", "c", "1.0", "2.0", "3.0", "dB", "4.0", "5.0"} <= values, row.to_dict()


def test_unknown_codes_with_ever_new_keys_stay_linear() -> None:
    # 2,000 rows, each with 20 keys no other row has: one column per key would be 40,000
    # columns of 2,000 rows (80 million cells, from 40,000 values).
    rows, keys = 2000, 20
    entries: list[dict[str, Any] | None] = [
        observation(i, code="x:noise:1.0", body={f"k{i}_{j}": j for j in range(keys)}) for i in range(1, rows + 1)
    ]
    with serving(entries, total=rows) as hostile:
        frame, errors, _ = fetch(hostile, "wide", code="x:noise:1.0")
    assert errors == []
    assert len(frame) == rows
    assert len(frame.columns) < 400
    kept = json.loads(frame.set_index("observation_id").loc[1234, "body_other"])
    assert kept == {f"k1234_{j}": j for j in range(keys)}, "keys beyond the column limit are kept"


def test_compat_list_observations_warns_of_entries_it_does_not_yield(damaged_entries: Hostile) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resources = list(compat.JupyterHealthClient(damaged_entries.url, token="t").list_observations(study_id=1, code=GLUCOSE))
    assert {r["resourceType"] for r in resources} == {"Observation"}
    assert [str(w.message) for w in caught if issubclass(w.category, jhe.DecodeWarning)][0].startswith("7 records")


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_rest_rows_missing_fields_are_reported(layout: str) -> None:
    document = {"header": {"uuid": "u"}, "body": {"effective_time_frame": {"date_time": "2025-01-01T00:00:00Z"}, **HEART_BODY}}
    whole = {"id": 1, "subjectPatientId": 40001, "codingCode": HEART_RATE, "lastUpdated": "2025-01-02T00:00:00Z", "omhData": document}
    rows = [
        whole,
        {k: v for k, v in whole.items() if k != "id"},
        {**{k: v for k, v in whole.items() if k != "codingCode"}, "id": 3},
        {**{k: v for k, v in whole.items() if k != "omhData"}, "id": 4},
        {**{k: v for k, v in whole.items() if k != "subjectPatientId"}, "id": 5},
    ]

    def answer(request: Any) -> Reply | None:
        if request.path == "/api/v1/observations":
            return Reply.json({"count": len(rows), "next": None, "previous": None, "results": rows})
        if request.path.startswith("/api/v1/studies/"):
            return Reply.json({"id": 1, "name": "s"})
        return Reply(404, b"no such page")

    with Hostile(answer) as hostile, warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = jhe.Client(hostile.url, "t", retries=0).fetch(study_id=1, api="rest", layout=layout)  # type: ignore[call-overload]
        frames = result.to_pandas()
    reasons = {e["observation_id"]: e["reason"] for e in result.errors}
    assert reasons.keys() == {None, 3, 4, 5}
    assert "the observation has no id" in reasons[None]
    assert "the observation has no code" in reasons[3]
    assert "no OMH payload" in reasons[4]
    assert "names no patient" in reasons[5]
    frames = frames if isinstance(frames, dict) else {None: frames}
    shown = [e["observation_id"] for f in frames.values() for e in f.attrs["jhe_errors"]]
    assert set(shown) == {None, 3, 4, 5}, "every frame's attrs together list every error"
    ids = {i for f in frames.values() for i in f["observation_id"].dropna().astype(int)}
    assert ids == ({1, 4, 5} if layout == "wide" else {1, 3, 4, 5}), "rows where the layout has a place"


def test_strict_names_a_record_that_is_not_an_observation(damaged_entries: Hostile) -> None:
    with pytest.raises(jhe.DecodeError, match=r'a record without an observation id .*a Patient \(id "40001"\), not an Observation .*7 such records'):
        jhe.Client(damaged_entries.url, "t", retries=0).fetch_dataframe(study_id=1, code=GLUCOSE, strict=True)
