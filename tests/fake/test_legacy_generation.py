"""The fake Exchange's older generation, as v0.0.11 of the real one behaves (FHIR under
/fhir/r5, REST rows, and the user guide's variant), observed with plain ``urllib``."""

from __future__ import annotations

import base64
import json
import urllib.parse

from jhe.testing import FakeExchange

from tests.fake.helpers import HEART_RATE, call, study_search, token_grant


def test_legacy_fhir_behaves_like_v0_0_11() -> None:
    with FakeExchange(patients=3, days=1, seed=2, legacy=True) as fx:
        assert fx.generation == "legacy"
        assert fx.fhir_url == fx.url + "/fhir/r5"
        for path in ["/FHIR/R5/metadata", "/fhir/r5/metadata", "/FHIR/R5/Observation"]:
            missing = call(fx.url + path, fx.token)
            assert missing.status == 404 and missing.headers["Content-Type"].startswith("text/html"), path
        unfiltered = call(f"{fx.fhir_url}/Observation", fx.token)
        assert unfiltered.status == 400
        assert isinstance(unfiltered.json(), list) and "must be provided" in unfiltered.json()[0]
        assert call(f"{fx.fhir_url}/Observation?patient.organization=20001", fx.token).status == 400
        refused = call(study_search(fx), fx.token, headers={"Accept": "application/fhir+json"})
        assert (refused.status, refused.json()) == (406, {"detail": "Could not satisfy the request Accept header."})
        assert call(f"{fx.fhir_url}/Observation/60001", fx.token).status == 400
        hidden = call(f"{fx.fhir_url}/Observation?patient._has:Group:member:_id={fx.hidden_study_id}", fx.token)
        assert (hidden.status, hidden.json()) == (
            403,
            {"detail": "Current User does not have authorization to access this Study."},
        )
        bad_int = call(f"{fx.fhir_url}/Observation?patient=Patient/40001", fx.token)
        assert bad_int.status == 500 and bad_int.headers["Content-Type"].startswith("text/plain")

        expected = fx.expected_observations(study_id=fx.main_study_id)
        page = call(study_search(fx), fx.token).json()
        assert page["total"] == len(expected)
        resource = page["entry"][0]["resource"]
        assert set(resource) == {"resourceType", "id", "meta", "status", "subject", "code", "valueAttachment"}
        assert resource["meta"]["lastUpdated"].endswith("+00:00")
        data = resource["valueAttachment"]["data"]
        assert "\n" in data and all(len(line) == 76 for line in data.split("\n")[:-1])
        assert json.loads(base64.b64decode(data)) == expected[0]["omh"]
        # date, _lastUpdated, _sort, _summary and _id are silently ignored.
        for ignored in ["&date=ge2090-01-01", "&date=notadate", "&_lastUpdated=ge2090-01-01", "&_sort=date", "&_summary=count", "&_id=1"]:
            same = call(study_search(fx, ignored), fx.token).json()
            assert same["total"] == page["total"], ignored
            assert [e["resource"]["id"] for e in same["entry"]] == [e["resource"]["id"] for e in page["entry"]]
        # code: SQL LIKE; a bare code matches nothing.
        heart = len(fx.expected_observations(study_id=fx.main_study_id, code=HEART_RATE))
        quote = urllib.parse.quote
        assert call(study_search(fx, "&code=" + quote(HEART_RATE)), fx.token).json()["total"] == heart
        wildcard = "https://w3id.org/openmhealth|omh:heart%"
        assert call(study_search(fx, "&code=" + quote(wildcard)), fx.token).json()["total"] == heart
        assert call(study_search(fx, "&code=omh:heart-rate:2.0"), fx.token).json()["total"] == 0
        # No client_credentials on these servers; refresh works.
        refused_grant = token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key)
        assert (refused_grant.status, refused_grant.json()) == (400, {"error": "unauthorized_client"})
        assert token_grant(fx, {"grant_type": "refresh_token", "refresh_token": fx.refresh_token}).status == 200


def test_legacy_rest_rows_and_the_guides_variant() -> None:
    with FakeExchange(patients=2, days=1, legacy=True) as fx:
        rows = call(f"{fx.url}/api/v1/observations?study_id={fx.main_study_id}", fx.token).json()["results"]
        assert set(rows[0]) == {
            "id",
            "subjectPatientId",
            "patientNameFamily",
            "patientNameGiven",
            "codeableConceptId",
            "codingSystem",
            "codingCode",
            "codingText",
            "lastUpdated",
            "valueAttachmentData",
        }
        gone = call(f"{fx.url}/api/v1/observations/{rows[0]['id']}", fx.token)
        assert (gone.status, gone.json()) == (404, {"detail": "Not found."})
    with FakeExchange(patients=2, days=1, legacy="guide") as fx:
        assert fx.generation == "guide"
        expected = fx.expected_observations(study_id=fx.main_study_id)
        first = call(f"{fx.url}/api/v1/observations?study_id={fx.main_study_id}&limit=5", fx.token).json()
        row = first["results"][0]
        assert {"subjectPatient", "patientNameDisplay", "codeableConcept", "dataSource", "dataSourceName"} <= set(row)
        assert {"status", "created", "lastUpdated", "valueAttachmentData"} <= set(row)
        assert ", " in row["patientNameDisplay"]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(first["next"]).query)
        assert (query["limit"], query["offset"]) == (["5"], ["5"])
        assert first["next"].startswith(fx.url)
        seen: list[int] = []
        url: str | None = first["next"]
        seen += [r["id"] for r in first["results"]]
        while url:
            page = call(url, fx.token).json()
            seen += [r["id"] for r in page["results"]]
            url = page["next"]
        assert seen == [e["id"] for e in expected]
