"""Every answer is bounded: its size (counted after decompression, whatever Content-Length
says), its duration (`timeout` covers the whole response, not each read) and the wait a
server may ask for (`Retry-After`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, endless, gzip_bomb, trickle

MIB = 1 << 20


def fetch_through(reply: Reply | Callable[[], Reply], **options: object) -> None:
    """A fetch whose every Observation search is answered with `reply` (or what it makes,
    for a streamed body, which can be sent once)."""

    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" not in request.path:
            return Reply(404)
        return reply() if callable(reply) else reply

    with Hostile(answer) as server:
        jhe.Client(server.url, "t", retries=0, **options).fetch(study_id=1, code=GLUCOSE)  # type: ignore[arg-type]


def padded_bundle(size: int) -> bytes:
    """An empty Bundle padded with whitespace to `size` bytes: valid JSON of any size."""
    body = b'{"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}'
    return body + b" " * (size - len(body))


def test_a_page_over_the_default_limit_is_refused() -> None:
    with pytest.raises(jhe.ProtocolError, match="max_response_bytes"):
        fetch_through(Reply(200, padded_bundle(65 * MIB), {"Content-Type": "application/json"}))


def test_a_page_under_a_raised_limit_is_read() -> None:
    fetch_through(Reply(200, padded_bundle(65 * MIB)), max_response_bytes=80 * MIB)


@pytest.mark.parametrize("announce", [True, False])
def test_the_limit_is_the_setting(announce: bool) -> None:
    body = padded_bundle(2 * MIB)

    def reply() -> Reply:
        # Without Content-Length (streamed), the count is what stops it.
        return Reply(200, body) if announce else Reply(200, (body[i : i + 65536] for i in range(0, len(body), 65536)))

    with pytest.raises(jhe.ProtocolError, match=r"max_response_bytes \(1.0 MiB\)"):
        fetch_through(reply, max_response_bytes=MIB)
    fetch_through(reply, max_response_bytes=3 * MIB)


def test_an_endless_body_is_cut_off() -> None:
    with pytest.raises(jhe.ProtocolError, match="larger"):
        fetch_through(lambda: Reply(200, endless()), max_response_bytes=4 * MIB)


def test_a_gzip_bomb_is_counted_inflated() -> None:
    bomb = gzip_bomb(1 << 30)
    assert len(bomb) < 2 * MIB
    with pytest.raises(jhe.ProtocolError, match="larger"):
        fetch_through(Reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "application/json"}))


def test_a_content_length_beyond_the_limit_is_refused_before_reading() -> None:
    # 10 GB announced, a few bytes sent, the connection left open.
    with pytest.raises(jhe.ProtocolError, match="announces 10.0 GiB"):
        fetch_through(Reply(200, b"{}", {"Content-Length": str(10 << 30)}), timeout=5)


def test_a_content_length_the_body_does_not_fill_is_a_transport_error() -> None:
    with pytest.raises(jhe.TransportError):
        fetch_through(lambda: Reply(200, iter([b'{"resourceType": "Bun']), {"Content-Length": "1000"}), timeout=5)


def test_a_slow_body_times_out_as_a_whole() -> None:
    # Each byte comes well within the timeout; the whole body does not.
    body = padded_bundle(100)
    with pytest.raises(jhe.TransportError, match="timeout"):
        fetch_through(lambda: Reply(200, trickle(body), delay=0.1), timeout=1)


@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=5) as exchange:
        yield exchange


@pytest.mark.parametrize("asked", ["999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "61", "99999999999999999999999"])
@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_cap_is_an_error_saying_so(small: FakeExchange, asked: str, status: int) -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path:
            return Reply(status, b"slow down", {"Retry-After": asked})
        return None

    with Hostile(answer, behind=small) as server:
        with pytest.raises(jhe.ServerError, match=r"asked to wait \d+ seconds") as caught:
            jhe.Client(server.url, small.token, retries=1).fetch(study_id=small.main_study_id, code=GLUCOSE)
        assert sum("Observation" in path for path in server.paths()) == 1
    if asked.isdigit() and len(asked) < 20:
        assert f"wait {asked} seconds" in str(caught.value)


@pytest.mark.parametrize("asked", ["Wed, 21 Oct 2015 07:28:00 GMT", "0", "-5", "soon"])
def test_a_retry_after_in_the_past_or_unreadable_is_retried_at_once(small: FakeExchange, asked: str) -> None:
    limited: list[str] = []

    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path and not limited:
            limited.append(request.target)
            return Reply(429, b"", {"Retry-After": asked})
        return None

    with Hostile(answer, behind=small) as server:
        rows = jhe.Client(server.url, small.token, retries=1).fetch_arrow(study_id=small.main_study_id, code=GLUCOSE)
    assert rows.num_rows == len(small.expected_observations(study_id=small.main_study_id, code=GLUCOSE))
    assert limited
