"""A study exported whole: one file per code."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_study_wide_export_writes_one_file_per_code(small_fx: FakeExchange, tmp_path: Path, format: str) -> None:
    fx = small_fx
    client = jhe.Client(fx.url, fx.token)
    organization = client._get(f"studies/{fx.main_study_id}")["organization"]["id"]
    written = client.export_study(organization, fx.main_study_id, path=tmp_path / "study", format=format)  # type: ignore[arg-type]
    expected = fx.expected_observations(study_id=fx.main_study_id)
    assert set(written) == {e["code"] for e in expected}
    assert all(p.exists() and ":" not in p.name for p in written.values())
    if format == "parquet":
        assert sum(pq.read_table(p).num_rows for p in written.values()) == len(expected)
    with pytest.raises(jhe.ConfigurationError, match="belongs to organization"):
        client.export_study(organization + 999, fx.main_study_id, path=tmp_path / "nope")
