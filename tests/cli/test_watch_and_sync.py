"""`jhe watch` and `jhe sync`, run as a user runs them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from jhe.testing import FakeExchange

from tests.cli.helpers import run_with


@pytest.fixture
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=3, days=2, seed=17) as exchange:
        yield exchange


def since_of(fx: FakeExchange, ids: list[int]) -> str:
    return min(row["last_updated"] for row in fx.expected_observations(study_id=fx.main_study_id) if row["id"] in ids)


def test_watch_prints_a_line_per_batch_and_resumes_from_its_state_file(fx: FakeExchange, tmp_path: Path) -> None:
    added = fx.add_observations(3, code="omh:blood-glucose:4.0")
    state = tmp_path / "watch.json"
    common = ["watch", "--study", str(fx.main_study_id), "--interval", "0", "--state", str(state), "--batches", "1"]
    first = run_with(fx, *common, "--since", since_of(fx, added), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    line = first.stdout.splitlines()[-1]
    assert line.startswith("3 new observation(s) at ") and "Blood Glucose: " in line
    assert all(str(i) in line for i in added)
    later = fx.add_observations(2, code="omh:heart-rate:2.0")
    resumed = run_with(fx, *common, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    line = resumed.stdout.splitlines()[-1]
    assert line.startswith("2 new observation(s)") and "Heart Rate: " in line
    assert all(str(i) in line for i in later) and not any(str(i) in line for i in added)


class Receiver(BaseHTTPRequestHandler):
    """A local receiver that fails its first POST with 503, then keeps each body."""

    bodies: list[dict[str, object]] = []
    failures = 1

    def do_POST(self) -> None:  # noqa: N802 - the handler's name is http.server's
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.failures:
            Receiver.failures -= 1
            self.send_response(503)
        else:
            Receiver.bodies.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_watch_posts_each_batch_as_json_with_retries(fx: FakeExchange, tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        added = fx.add_observations(2)
        url = f"http://127.0.0.1:{server.server_port}/batches"
        done = run_with(
            fx, "watch", "--study", str(fx.main_study_id), "--interval", "0", "--since", since_of(fx, added),
            "--post", url, "--batches", "1", cwd=tmp_path,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert "posting to" in done.stderr, "the 503 was retried and logged"
    (body,) = Receiver.bodies
    assert {row["observation_id"] for row in body["observations"]} >= set(added)  # type: ignore[union-attr]
    assert body["cursor"] and body["errors"] == []


def test_sync_writes_a_mirror_and_then_reads_only_the_change(fx: FakeExchange, tmp_path: Path) -> None:
    pytest.importorskip("deltalake")
    mirror = tmp_path / "mirror"
    first = run_with(fx, "sync", str(mirror), "--study", str(fx.main_study_id), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "(full)" in first.stdout and "0 updated" in first.stdout
    fx.add_observations(4)
    second = run_with(fx, "sync", str(mirror), "--study", str(fx.main_study_id), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "(incremental): 4 added, 0 updated" in second.stdout


def test_ctrl_c_stops_a_watch_cleanly(fx: FakeExchange, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token}
    watch = subprocess.Popen(
        [sys.executable, "-m", "jhe", "watch", "--study", str(fx.main_study_id), "--interval", "0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    assert watch.stdout is not None and watch.stdout.readline().startswith("Watching for new observations")
    watch.send_signal(signal.SIGINT)
    _, stderr = watch.communicate(timeout=60)
    assert watch.returncode == 130
    assert stderr.strip().splitlines()[-1] == "jhe: interrupted", "one line, no traceback"
