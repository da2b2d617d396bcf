"""How a client and a result show themselves, as text and in a notebook."""

from __future__ import annotations

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE
from tests.hostile.server import Hostile, Reply


def test_client_and_result_display(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    assert small_fx.token not in repr(client)
    profile = client.profile()
    page = client._repr_html_()
    assert profile["email"] in page and "signed in as" in page and small_fx.token not in page
    observations = client.fetch(study_id=small_fx.main_study_id, code=[GLUCOSE, HEART_RATE], layout="long")
    text, html = repr(observations), observations._repr_html_()
    for code in (GLUCOSE, HEART_RATE):
        assert code in text and code in html
    summary = {row["code"]: row for row in observations.summary()}
    assert summary[GLUCOSE]["patients"] == 3
    assert summary[GLUCOSE]["observations"] == len(small_fx.expected_observations(study_id=small_fx.main_study_id, code=GLUCOSE))
    assert "0 errors" in text


def test_displaying_a_client_sends_nothing() -> None:
    """A dead or slow server must not hang the cell that shows a client."""
    with Hostile(lambda request: Reply(503, b"down", {"Retry-After": "5"})) as dead:
        client = jhe.Client(dead.url, "a-token", retries=5)
        page = client._repr_html_()
        assert dead.requests == []
        assert dead.url in page and "client.profile()" in page and "a-token" not in page
