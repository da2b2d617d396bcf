"""Encrypted Parquet exports: unreadable without the key, readable with it (by pyarrow
directly too), no plaintext in the bytes, the errors sidecar encrypted as well."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

KEY = "6b" * 32  # 256 bits in hex
GLUCOSE = "omh:blood-glucose:4.0"


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=8, damaged_every=7) as exchange:
        yield exchange


@pytest.fixture(scope="module")
def client(fx: FakeExchange) -> jhe.Client:
    return jhe.Client(fx.url, fx.token)


def plaintexts(table: object) -> list[bytes]:
    """Values the file must not show: ids' uuids, the code, column names."""
    uuids = [u for u in table.column("uuid").to_pylist()[:20] if u]  # type: ignore[attr-defined]
    return [u.encode() for u in uuids] + [GLUCOSE.encode(), b"glucose_mg_dl", b"effective_start"]


def test_an_encrypted_export_reads_back_with_the_key_only(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    with pytest.warns(jhe.DecodeWarning):
        plain = client.export_parquet(tmp_path / "plain.parquet", fx.main_study_id, code=GLUCOSE)
    with pytest.warns(jhe.DecodeWarning):
        sealed = client.export_parquet(tmp_path / "sealed.parquet", fx.main_study_id, code=GLUCOSE, encryption=jhe.Encryption(key=KEY))
    expected = pq.read_table(plain)
    assert jhe.read_parquet(sealed, encryption=jhe.Encryption(key=KEY)).equals(expected)
    # pyarrow itself, with the same key, reads it: nothing jhe-specific in the file.
    assert pq.read_table(sealed, decryption_properties=jhe.Encryption(key=KEY).file_decryption_properties()).equals(expected)
    data = sealed.read_bytes()
    assert [p for p in plaintexts(expected) if p in data] == []
    assert all(p in plain.read_bytes() for p in plaintexts(expected)[-3:]), "the plain file shows them: the test can fail"
    with pytest.raises(jhe.ConfigurationError, match="is encrypted: pass encryption="):
        jhe.read_parquet(sealed)
    with pytest.raises(jhe.ConfigurationError, match="this key does not open the file"):
        jhe.read_parquet(sealed, encryption=jhe.Encryption(key="00" * 32))
    sidecar = tmp_path / "sealed.errors.parquet"
    errors = jhe.read_parquet(sidecar, encryption=jhe.Encryption(key=KEY))
    assert errors.num_rows > 0 and b'"body"' not in sidecar.read_bytes()


def test_keys_in_hex_base64_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    raw = bytes(range(16))
    for given in (raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw):
        shown = repr(jhe.Encryption(key=given))
        assert raw.hex() not in shown and base64.b64encode(raw).decode() not in shown
    monkeypatch.setenv("JHE_EXPORT_KEY", KEY)
    assert repr(jhe.Encryption()) == "jhe.Encryption(key_id='jhe-export-key', through a local key)"
    assert KEY not in repr(jhe.Encryption())
    assert repr(jhe.Encryption(kms_client_factory=lambda config: None, key_id="kek-1")) == "jhe.Encryption(key_id='kek-1', through a KMS client)"
    monkeypatch.delenv("JHE_EXPORT_KEY")
    with pytest.raises(jhe.ConfigurationError, match="no encryption key: pass Encryption"):
        jhe.Encryption()
    for bad in ("abc", "00" * 20, b"short"):
        with pytest.raises(jhe.ConfigurationError, match="128, 192 or 256 bits"):
            jhe.Encryption(key=bad)


def test_a_study_export_is_encrypted_file_by_file(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    with pytest.warns(jhe.DecodeWarning):
        files = client.export_study(20001, fx.main_study_id, path=tmp_path / "study", encryption=jhe.Encryption(key=KEY))
    assert len(files) > 3
    for path in files.values():
        with pytest.raises(jhe.ConfigurationError):
            jhe.read_parquet(path)
        assert jhe.read_parquet(path, encryption=jhe.Encryption(key=KEY)).num_rows > 0


def test_what_cannot_be_encrypted_is_refused_before_fetching(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    fx.clear_requests()
    with pytest.raises(jhe.ConfigurationError, match="CSV cannot be encrypted"):
        client.export_study(20001, fx.main_study_id, path=tmp_path / "csv", format="csv", encryption=jhe.Encryption(key=KEY))
    with pytest.raises(jhe.ConfigurationError, match="not supported"):
        client.export_parquet(tmp_path / "parts", fx.main_study_id, partition_by=["code"], encryption=jhe.Encryption(key=KEY))
    assert not [r for r in fx.requests() if "Observation" in r["path"]]


def test_the_cli_encrypts_with_the_key_in_the_environment(fx: FakeExchange, tmp_path: Path) -> None:
    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token, "JHE_EXPORT_KEY": KEY}
    done = subprocess.run(
        [sys.executable, "-m", "jhe", "export", "--study", str(fx.main_study_id), "--code", GLUCOSE, "--encrypt", "-o", "g.parquet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert jhe.read_parquet(tmp_path / "g.parquet", encryption=jhe.Encryption(key=KEY)).num_rows > 0
    refused = subprocess.run(
        [sys.executable, "-m", "jhe", "export", "--study", str(fx.main_study_id), "--encrypt", "-o", "g.csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert refused.returncode == 2 and "CSV cannot be encrypted" in refused.stderr
