"""How a client and a result show themselves, as text and in a notebook."""

from __future__ import annotations

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE


def test_client_and_result_display(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    assert small_fx.token not in repr(client)
    page = client._repr_html_()
    profile = client.profile()
    assert profile["email"] in page and small_fx.token not in page
    observations = client.fetch(study_id=small_fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="long")
    text, html = repr(observations), observations._repr_html_()
    for code in (GLUCOSE, HEART_RATE):
        assert code in text and code in html
    summary = {row["code"]: row for row in observations.summary()}
    assert summary[GLUCOSE]["patients"] == 3
    assert summary[GLUCOSE]["observations"] == len(small_fx.expected_observations(study_id=small_fx.main_study_id, code=GLUCOSE))
    assert "0 errors" in text
