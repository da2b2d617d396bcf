"""`jhe fake-server`: a fake Exchange in its own process, until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import jhe


def test_fake_server_serves_until_interrupted(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "jhe", "fake-server", "--patients", "2", "--days", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        url = lines[1].strip().split("=", 1)[1]
        token = lines[2].strip().split("=", 1)[1]
        assert url.startswith("http://127.0.0.1:")
        assert len(jhe.Client(url, token).list_studies()) >= 2
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "stopped" in out


def test_fake_server_on_a_chosen_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port that is free now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "jhe", "fake-server", "--patients", "2", "--days", "1", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        assert lines[1].strip() == f"export JHE_URL=http://127.0.0.1:{port}", lines
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 0
