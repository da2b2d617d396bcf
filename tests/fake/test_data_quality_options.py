"""The fake Exchange's data-quality options (damaged payloads, an unknown code, repeated
uuids), observed over HTTP with plain ``urllib`` (no jhe client), so these hold whatever the
client does."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

import pytest

from jhe.testing import FakeExchange

OMH = "https://w3id.org/openmhealth"
UNKNOWN = "omh:ambient-sound:1.0"
KINDS = {"not_base64", "not_json", "missing_measure", "bad_unit", "no_time_frame", "bad_date_time"}
# The measure each code's schema requires (sleep-episode requires none).
REQUIRED = {
    "omh:blood-glucose:4.0": "blood_glucose",
    "omh:blood-pressure:4.0": "systolic_blood_pressure",
    "omh:heart-rate:2.0": "heart_rate",
    "omh:body-temperature:4.0": "body_temperature",
    "omh:oxygen-saturation:2.0": "oxygen_saturation",
    "omh:respiratory-rate:2.0": "respiratory_rate",
    "omh:rr-interval:1.0": "rr_interval",
    "omh:body-weight:3.0": "body_weight",
    "omh:forced-vital-capacity:1.0": "forced_vital_capacity",
    "omh:forced-expiratory-volume-1-second:1.0": "forced_expiratory_volume_1_second",
    "omh:physical-activity:1.2": "activity_name",
    "omh:step-count:3.0": "step_count",
    "omh:sleep-duration:2.0": "sleep_duration",
    "ieee:sleep-stage-summary:1.0": "sleep_stage_summary",
    "ieee:food-entry:0.1": "food_name",
}
BAD_UNITS = {"g/L", "kPa", "beats/s", "degrees", "ppm", "breaths/h", "s", "stone", "L/s", "kJ", "strides", "nights"}


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return json.loads(response.read())


def fhir_rows(fx: FakeExchange, extra: str = "") -> dict[int, str]:
    """FHIR ``valueAttachment.data`` of every main-study observation, by id."""
    out: dict[int, str] = {}
    url: str | None = (
        f"{fx.fhir_url}/Observation?patient._has:Group:member:_id={fx.main_study_id}&_count=1000{extra}"
    )
    while url:
        bundle = get(url, fx.token)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            out[int(resource["id"])] = resource["valueAttachment"]["data"]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return out


def rest_rows(fx: FakeExchange) -> dict[int, dict[str, Any]]:
    """REST rows of every main-study observation, by id."""
    out: dict[int, dict[str, Any]] = {}
    page = 0
    while True:
        if fx.generation == "guide":
            query = f"limit=1000&offset={page * 1000}"
        else:
            query = f"page_size=1000&page={page + 1}"
        body = get(f"{fx.url}/api/v1/observations?study_id={fx.main_study_id}&{query}", fx.token)
        for row in body["results"]:
            out[row["id"]] = row
        if body["next"] is None:
            return out
        page += 1


def omh_data(fx: FakeExchange, row: dict[str, Any]) -> Any:
    return row["omhData"] if fx.generation == "current" else row["valueAttachmentData"]


def decode(data: str) -> str:
    """Strict base64 (v0.0.11 wraps lines with newlines) to text; raises if it is not base64."""
    return base64.b64decode(data.replace("\n", ""), validate=True).decode("utf-8")


def units(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["unit"]} if isinstance(value.get("unit"), str) else set()
        for v in value.values():
            found |= units(v)
        return found
    return set()


def quality_fx(legacy: bool | str = False, **overrides: Any) -> FakeExchange:
    options: dict[str, Any] = dict(
        patients=3, days=2, seed=5, damaged_every=3, unknown_codes=True, duplicate_uuid_every=4
    )
    options.update(overrides)
    return FakeExchange(legacy=legacy, **options)


@pytest.mark.parametrize("legacy", [False, True, "guide"])
def test_damaged_payloads_are_broken_in_fhir_and_rest(legacy: bool | str) -> None:
    with quality_fx(legacy) as fx:
        expected = fx.expected_observations(study_id=fx.main_study_id)
        damaged = dict(fx.damaged())
        fhir = fhir_rows(fx)
        rest = rest_rows(fx)
    assert len(fhir) == len(rest) == len(expected)
    # Every visible observation is in the main study; every third is damaged.
    assert len(damaged) == len(expected) // 3
    assert set(damaged.values()) == KINDS
    kinds: Counter[str] = Counter()
    for row in expected:
        oid, kind = row["id"], row["damage"]
        assert kind == damaged.get(oid)
        data, served = fhir[oid], omh_data(fx, rest[oid])
        if kind is None:
            assert row["omh_text"] is None
            assert json.loads(decode(data)) == row["omh"] == served
            continue
        kinds[kind] += 1
        if kind == "not_base64":
            with pytest.raises((binascii.Error, ValueError)):
                decode(data)
            with pytest.raises(ValueError):
                json.loads(data)
            assert data == row["omh_text"] and row["omh"] is None
            assert isinstance(served, str) and served == data
        elif kind == "not_json":
            assert decode(data) == "not json" == row["omh_text"] == served
            with pytest.raises(ValueError):
                json.loads(served)
        else:
            payload = json.loads(decode(data))
            assert payload == row["omh"] == served
            body = payload["body"]
            if kind == "missing_measure":
                assert REQUIRED[row["code"]] not in body
            elif kind == "bad_unit":
                bad = units(body) & BAD_UNITS
                assert bad, body
                if row["code"] == "omh:blood-glucose:4.0":
                    assert body["blood_glucose"]["unit"] == "g/L"
                if row["code"] == "omh:body-weight:3.0":
                    assert body["body_weight"]["unit"] == "stone"
            elif kind == "no_time_frame":
                assert "effective_time_frame" not in body
            else:
                assert '"yesterday"' in json.dumps(body["effective_time_frame"])
    assert set(kinds) == KINDS


def test_damage_is_deterministic_across_generations_and_off_by_default() -> None:
    with quality_fx() as a, quality_fx(True) as b:
        assert a.damaged() == b.damaged()
        assert a.expected_observations() == b.expected_observations()
        assert a.damaged()[0][1] == "not_base64"
    with FakeExchange(patients=2, days=1) as plain:
        assert plain.damaged() == []
        rows = plain.expected_observations()
        assert all(r["damage"] is None and r["omh_text"] is None for r in rows)
        assert not any(r["code"] == UNKNOWN for r in rows)


@pytest.mark.parametrize("legacy", [False, True])
def test_the_unknown_code_is_served_like_the_others(legacy: bool) -> None:
    with quality_fx(legacy, damaged_every=0) as fx:
        expected = fx.expected_observations(study_id=fx.main_study_id, code=UNKNOWN)
        assert 2 * 3 * 2 <= len(expected) <= 4 * 3 * 3
        assert UNKNOWN in fx.directory["codes_by_study"][fx.main_study_id]
        code = urllib.parse.quote(f"{OMH}|{UNKNOWN}")
        if not legacy:
            count = get(f"{fx.fhir_url}/Observation?code={code}&_summary=count", fx.token)
            assert count["total"] == len(expected)
        fhir = fhir_rows(fx, f"&code={code}")
        assert sorted(fhir, reverse=True) == [r["id"] for r in expected]
        for row in expected:
            payload = json.loads(decode(fhir[row["id"]]))
            assert payload == row["omh"]
            body = payload["body"]
            assert body["sound_level"]["unit"] == "dB"
            assert isinstance(body["sound_level"]["value"], float)
            assert isinstance(body["environment"]["label"], str)
            assert isinstance(body["environment"]["indoor"], bool)
            assert all(isinstance(t, str) for t in body["tags"])
            assert "date_time" in body["effective_time_frame"]
            assert payload["header"]["schema_id"] == {"name": "ambient-sound", "version": "1.0", "namespace": "omh"}
        rest = [r for r in rest_rows(fx).values() if r["codingCode"] == UNKNOWN]
        assert len(rest) == len(expected)
        assert {r["codeableConceptId"] for r in rest} == {50017}
        sources = get(f"{fx.url}/api/v1/data_sources", fx.token)["results"]
        sound = [s for s in sources if s["name"] == "Soundscape"]
        assert sound and sound[0]["supportedScopes"][0]["codingCode"] == UNKNOWN
        patient = fx.directory["patients_by_study"][fx.main_study_id][0]
        consents = get(f"{fx.url}/api/v1/patients/{patient}/consents", fx.token)
        assert UNKNOWN in {s["codingCode"] for s in consents["consolidatedConsentedScopes"]}
    with FakeExchange(patients=3, days=2, seed=5) as off:
        code = urllib.parse.quote(f"{OMH}|{UNKNOWN}")
        count = get(f"{off.fhir_url}/Observation?code={code}&_summary=count", off.token)
        assert count["total"] == 0
        assert UNKNOWN not in off.directory["codes_by_study"][off.main_study_id]


@pytest.mark.parametrize("legacy", [False, True])
def test_every_nth_observation_repeats_the_uuid_before_it(legacy: bool) -> None:
    with quality_fx(legacy, damaged_every=0) as fx:
        fhir = fhir_rows(fx)
        rest = rest_rows(fx)
    uuids = []
    for oid in sorted(fhir):
        uuid = json.loads(decode(fhir[oid]))["header"]["uuid"]
        assert omh_data(fx, rest[oid])["header"]["uuid"] == uuid
        uuids.append(uuid)
    pairs = 0
    for k in range(1, len(uuids)):
        if (k + 1) % 4 == 0:
            assert uuids[k] == uuids[k - 1]
            pairs += 1
        else:
            assert uuids[k] != uuids[k - 1]
    assert pairs == len(uuids) // 4 > 0
    assert len(set(uuids)) == len(uuids) - pairs
