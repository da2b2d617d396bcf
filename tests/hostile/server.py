"""A hostile Exchange: a loopback HTTP server whose every answer a test decides.

`Hostile(answer)` serves on 127.0.0.1; `answer(request)` returns a `Reply` (or `None` to
pass the request through to the fake Exchange given as `behind`, unchanged). A reply's
body may be bytes, or an iterable of chunks sent one by one (with `delay` seconds between
them), so a test can send an endless body, a body at one byte a second or a gzip bomb.
The server never blocks a test's end: `close()` drops every open connection.

Every request the server saw is in `requests`, in order, with its body, so a test can
check what jhe sent where (a refresh token must not reach another origin).
"""

from __future__ import annotations

import functools
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        """Path and query as sent."""
        query = urllib.parse.urlencode(self.query, doseq=True)
        return f"{self.path}?{query}" if query else self.path

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("latin-1")))


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds between chunks of an iterable body.
    delay: float = 0.0

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers})

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Reply:
        return cls(status, b"", {"Location": location})


Answer = Callable[[Request], "Reply | None"]

REASONS = {200: "OK", 301: "Moved", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect",
           400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Hostile:
    """A loopback server answering with `answer`, optionally in front of a real fake Exchange."""

    def __init__(self, answer: Answer, behind: Any = None) -> None:
        self.answer = answer
        self.behind = behind.url.rstrip("/") if behind is not None else None
        self.requests: list[Request] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            for conn in list(self._open):
                _quietly(conn.close)
        self._thread.join(timeout=5)
        _quietly(self._listener.close)

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._open.add(conn)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            reader = conn.makefile("rb")
            while not self._closing.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    reply = self._pass_through(request)
                if not self._send(conn, reply):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(conn)
            _quietly(conn.close)

    def _pass_through(self, request: Request) -> Reply:
        if self.behind is None:
            return Reply(404, b"no such page")
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        forwarded = urllib.request.Request(
            self.behind + request.target, data=request.body or None, headers=headers, method=request.method
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=30) as response:
                status, body, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, body, got = error.code, error.read(), error.headers
        kept = {k: v for k, v in got.items() if k.lower() in ("content-type", "retry-after")}
        # Links in the body point at the fake; point them back here, as a proxy would.
        return Reply(status, body.replace(self.behind.encode(), self.url.encode()), kept)

    def _send(self, conn: socket.socket, reply: Reply) -> bool:
        """Send `reply`; False when the connection is to close after it."""
        headers = {k.lower(): v for k, v in reply.headers.items()}
        streamed = not isinstance(reply.body, (bytes, bytearray))
        head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if streamed:
            head.append("Connection: close")
        elif "content-length" not in headers:
            head.append(f"Content-Length: {len(reply.body)}")  # type: ignore[arg-type]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not streamed:
            conn.sendall(reply.body)  # type: ignore[arg-type]
            return True
        for chunk in reply.body:
            if self._closing.is_set():
                return False
            conn.sendall(chunk)
            if reply.delay:
                time.sleep(reply.delay)
        return False


def _read_request(reader: Any) -> Request | None:
    line = reader.readline(65536)
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0") or 0))
    parsed = urllib.parse.urlsplit(target)
    return Request(method, parsed.path, urllib.parse.parse_qs(parsed.query), headers, body)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except OSError:
        pass


# Bodies a hostile server sends.

def endless(chunk: bytes = b" " * 65536) -> Iterator[bytes]:
    """A body that never ends."""
    while True:
        yield chunk


def trickle(body: bytes) -> Iterator[bytes]:
    """`body` one byte at a time (pair with `Reply(delay=...)`)."""
    for i in range(len(body)):
        yield body[i : i + 1]


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of zeros that inflates to `inflated` bytes (about 1000:1), in one member
    as HTTP clients expect. Deflate blocks ended by a full flush are independent, so one
    compressed 16 MiB block repeated is a valid stream, made without compressing it all."""
    piece = 1 << 24
    whole, rest = divmod(inflated, piece)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(b"\0" * piece) + compressor.flush(zlib.Z_FULL_FLUSH) if whole else b""
    tail = compressor.compress(b"\0" * rest) + compressor.flush()
    crc = 0
    for size in [piece] * whole + [rest]:
        crc = zlib.crc32(b"\0" * size, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, inflated & 0xFFFFFFFF)
    return header + block * whole + tail + trailer


def bundle(entries: list[dict[str, Any]], total: int | None = None, next_url: str | None = None) -> dict[str, Any]:
    """A FHIR searchset Bundle."""
    value: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in entries]}
    if total is not None:
        value["total"] = total
    if next_url is not None:
        value["link"] = [{"relation": "next", "url": next_url}]
    return value


# Rewriting what the fake Exchange behind a hostile server answers.

def forward(hostile: Hostile, request: Request, query: dict[str, list[str] | None] | None = None) -> Reply:
    """`request` passed through to the fake behind `hostile`, with `query`'s keys replaced
    (a key given None is dropped)."""
    changed = dict(request.query)
    for key, value in (query or {}).items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return hostile._pass_through(Request(request.method, request.path, changed, request.headers, request.body))


def edit_json(reply: Reply, edit: Callable[[Any], None]) -> Reply:
    """`reply` with its JSON body changed in place by `edit`; a body that is not JSON (a
    404 page for a request jhe guessed) is passed on as the server sent it."""
    try:
        value = json.loads(reply.body)  # type: ignore[arg-type]
    except ValueError:
        return reply
    edit(value)
    return Reply(reply.status, json.dumps(value).encode(), {**reply.headers, "Content-Type": "application/json"})
