"""A study fetched whole: exactly the server's total across many pages, in the server's
order, every code kept, and planned as one study-level query."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pandas as pd

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, http_get, query_of


def server_total(fx: FakeExchange, **params: Any) -> int:
    """What the server itself says matches, asked with _summary=count, without jhe."""
    query = urllib.parse.urlencode({**params, "_summary": "count"})
    status, bundle = http_get(f"{fx.url}/FHIR/R5/Observation?{query}", fx.token)
    assert status == 200, bundle
    return int(bundle["total"])


def test_multi_page_fetch_returns_exactly_the_servers_total(fx: FakeExchange, glucose: pd.DataFrame) -> None:
    total = server_total(
        fx,
        **{"patient._has:Group:member:_id": fx.main_study_id, "code": f"https://w3id.org/openmhealth|{GLUCOSE}"},
    )
    assert total > 700 * 3, "the fixture must span several pages"
    assert len(glucose) == total
    assert glucose["observation_id"].is_unique
    assert (glucose["code"] == GLUCOSE).all()
    assert glucose.attrs["jhe_errors"] == []


def test_rows_come_newest_first_like_the_server(fx: FakeExchange, glucose: pd.DataFrame) -> None:
    expected = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)
    assert glucose["observation_id"].tolist() == [row["id"] for row in expected]


def test_every_code_of_a_study_is_kept(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    frames = client.fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    expected = fx.expected_observations(study_id=fx.main_study_id)
    assert isinstance(frames, dict)
    total = server_total(fx, **{"patient._has:Group:member:_id": fx.main_study_id})
    assert sum(len(frame) for frame in frames.values()) == len(expected) == total
    assert set(frames) == {row["code"] for row in expected}
    assert len(frames) == 16
    for code, frame in frames.items():
        assert (frame["code"] == code).all()
        assert frame["timestamp"].notna().all()
        assert frame.attrs["jhe_errors"] == []
    assert frames[GLUCOSE]["glucose_mg_dl"].notna().all()


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
