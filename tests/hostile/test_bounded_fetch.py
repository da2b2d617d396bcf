"""Every fetch ends, after a bounded number of requests, however the server's pages go on:
a total of 10^12, pages that repeat their rows, next links with ever-new cursors or that
go round, and later pages that all answer 404, on every API generation and both APIs, and
the admin REST lists. Each ends with a ProtocolError or an InconsistentResult that says
why, and the tests count the requests (never the time)."""

from __future__ import annotations

import re
import resource
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.hostile.server import Hostile, Reply, Request, bundle, edit_json, forward

# How later pages are asked for: FHIR `_page`, REST `page`, the guide's REST `offset`.
PAGE_KEYS = ("_page", "page", "offset")
# Requests after which a test's server gives up with a 500 (jhe is told not to retry), so
# a fetch that would crawl on (the bug) fails its test rather than hanging it.
GIVE_UP_AFTER = 300

GENERATIONS = [("current", False), ("legacy", True), ("guide", "guide")]
APIS = ["fhir", "rest"]


@pytest.fixture(scope="module", params=GENERATIONS, ids=[name for name, _ in GENERATIONS])
def gen_fx(request: pytest.FixtureRequest) -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=2, seed=3, legacy=request.param[1]) as exchange:
        yield exchange


def is_observations(request: Request) -> bool:
    return request.path.rstrip("/").lower().endswith(("/observation", "/observations"))


def is_later_page(request: Request) -> bool:
    return any(key in request.query for key in PAGE_KEYS)


def set_total(value: dict[str, Any], total: int) -> None:
    value["total" if value.get("resourceType") == "Bundle" else "count"] = total


def set_next(value: dict[str, Any], url: str | None) -> None:
    if value.get("resourceType") != "Bundle":
        value["next"] = url
        return
    links = [link for link in value.get("link", []) if link["relation"] != "next"]
    value["link"] = links + ([{"relation": "next", "url": url}] if url else [])


def hostile_in_front(fx: FakeExchange, answer: Callable[[Hostile, Request], Reply | None]) -> Hostile:
    hostile = Hostile(lambda request: None, behind=fx)

    def guarded(request: Request) -> Reply | None:
        if len(hostile.requests) > GIVE_UP_AFTER:
            return Reply.json({"detail": "the test's server gives up"}, 500)
        return answer(hostile, request)

    hostile.answer = guarded
    return hostile


def client_of(hostile: Hostile, fx: FakeExchange) -> jhe.Client:
    return jhe.Client(hostile.url, fx.token, page_size=50, retries=0)


def observation_requests(hostile: Hostile) -> int:
    return sum(1 for request in hostile.requests if is_observations(request))


@pytest.mark.parametrize("api", APIS)
def test_a_total_of_10_to_the_12_is_refused_at_once_in_little_memory(gen_fx: FakeExchange, api: str) -> None:
    def answer(hostile: Hostile, request: Request) -> Reply | None:
        if not is_observations(request):
            return None
        return edit_json(forward(hostile, request), lambda value: set_total(value, 10**12))

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with hostile_in_front(gen_fx, answer) as hostile:
        with pytest.raises(jhe.ProtocolError, match="total of 1000000000000 observations"):
            client_of(hostile, gen_fx).fetch(study_id=gen_fx.main_study_id, api=api)  # type: ignore[arg-type]
        # On an older server, the current generation's first page, asked alongside
        # `metadata` while the generation was unknown, 404s and is not read.
        guessed = [r for r in hostile.requests if is_observations(r) and gen_fx.generation != "current" and r.path.startswith("/FHIR/R5/")]
        assert observation_requests(hostile) - len(guessed) == 1, "only the first page was asked for"
    # ru_maxrss is in KiB on Linux: the peak grew by far less than a page URL per planned page
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 256 * 1024


@pytest.mark.parametrize("api", APIS)
def test_later_pages_that_repeat_the_first_forever_end_with_an_error(gen_fx: FakeExchange, api: str) -> None:
    def answer(hostile: Hostile, request: Request) -> Reply | None:
        if not is_observations(request):
            return None
        first = forward(hostile, request, dict.fromkeys(PAGE_KEYS))
        return edit_json(first, lambda value: set_total(value, 10**6))

    with hostile_in_front(gen_fx, answer) as hostile:
        client = client_of(hostile, gen_fx)
        with pytest.raises(jhe.ProtocolError, match="3 pages in a row held no observations but ones already received"):
            client.fetch(study_id=gen_fx.main_study_id, api=api)  # type: ignore[arg-type]
        # the first page, three of repeats, the others in flight (`concurrency`), a count
        assert observation_requests(hostile) <= 8 + client._native.concurrency


@pytest.mark.parametrize("api", APIS)
def test_later_pages_that_all_answer_404_end_with_an_inconsistent_result(gen_fx: FakeExchange, api: str) -> None:
    def answer(hostile: Hostile, request: Request) -> Reply | None:
        if not is_observations(request):
            return None
        if is_later_page(request):
            return Reply.json({"detail": "Invalid page."}, 404)
        return edit_json(forward(hostile, request), lambda value: set_total(value, 10**5))

    with hostile_in_front(gen_fx, answer) as hostile:
        with pytest.raises(jhe.InconsistentResult, match="answered 404") as caught:
            client_of(hostile, gen_fx).fetch(study_id=gen_fx.main_study_id, api=api)  # type: ignore[arg-type]
        assert caught.value.expected == 10**5 and caught.value.received == 50  # type: ignore[attr-defined]
        # 2,000 pages planned; each of four readings stops at the first 404 (with at most
        # eight in flight), where every one of them was asked for before
        assert observation_requests(hostile) <= 80


@pytest.mark.parametrize("api", APIS)
def test_ever_new_cursors_over_the_same_rows_end_with_an_error(gen_fx: FakeExchange, api: str) -> None:
    def answer(hostile: Hostile, request: Request) -> Reply | None:
        if not is_observations(request):
            return None
        cursor = int(request.query.get("cursor", ["0"])[0])
        first = forward(hostile, request, {"cursor": None, **dict.fromkeys(PAGE_KEYS)})
        # the search's own query, and a cursor never seen before
        query = {**{k: v for k, v in request.query.items() if k not in PAGE_KEYS}, "cursor": [str(cursor + 1)]}
        next_url = f"{hostile.url}{request.path}?{urlencode(query, doseq=True)}"
        return edit_json(first, lambda value: set_next(value, next_url))

    with hostile_in_front(gen_fx, answer) as hostile:
        with pytest.raises(jhe.ProtocolError, match="already received|past the"):
            client_of(hostile, gen_fx).fetch(study_id=gen_fx.main_study_id, api=api)  # type: ignore[arg-type]
        assert observation_requests(hostile) <= 5


def observation(n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": str(n), "code": {"coding": [{"code": "omh:heart-rate:2.0"}]}}


@pytest.mark.parametrize(
    ("next_cursor", "rows", "error"),
    [
        (lambda k: k + 1, lambda k: range(10 * k, 10 * k + 10), "past the 4 pages of 10 observations its total of 30"),
        (lambda k: k % 2 + 1, lambda k: range(10 * k, 10 * k + 10), "round in a circle"),
        (lambda k: k + 1, lambda k: range(10) if k == 0 else range(0), "holds no observations but links to a next page"),
    ],
    ids=["past-the-total", "circle", "empty-page-links-on"],
)
def test_scripted_cursor_pages_end_where_the_total_says(
    next_cursor: Callable[[int], int], rows: Callable[[int], range], error: str
) -> None:
    def answer(request: Request) -> Reply:
        if len(hostile.requests) > GIVE_UP_AFTER:
            return Reply.json({"detail": "the test's server gives up"}, 500)
        if request.path == "/FHIR/R5/metadata":
            return Reply.json({"resourceType": "CapabilityStatement"})
        cursor = int(request.query.get("cursor", ["0"])[0])
        next_url = f"{hostile.url}/FHIR/R5/Observation?cursor={next_cursor(cursor)}"
        return Reply.json(bundle([observation(n) for n in rows(cursor)], total=30, next_url=next_url))

    with Hostile(answer) as hostile:
        with pytest.raises(jhe.ProtocolError, match=error):
            jhe.Client(hostile.url, "t", retries=0).fetch(study_id=1, code="omh:heart-rate:2.0")
        assert len(hostile.requests) <= 6


def rewrite_patient_pages(fx: FakeExchange, edit: Callable[[int, dict[str, Any]], None], first_always: bool) -> Hostile:
    """The fake's `patients` list, page `n` rewritten by `edit(n, page)`; with
    `first_always`, every page is the first one."""

    def answer(hostile: Hostile, request: Request) -> Reply | None:
        if not request.path.rstrip("/").endswith("/patients"):
            return None
        page = int(request.query.get("page", ["1"])[0])
        reply = forward(hostile, request, {"page": None} if first_always else None)
        return edit_json(reply, lambda value: edit(page, value))

    return hostile_in_front(fx, answer)


def link_to_page(n: int) -> Callable[[dict[str, Any]], None]:
    return lambda page: page.update(next=re.sub(r"page=\d+", f"page={n}", page["next"]))


@pytest.mark.parametrize(
    ("edit", "first_always", "error"),
    [
        # page 3 links back to page 2
        (lambda n, page: link_to_page(2)(page) if n == 3 else None, False, "round in a circle"),
        # every page is the first, with a link to one more
        (lambda n, page: link_to_page(n + 1)(page), True, "already received"),
        (lambda n, page: page.update(count=10**12), False, "total of 1000000000000 items"),
    ],
    ids=["cycle", "repeats", "huge-count"],
)
def test_rest_lists_whose_next_links_never_end_end_with_an_error(
    fx: FakeExchange, edit: Callable[[int, dict[str, Any]], None], first_always: bool, error: str
) -> None:
    with rewrite_patient_pages(fx, edit, first_always) as hostile:
        client = jhe.Client(hostile.url, fx.token, page_size=1, retries=0)
        with pytest.raises(jhe.ProtocolError, match=error):
            client.list_patients(study_id=fx.main_study_id)
        assert sum(1 for request in hostile.requests if request.path.endswith("/patients")) <= 5
