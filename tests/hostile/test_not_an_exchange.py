"""A server that is not a JupyterHealth Exchange (a wrong URL: some other web site) is
called that, whichever call meets it first, instead of a 404 or a JSON error from deep
inside a fetch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, Request

NOT_AN_EXCHANGE = r"does not look like a JupyterHealth Exchange \(no /FHIR/R5/metadata, no /api/v1/\)"


def nothing_here(request: Request) -> Reply:
    return Reply(404, b"<html><title>Not Found</title></html>", {"Content-Type": "text/html"})


def a_web_app(request: Request) -> Reply:
    """A single-page app: every path is its index page."""
    return Reply(200, b"<!doctype html><html><body>Welcome</body></html>", {"Content-Type": "text/html"})


@pytest.mark.parametrize("site", [nothing_here, a_web_app])
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.fetch(study_id=30001, code=GLUCOSE),
        lambda c: c.fetch(study_id=30001, api="rest"),
        lambda c: c.list_patients(),
        lambda c: c.list_studies(),
    ],
)
def test_another_web_site_is_called_not_an_exchange(site: Callable[[Request], Reply], call: Callable[[jhe.Client], object]) -> None:
    with Hostile(site) as server:
        with pytest.raises(jhe.ProtocolError, match=NOT_AN_EXCHANGE):
            call(jhe.Client(server.url, "a-token", retries=0))
        # metadata, the current first page asked alongside it, the older generation's first
        # page (when metadata 404s) and the REST API's profile
        assert len(server.requests) <= 4, server.paths()


def test_an_older_exchange_is_still_one() -> None:
    with FakeExchange(patients=1, days=1, legacy=True) as legacy:
        rows = jhe.Client(legacy.url, legacy.token).fetch_arrow(study_id=legacy.main_study_id, code=GLUCOSE)
    assert rows.num_rows > 0
