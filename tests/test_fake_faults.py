"""The fake Exchange's fault injection, token endpoint, request log and legacy generation,
observed with plain ``urllib`` (no jhe client), so these hold whatever the client does."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

import pytest

from jhe.testing import FakeExchange

HEART_RATE = "https://w3id.org/openmhealth|omh:heart-rate:2.0"


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    token: str | None = None,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request; HTTP errors are answers too."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def study_search(fx: FakeExchange, extra: str = "") -> str:
    return f"{fx.fhir_url}/Observation?patient._has:Group:member:_id={fx.main_study_id}&_count=10{extra}"


def token_grant(fx: FakeExchange, form: dict[str, str], basic: str | None = None) -> Answer:
    headers = {"Authorization": f"Basic {basic}"} if basic else {}
    return call(f"{fx.url}/o/token/", form=form, headers=headers)


def test_error_rate_fails_about_that_share_with_a_proxy_page() -> None:
    with FakeExchange(patients=2, days=1, seed=1, error_rate=0.3, error_status=502) as fx:
        statuses = [call(f"{fx.url}/api/v1/users/profile", fx.token).status for _ in range(100)]
        failed = statuses.count(502)
        assert 12 <= failed <= 50, statuses
        assert set(statuses) == {200, 502}
        page = call(f"{fx.url}/api/v1/users/profile", fx.token)
        while page.status != 502:
            page = call(f"{fx.url}/api/v1/users/profile", fx.token)
        assert page.headers["Content-Type"].startswith("text/html")
        assert b"502 Bad Gateway" in page.body
        faults = Counter(r["fault"] for r in fx.requests())
        assert faults["error"] == failed + 1
        # The same seed fails the same requests.
        with FakeExchange(patients=2, days=1, seed=1, error_rate=0.3, error_status=502) as twin:
            replay = [call(f"{twin.url}/api/v1/users/profile", twin.token).status for _ in range(100)]
        assert replay == statuses


def test_faults_spare_discovery_and_ground_truth() -> None:
    with FakeExchange(patients=2, days=1, error_rate=1.0) as fx:
        assert call(study_search(fx), fx.token).status == 503
        assert call(f"{fx.url}/api/v1/observations", fx.token).status == 503
        assert call(f"{fx.url}/o/.well-known/openid-configuration").status == 200
        assert fx.expected_observations(study_id=fx.main_study_id)
        assert token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key).status == 503


def test_every_nth_request_is_429_with_retry_after() -> None:
    with FakeExchange(patients=2, days=1, rate_limit_every=4, retry_after_s=3) as fx:
        answers = [call(study_search(fx), fx.token) for _ in range(12)]
        assert [a.status for a in answers] == [200, 200, 200, 429] * 3
        for a in answers[3::4]:
            assert a.headers["Retry-After"] == "3"
            assert "throttled" in a.json()["detail"]
        assert [r["fault"] for r in fx.requests()].count("rate_limit") == 3


def test_latency_delays_api_responses() -> None:
    with FakeExchange(patients=1, days=1, latency_ms=300) as fx:
        started = time.monotonic()
        assert call(f"{fx.url}/api/v1/users/profile", fx.token).status == 200
        assert time.monotonic() - started >= 0.3  # a lower bound: the sleep happened


def test_a_token_expires_and_client_credentials_mint_a_working_one() -> None:
    with FakeExchange(patients=1, days=1, token_ttl_s=1) as fx:
        profile = f"{fx.url}/api/v1/users/profile"
        assert call(profile, fx.token).status == 200
        time.sleep(1.2)
        expired = call(profile, fx.token)
        assert (expired.status, expired.json()) == (401, {"detail": "Authentication credentials were not provided."})
        assert fx.requests()[-1]["fault"] == "token_expired"
        assert call(study_search(fx), fx.token).status == 401

        grant = token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key)
        assert grant.status == 200
        body = grant.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 1
        assert "refresh_token" not in body
        assert call(profile, body["access_token"]).status == 200
        assert base64.b64decode(fx.client_key).decode() == f"{fx.client_id}:{fx.client_secret}"
        form = {"grant_type": "client_credentials", "client_id": fx.client_id, "client_secret": fx.client_secret}
        assert call(profile, token_grant(fx, form).json()["access_token"]).status == 200

        wrong = token_grant(fx, {**form, "client_secret": "wrong"})
        assert (wrong.status, wrong.json()) == (401, {"error": "invalid_client"})
        password = token_grant(fx, {"grant_type": "password", "username": "u", "password": "p"}, fx.client_key)
        assert (password.status, password.json()) == (400, {"error": "unauthorized_client"})
        bogus = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": "bogus"})
        assert (bogus.status, bogus.json()) == (400, {"error": "invalid_grant"})


def test_refresh_rotates_and_revokes_the_previous_token() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        profile = f"{fx.url}/api/v1/users/profile"
        first = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": fx.refresh_token})
        assert first.status == 200
        pair = first.json()
        assert set(pair) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
        assert pair["expires_in"] == 1_209_600
        assert call(profile, fx.token).status == 401, "refreshing revokes the previous access token"
        assert call(profile, pair["access_token"]).status == 200
        reused = token_grant(fx, {"grant_type": "refresh_token", "refresh_token": fx.refresh_token})
        assert (reused.status, reused.json()) == (400, {"error": "invalid_grant"})
        second = token_grant(
            fx, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "client_id": fx.client_id}
        ).json()
        assert call(profile, pair["access_token"]).status == 401
        assert call(profile, second["access_token"]).status == 200


def test_dropped_connections_break_mid_response() -> None:
    with FakeExchange(patients=2, days=1, drop_connection_rate=1.0) as fx:
        for url in [study_search(fx), f"{fx.url}/api/v1/users/profile"]:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {fx.token}"})
            with pytest.raises((http.client.IncompleteRead, http.client.HTTPException, OSError)):
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
        assert [(r["status"], r["fault"]) for r in fx.requests()] == [(200, "drop_connection")] * 2


def test_insert_during_fetch_changes_the_total_after_the_first_page() -> None:
    with FakeExchange(patients=2, days=1, insert_during_fetch=5) as fx:
        before = len(fx.expected_observations(study_id=fx.main_study_id))
        count = call(study_search(fx, "&_summary=count"), fx.token).json()
        assert count["total"] == before, "a count-only search does not trigger it"
        page1 = call(study_search(fx, "&_sort=-_lastUpdated"), fx.token).json()
        assert page1["total"] == before
        nxt = next(link["url"] for link in page1["link"] if link["relation"] == "next")
        page2 = call(nxt, fx.token).json()
        assert page2["total"] == before + 5
        newest = fx.expected_observations(study_id=fx.main_study_id)
        assert len(newest) == before + 5
        ids1 = [int(e["resource"]["id"]) for e in page1["entry"]]
        ids2 = [int(e["resource"]["id"]) for e in page2["entry"]]
        assert set(ids1) & set(ids2), "rows shifted: page 2 repeats rows of page 1"
        assert min(e["id"] for e in newest[:5]) > max(ids1)
        assert [r["fault"] for r in fx.requests()].count("insert_during_fetch") == 1
        again = call(study_search(fx), fx.token).json()
        assert again["total"] == before + 5, "only once"


def test_the_request_log_has_no_credentials_and_clears() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        call(f"{fx.url}/api/v1/users/profile", fx.token)
        call(f"{fx.url}/api/v1/studies?access_token={fx.token}")
        token_grant(fx, {"grant_type": "client_credentials"}, fx.client_key)
        log = fx.requests()
        assert [(r["method"], r["path"], r["status"]) for r in log] == [
            ("GET", "/api/v1/users/profile", 200),
            ("GET", "/api/v1/studies", 401),
            ("POST", "/o/token/", 200),
        ]
        assert log[1]["query"] == "access_token=REDACTED"
        for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
            assert secret not in str(log)
            assert secret not in repr(fx)
            assert secret not in repr(fx._native)
        fx.clear_requests()
        assert fx.requests() == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"legacy": "nope"}, "legacy"),
        ({"legacy": 1}, "legacy"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"drop_connection_rate": 2}, "drop_connection_rate"),
        ({"error_status": 200}, "error_status"),
        ({"error_status": 700}, "error_status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"rate_limit_every": -2}, "rate_limit_every"),
        ({"retry_after_s": -1}, "retry_after_s"),
        ({"token_ttl_s": 0}, "token_ttl_s"),
        ({"token_ttl_s": -5.0}, "token_ttl_s"),
        ({"insert_during_fetch": -1}, "insert_during_fetch"),
    ],
)
def test_bad_arguments_name_themselves(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        FakeExchange(patients=1, days=1, **kwargs)


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
