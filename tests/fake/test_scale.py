"""The fake Exchange at the size benchmarks need (no timing here: speed is measured in benchmarks/)."""

from __future__ import annotations

import urllib.parse

from jhe.testing import FakeExchange

from tests.helpers import http_get


def test_a_million_observation_study_is_served() -> None:
    with FakeExchange(patients=70, days=150, seed=1) as fx:
        query = urllib.parse.urlencode({"patient._has:Group:member:_id": fx.main_study_id, "_summary": "count"})
        status, bundle = http_get(f"{fx.url}/FHIR/R5/Observation?{query}", fx.token)
        assert status == 200
        assert bundle["total"] >= 1_000_000
        assert bundle["entry"] == []
        # the last page of the study is there too
        last = (bundle["total"] + 999) // 1000
        query = urllib.parse.urlencode({"patient._has:Group:member:_id": fx.main_study_id, "_count": 1000, "_page": last})
        status, page = http_get(f"{fx.url}/FHIR/R5/Observation?{query}", fx.token)
        assert status == 200
        assert len(page["entry"]) == bundle["total"] - (last - 1) * 1000
        assert not any(link["relation"] == "next" for link in page["link"])
