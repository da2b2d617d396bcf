"""The audit trail: a complete line per fetch, listing, export, sync, watch batch and
failed call, never a secret, and lines from several processes never interleaved."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jhe
from jhe import _audit
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE

KEY = "an audit test de-identification key"
EXPORT_KEY = "6b" * 32


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=3, days=1, seed=4, damaged_every=30) as exchange:
        yield exchange


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text().splitlines()]


def quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jhe.DecodeWarning)
        return call(*args, **kwargs)


def test_each_call_writes_one_complete_line(fx: FakeExchange, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    client = jhe.Client(fx.url, fx.token, audit_log=log)
    frame = quiet(client.fetch_dataframe, study_id=fx.main_study_id, code=GLUCOSE, since="2025-01-01")
    patients = client.list_patients(study_id=fx.main_study_id, deidentify=jhe.Deidentification(KEY))
    csv = quiet(client.export_csv, tmp_path / "all.csv", fx.main_study_id, deidentify=jhe.Deidentification(KEY))
    parquet = quiet(client.export_parquet, tmp_path / "g.parquet", fx.main_study_id, code=GLUCOSE, encryption=jhe.Encryption(key=EXPORT_KEY))
    client.get_patient(fx.directory["visible_patient_ids"][0])
    written = lines(log)
    assert [line["action"] for line in written] == ["fetch", "list_patients", "export_csv", "export_parquet", "get_patient"]
    for line in written:
        assert list(line) == [name for name in _audit.FIELDS if name != "user_error"], "every field, in order"
        assert line["server"] == client.url and line["user"] == {"id": fx.directory["user_id"], "email": "pi_paula@example.com"}
        assert line["time"].endswith("Z") and line["outcome"] == "ok"
    fetch, listing, export_csv, export_parquet, _ = written
    assert fetch["query"] == {"study_id": fx.main_study_id, "code": GLUCOSE, "strict": False, "since": "2025-01-01"}
    assert fetch["rows"] == len(frame) and fetch["errors"] == len(frame.attrs["jhe_errors"])
    assert listing["rows"] == len(patients) and listing["deidentified"] == {"mode": "pseudonymize", "date_shift_days": 365}
    assert export_csv["deidentified"]["mode"] == "pseudonymize" and not export_csv["encrypted"]
    assert export_parquet["encrypted"] and export_parquet["deidentified"] is None
    # Each file written, with its sidecar, and their true hashes.
    for line, path in ((export_csv, csv), (export_parquet, parquet)):
        files = {Path(f["path"]).name: f for f in line["files"]}
        assert path.name in files and any(".errors." in name for name in files)
        for name, entry in files.items():
            data = (path.parent / name).read_bytes()
            assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert export_csv["rows"] > 0 and export_csv["errors"] > 0, "the export's own fetch, counted in its line"


def test_a_failed_call_is_recorded_and_still_raises(fx: FakeExchange, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    client = jhe.Client(fx.url, fx.token, audit_log=log)
    with pytest.raises(jhe.PermissionDenied):
        client.fetch(study_id=fx.hidden_study_id)
    (line,) = lines(log)
    assert line["action"] == "fetch" and line["outcome"].startswith("PermissionDenied: ") and line["rows"] is None


def test_no_secret_ever_appears(fx: FakeExchange, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    client = jhe.Client(fx.url, client_id=fx.client_id, client_secret=fx.client_secret, audit_log=log)
    quiet(client.fetch, study_id=fx.main_study_id, code=GLUCOSE, deidentify=jhe.Deidentification(KEY))
    quiet(client.export_parquet, tmp_path / "g.parquet", fx.main_study_id, code=GLUCOSE, encryption=jhe.Encryption(key=EXPORT_KEY))
    # A secret that reached an argument is redacted too.
    with pytest.warns(jhe.EmptyResultWarning):
        client.fetch(study_id=fx.main_study_id, code=fx.client_secret)
    token_client = jhe.Client(fx.url, fx.token, audit_log=log)
    quiet(token_client.fetch, study_id=fx.main_study_id, code=GLUCOSE)
    text = log.read_text()
    assert len(lines(log)) == 4
    for secret in (fx.client_secret, fx.client_key, fx.token, KEY, EXPORT_KEY):
        assert secret not in text
    assert _audit.REDACTED in text


def test_a_sync_and_a_watch_batch_are_recorded(tmp_path: Path) -> None:
    pytest.importorskip("deltalake")
    log = tmp_path / "audit.jsonl"
    with FakeExchange(patients=2, days=1, seed=5) as fx:
        client = jhe.Client(fx.url, fx.token, audit_log=log)
        result = client.sync(tmp_path / "mirror", study_id=fx.main_study_id)
        added = fx.add_observations(3)
        since = min(row["last_updated"] for row in fx.expected_observations(study_id=fx.main_study_id) if row["id"] in added)
        batch = next(client.watch(fx.main_study_id, interval=0, since=since))
    sync, watch = lines(log)
    assert sync["action"] == "sync" and sync["rows"] == result.added
    new_files = [Path(f["path"]) for f in sync["files"]]
    assert new_files and all(p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"] for p, f in zip(new_files, sync["files"]))
    assert any(p.suffix == ".parquet" for p in new_files)
    assert watch["action"] == "watch_batch" and watch["rows"] == batch.total == 3 and watch["query"]["study_id"] == fx.main_study_id


def _append_many(path: str, worker: int, count: int) -> None:
    log = _audit.AuditLog(path)
    for i in range(count):
        # Lines of 2 to 8 KB: longer than an atomic pipe write, as a big query would be.
        log.append({"worker": worker, "i": i, "padding": "x" * (2048 + (i * 997) % 6144)})


def test_concurrent_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), worker, 200)) for worker in range(6)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
        assert process.exitcode == 0
    written = lines(path)  # every line parses: none was cut into by another
    assert len(written) == 6 * 200
    assert sorted((line["worker"], line["i"]) for line in written) == [(w, i) for w in range(6) for i in range(200)]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_no_audit_log_means_no_file_and_the_environment_turns_it_on(fx: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_audit.ENV_PATH, raising=False)
    quiet(jhe.Client(fx.url, fx.token).fetch, study_id=fx.main_study_id, code=GLUCOSE)
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(_audit.ENV_PATH, str(tmp_path / "env.jsonl"))
    quiet(jhe.Client(fx.url, fx.token).list_studies)
    assert [line["action"] for line in lines(tmp_path / "env.jsonl")] == ["list_studies"]


def test_jhe_audit_prints_a_table_and_reports_a_bad_line(fx: FakeExchange, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token, "JHE_DEID_KEY": KEY}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jhe", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    exported = run("export", "--study", str(fx.main_study_id), "--deidentify", "--audit-log", str(log), "-o", "all.csv")
    assert exported.returncode == 0, exported.stderr
    listed = run("patients", "--audit-log", str(log))
    assert listed.returncode == 0, listed.stderr
    table = run("audit", str(log))
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["time", "user", "action", "query"]
    assert "export_csv" in rows[0] and "de-identified (pseudonymize)" in rows[0] and "pi_paula@example.com" in rows[0]
    assert "list_patients" in rows[1]
    as_json = run("audit", str(log), "--json")
    assert [json.loads(line)["action"] for line in as_json.stdout.splitlines()] == ["export_csv", "list_patients"]
    with log.open("a") as handle:
        handle.write("not json\n")
    damaged = run("audit", str(log))
    assert damaged.returncode == 1 and "line 3" in damaged.stderr and len(damaged.stdout.splitlines()) == 3
