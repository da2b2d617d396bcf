"""The fetch engine: both APIs, both server generations, every filter, planned paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import effective_start, observation_ids, query_of, utc

GLUCOSE = "omh:blood-glucose:4.0"
BLOOD_PRESSURE = "omh:blood-pressure:4.0"
HEART_RATE = "omh:heart-rate:2.0"
GENERATIONS = [False, True, "guide"]


@pytest.fixture(scope="module", params=GENERATIONS, ids=["current", "legacy", "legacy-guide"])
def any_fx(request: pytest.FixtureRequest) -> Iterator[FakeExchange]:
    """A small exchange of each API generation."""
    with FakeExchange(patients=6, days=4, seed=7, legacy=request.param) as exchange:
        exchange.generation_param = request.param  # type: ignore[attr-defined]
        yield exchange


def ids(df: pd.DataFrame) -> list[int]:
    return observation_ids(df)


def expected_ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


@pytest.mark.parametrize("api", ["fhir", "rest", "auto"])
def test_a_whole_study_through_either_api_and_generation(any_fx: FakeExchange, api: str) -> None:
    client = jhe.Client(any_fx.url, any_fx.token, page_size=300)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, api=api)  # type: ignore[arg-type]
    expected = any_fx.expected_observations(study_id=any_fx.main_study_id)
    assert len(expected) > 3 * 300
    assert ids(df) == expected_ids(expected)
    assert df.attrs["jhe_errors"] == []
    assert df.attrs["jhe_source"]["api"] == ("rest" if api == "rest" else "fhir")
    legacy = any_fx.generation_param is not False  # type: ignore[attr-defined]
    assert df.attrs["jhe_source"]["generation"] == ("legacy" if legacy else "current")


def test_values_are_the_same_through_both_apis(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    fhir = client.fetch_dataframe(study_id=any_fx.main_study_id, api="fhir")
    rest = client.fetch_dataframe(study_id=any_fx.main_study_id, api="rest")
    # REST also names the patient; otherwise the same rows and values (categorical columns
    # may list their categories in another order)
    assert rest["patient_name"].notna().all()
    rest = rest.drop(columns=[c for c in ("patient_name", "data_source") if c in rest.columns])
    pd.testing.assert_frame_equal(fhir, rest, check_categorical=False)


def test_code_and_time_filters_on_every_generation(any_fx: FakeExchange) -> None:
    """Older servers ignore date filters: jhe applies them itself, so the answer is the same."""
    expected_all = any_fx.expected_observations(study_id=any_fx.main_study_id, code=HEART_RATE)
    starts = sorted(effective_start(row["omh"]["body"]["effective_time_frame"]) for row in expected_all)
    since, until = starts[len(starts) // 4], starts[3 * len(starts) // 4]
    client = jhe.Client(any_fx.url, any_fx.token)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, code=HEART_RATE, since=since, until=until)
    expected = [
        row for row in expected_all if since <= effective_start(row["omh"]["body"]["effective_time_frame"]) < until
    ]
    assert 0 < len(expected) < len(expected_all)
    assert ids(df) == expected_ids(expected)
    assert (df["timestamp"] >= since).all() and (df["timestamp"] < until).all()


def test_updated_since(any_fx: FakeExchange) -> None:
    expected_all = any_fx.expected_observations(study_id=any_fx.main_study_id, code=BLOOD_PRESSURE)
    bound = sorted(utc(row["last_updated"]) for row in expected_all)[len(expected_all) // 2]
    df = jhe.Client(any_fx.url, any_fx.token).fetch_dataframe(
        study_id=any_fx.main_study_id, code=BLOOD_PRESSURE, updated_since=bound.isoformat()
    )
    assert ids(df) == expected_ids([row for row in expected_all if utc(row["last_updated"]) >= bound])


def test_several_codes_are_one_search_each(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, code=[BLOOD_PRESSURE, HEART_RATE])
    expected = any_fx.expected_observations(study_id=any_fx.main_study_id, code=BLOOD_PRESSURE)
    expected += any_fx.expected_observations(study_id=any_fx.main_study_id, code=HEART_RATE)
    assert sorted(ids(df)) == sorted(expected_ids(expected))
    required = {"systolic_blood_pressure", "diastolic_blood_pressure", "heart_rate"}
    assert required <= set(df["measure"])


def test_older_servers_need_a_filter_and_refuse_organizations() -> None:
    with FakeExchange(patients=2, days=1, legacy=True) as fx:
        client = jhe.Client(fx.url, fx.token)
        with pytest.raises(jhe.ConfigurationError, match="study_id, patient_id or patient_identifier"):
            client.fetch_dataframe(code=HEART_RATE)
        with pytest.raises(jhe.ConfigurationError, match="organization"):
            client.fetch_dataframe(organization_id=20001, code=HEART_RATE)
        # without a code, "auto" turns to the REST API, which answers both
        by_organization = client.fetch_dataframe(organization_id=20001)
        assert by_organization.attrs["jhe_source"]["api"] == "rest"
        assert len(by_organization) > 0
        everything = client.fetch_dataframe()
        assert ids(everything) == [row["id"] for row in fx.expected_observations()]


def test_rest_cannot_filter_by_code_or_time(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    with pytest.raises(jhe.ConfigurationError, match="REST API cannot filter by code"):
        client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE, api="rest")
    with pytest.raises(jhe.ConfigurationError, match="since/until"):
        client.fetch_dataframe(study_id=fx.main_study_id, since="2025-12-20", api="rest")
    with pytest.raises(jhe.ConfigurationError, match="api must be"):
        client.fetch_dataframe(study_id=fx.main_study_id, api="graphql")  # type: ignore[arg-type]


@pytest.fixture()
def paging_fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=8, days=3, seed=11) as exchange:
        yield exchange


def test_a_study_is_one_study_level_query_with_planned_pages(paging_fx: FakeExchange) -> None:
    fx = paging_fx
    client = jhe.Client(fx.url, fx.token, page_size=200, concurrency=4)
    fx.clear_requests()
    df = client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE)
    total = len(fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE))
    assert len(df) == total
    searches = [r for r in fx.requests() if r["path"].endswith("/Observation")]
    queries = [query_of(r) for r in searches]
    # never one query per patient
    assert all("patient" not in q for q in queries)
    assert all(q["patient._has:Group:member:_id"] == [str(fx.main_study_id)] for q in queries)
    assert all(q["code"] == [f"https://w3id.org/openmhealth|{GLUCOSE}"] for q in queries)
    pages = sorted(int(q.get("_page", ["1"])[0]) for q in queries if q["_count"] == ["200"])
    assert pages == list(range(1, (total + 199) // 200 + 1)), "every page planned once, none followed twice"
    assert all(q["_sort"] == ["-_lastUpdated"] for q in queries)
    # one extra request confirms the total at the end
    assert sum(q["_count"] == ["1"] for q in queries) == 1


def test_patient_identifier_is_sent_as_system_and_value(paging_fx: FakeExchange) -> None:
    fx = paging_fx
    patient, identifiers = next((p, ids) for p, ids in fx.directory["patient_identifiers"].items() if ids)
    system, value = identifiers[0]
    fx.clear_requests()
    df = jhe.Client(fx.url, fx.token).fetch_dataframe(patient_identifier=(system, value), code=HEART_RATE)
    assert ids(df) == expected_ids(fx.expected_observations(patient_id=patient, code=HEART_RATE))
    sent = [query_of(r) for r in fx.requests() if r["path"].endswith("/Observation")]
    assert sent and all(q["patient.identifier"] == [f"{system}|{value}"] for q in sent)
    with pytest.raises(TypeError, match="system, value"):
        jhe.Client(fx.url, fx.token).fetch_dataframe(patient_identifier=value)  # type: ignore[arg-type]


def test_organization_filter(paging_fx: FakeExchange) -> None:
    fx = paging_fx
    organization = fx.directory["member_organization_ids"][0]
    client = jhe.Client(fx.url, fx.token)
    via_fhir = client.fetch_dataframe(organization_id=organization, code=BLOOD_PRESSURE)
    via_rest = client.fetch_dataframe(organization_id=organization)
    assert len(via_fhir) > 0 and set(via_fhir["code"]) == {BLOOD_PRESSURE}
    assert set(via_fhir["observation_id"]) <= set(via_rest["observation_id"])


@pytest.mark.parametrize("api", ["fhir", "rest"])
@pytest.mark.parametrize("legacy", [False, True])
def test_rows_written_during_a_fetch_are_reconciled(api: str, legacy: bool) -> None:
    with FakeExchange(patients=6, days=3, seed=5, legacy=legacy) as calm:
        before = len(calm.expected_observations(study_id=calm.main_study_id))
    with FakeExchange(patients=6, days=3, seed=5, legacy=legacy, insert_during_fetch=350) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=250, concurrency=3)
        df = client.fetch_dataframe(study_id=fx.main_study_id, api=api)  # type: ignore[arg-type]
        expected = fx.expected_observations(study_id=fx.main_study_id)
        assert len(expected) == before + 350, "the rows were written while the fetch ran"
        assert ids(df) == expected_ids(expected), "exactly the rows there are now: none lost, none doubled"
