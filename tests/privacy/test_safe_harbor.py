"""Safe Harbor mode: no day or month of any date, anywhere; times since each patient's
first observation, beside its year; birth dates as years, ages over 89 as "90+"."""

from __future__ import annotations

import re
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import jhe
from jhe import _deidentify
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.privacy.conftest import KEY

# A day and month in any usual spelling: ISO, US or European, or a month's name.
DATE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4}|"
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b",
)
SAFE_HARBOR = jhe.Deidentification(KEY, mode="safe_harbor")


def quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jhe.DecodeWarning)
        return call(*args, **kwargs)


def assert_no_date(what: str, table: pa.Table) -> None:
    for field in table.schema:
        assert not pa.types.is_timestamp(field.type) and not pa.types.is_date(field.type), f"{what}: {field.name} is a date"
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_dictionary(column.type):
            text = "\n".join(str(value) for value in column.to_pylist() if value is not None)
            assert not DATE_TEXT.search(text), f"{what}: {DATE_TEXT.search(text)}"


def test_no_day_or_month_in_any_layout_or_export(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    for layout in ("wide", "long"):
        arrow = quiet(client.fetch, study_id=fx.main_study_id, layout=layout, deidentify=SAFE_HARBOR).to_arrow()
        for code, table in (arrow.items() if isinstance(arrow, dict) else [("all", arrow)]):
            assert_no_date(f"{layout} {code}", table)
    csv = quiet(client.export_csv, tmp_path / "all.csv", fx.main_study_id, deidentify=SAFE_HARBOR)
    parquet = quiet(client.export_parquet, tmp_path / "all.parquet", fx.main_study_id, deidentify=SAFE_HARBOR)
    assert not DATE_TEXT.search(csv.read_text())
    assert_no_date("parquet", pq.read_table(parquet))
    listed = client.list_patients(deidentify=SAFE_HARBOR)
    assert "birthDate" not in listed.columns and {"birth_year", "age"} <= set(listed.columns)
    assert not DATE_TEXT.search(listed.astype(str).to_csv())


def test_times_count_from_each_patients_first_observation(fx: FakeExchange, client: jhe.Client) -> None:
    plain = quiet(client.fetch, study_id=fx.main_study_id, layout="long").to_arrow()
    harbored = quiet(client.fetch, study_id=fx.main_study_id, layout="long", deidentify=SAFE_HARBOR).to_arrow()
    frame = pd.DataFrame(
        {
            "patient": plain["patient_id"].to_pylist(),
            "start": plain["effective_start"].to_pylist(),
            "end": plain["effective_end"].to_pylist(),
            "since_start": harbored["effective_start"].to_pylist(),
            "since_end": harbored["effective_end"].to_pylist(),
            "year": harbored["first_year"].to_pylist(),
        }
    )
    for _, rows in frame.groupby("patient"):
        first = rows["start"].dropna().min()
        assert rows["since_start"].dropna().min() == timedelta(0)
        assert (rows["since_start"].dropna() == (rows["start"] - first).dropna()).all()
        ends = rows.dropna(subset=["end"])
        assert (ends["since_end"] == ends["end"] - first).all()
        assert set(rows["year"]) == {first.year}


def test_birth_dates_become_years_and_ages_over_89_one_category() -> None:
    patients = pd.DataFrame(
        {"id": [1, 2, 3], "birthDate": ["1930-06-02", "1936-12-31", "1990-01-15"], "nameGiven": ["A", "B", "C"]}
    )
    listed = _deidentify.patients(patients, SAFE_HARBOR, "http://127.0.0.1:1", today=date(2026, 6, 1))
    assert listed["age"].tolist() == ["90+", "89", "36"]
    # A 90-year-old's birth year would give the age away: it goes too.
    assert listed["birth_year"].tolist()[0] is pd.NA
    assert listed["birth_year"].tolist()[1:] == [1936, 1990]
    assert "nameGiven" not in listed.columns and "birthDate" not in listed.columns


def test_the_guide_preset_watch_and_sync_refuse_safe_harbor(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    import pytest

    with pytest.raises(jhe.ConfigurationError, match="Safe Harbor"):
        client.export_csv(tmp_path / "g.csv", fx.main_study_id, preset="guide", deidentify=SAFE_HARBOR)
    with pytest.raises(jhe.ConfigurationError, match="Safe Harbor"):
        client.watch(fx.main_study_id, code=GLUCOSE, deidentify=SAFE_HARBOR)
    with pytest.raises(jhe.ConfigurationError, match="Safe Harbor"):
        client.sync(tmp_path / "mirror", fx.main_study_id, deidentify=SAFE_HARBOR)
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "mirror").exists()
