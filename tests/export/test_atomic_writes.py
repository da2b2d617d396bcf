"""An export that fails leaves no half-written file and keeps the file it would replace."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import HEART_RATE


def test_an_interrupted_export_leaves_no_half_file(small_fx: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    target = tmp_path / "hr.parquet"
    target.write_bytes(b"an earlier export")

    def fail_halfway(table: object, where: str, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        client.export_parquet(target, study_id=fx.main_study_id, code=HEART_RATE)
    assert target.read_bytes() == b"an earlier export", "the existing file is untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["hr.parquet"], "no temporary file left behind"
    monkeypatch.undo()
    # a fetch that fails writes nothing at all
    with FakeExchange(patients=1, days=1, error_rate=1.0) as broken:
        with pytest.raises(jhe.ServerError):
            jhe.Client(broken.url, broken.token, retries=0).export_csv(tmp_path / "never.csv", study_id=broken.main_study_id)
    assert not (tmp_path / "never.csv").exists()
