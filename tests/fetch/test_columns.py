"""`columns=`, minimum necessary: only the named columns, in the table's order; every row kept."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.cli.helpers import run_with
from tests.helpers import GLUCOSE, HEART_RATE


@pytest.fixture(scope="module")
def small_fx() -> Iterator[FakeExchange]:
    """A small exchange to export from: 3 patients, 2 days, some records damaged."""
    with FakeExchange(patients=3, days=2, seed=4, damaged_every=7) as exchange:
        yield exchange


@pytest.fixture(scope="module")
def client(fx: FakeExchange) -> jhe.Client:
    return jhe.Client(fx.url, fx.token)


def test_wide_fetch_keeps_the_named_columns_in_table_order(fx: FakeExchange, client: jhe.Client) -> None:
    everything = client.fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE)
    some = client.fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE, columns=["glucose_mg_dl", "duplicate_uuid", "timestamp"])
    assert some.column_names == ["timestamp", "duplicate_uuid", "glucose_mg_dl"]
    assert some.num_rows == everything.num_rows == len(fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE))
    assert some.equals(everything.select(some.column_names))


def test_long_fetch_keeps_a_row_per_measure(fx: FakeExchange, client: jhe.Client) -> None:
    codes = [GLUCOSE, HEART_RATE]
    everything = client.fetch(study_id=fx.main_study_id, code=codes)
    some = client.fetch(study_id=fx.main_study_id, code=codes, columns=["value", "observation_id", "measure"])
    table = some.to_arrow()
    assert table.column_names == ["observation_id", "measure", "value"]
    assert table.equals(everything.to_arrow().select(table.column_names))
    assert (some.total, some.errors) == (everything.total, everything.errors)


@pytest.mark.parametrize(
    ("columns", "layout", "message"),
    [
        (["glucose_mg_dl", "glucose_mdl"], "wide", "'glucose_mdl'|\"glucose_mdl\""),
        (["timestamp"], "long", "\"timestamp\" is not a column of the long layout"),
        (["heart_rate_bpm"], "wide", "\"heart_rate_bpm\".*glucose_mg_dl"),
        ([], "wide", "at least one"),
    ],
)
def test_a_name_that_is_no_column_is_refused_before_fetching(
    fx: FakeExchange, client: jhe.Client, columns: list[str], layout: str, message: str
) -> None:
    with pytest.raises(jhe.ConfigurationError, match=message):
        client.fetch(study_id=fx.main_study_id, code=GLUCOSE, layout=layout, columns=columns)  # type: ignore[call-overload]


@pytest.mark.parametrize("columns", ["glucose_mg_dl", [1], ["glucose_mg_dl", None]])
def test_columns_must_be_a_sequence_of_str(fx: FakeExchange, client: jhe.Client, columns: object) -> None:
    with pytest.raises(jhe.ConfigurationError, match="columns|column"):
        client.fetch(study_id=fx.main_study_id, code=GLUCOSE, columns=columns)  # type: ignore[call-overload]


def test_the_flat_layout_refuses_columns(fx: FakeExchange, client: jhe.Client) -> None:
    with pytest.raises(jhe.ConfigurationError, match="flat layout"):
        client._native.fetch({"layout": "flat", "columns": ["code"]}, study_id=fx.main_study_id)


def test_the_errors_table_is_the_same(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    everything = client.fetch(study_id=small_fx.main_study_id, code=GLUCOSE)
    some = client.fetch(study_id=small_fx.main_study_id, code=GLUCOSE, columns=["created"])
    assert some.errors and some.errors == everything.errors
    assert some.to_arrow().num_rows == everything.to_arrow().num_rows


def test_exports_write_only_the_named_columns(fx: FakeExchange, client: jhe.Client, tmp_path: Path) -> None:
    columns = ["observation_id", "glucose_mg_dl"]
    expected = client.fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE)
    csv_path = client.export_csv(tmp_path / "g.csv", study_id=fx.main_study_id, code=GLUCOSE, columns=columns)
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == columns
    assert [int(r["observation_id"]) for r in rows] == expected["observation_id"].to_pylist()
    parquet_path = client.export_parquet(tmp_path / "g.parquet", study_id=fx.main_study_id, code=GLUCOSE, columns=columns)
    assert pq.read_table(parquet_path).equals(expected.select(columns))


@pytest.mark.filterwarnings("ignore::jhe.DecodeWarning")
def test_study_export_writes_only_the_named_columns(small_fx: FakeExchange, tmp_path: Path) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    organization = client._get(f"studies/{small_fx.main_study_id}")["organization"]["id"]
    written = client.export_study(organization, small_fx.main_study_id, path=tmp_path / "study", columns=["patient_id", "code"])
    expected = small_fx.expected_observations(study_id=small_fx.main_study_id)
    assert {pq.read_table(path).column_names == ["patient_id", "code"] for path in written.values()} == {True}
    assert sum(pq.read_table(path).num_rows for path in written.values()) == len(expected)


def test_the_cli_takes_comma_separated_columns(small_fx: FakeExchange, tmp_path: Path) -> None:
    study = str(small_fx.main_study_id)
    done = run_with(small_fx, "export", "--study", study, "--code", GLUCOSE, "--columns", "glucose_mg_dl,patient_id", "-o", "g.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "g.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["patient_id", "glucose_mg_dl"]
    bad = run_with(small_fx, "export", "--study", study, "--code", GLUCOSE, "--columns", "glucose", "-o", "b.csv", cwd=tmp_path)
    assert bad.returncode != 0 and "\"glucose\"" in bad.stderr and not (tmp_path / "b.csv").exists()


def test_a_result_without_its_summary_columns_still_shows(fx: FakeExchange, client: jhe.Client) -> None:
    some = client.fetch(study_id=fx.main_study_id, code=GLUCOSE, columns=["glucose_mg_dl"])
    assert some.summary() == [{"code": GLUCOSE, "observations": None, "patients": None, "first": None, "last": None, "errors": 0}]
    assert f"{GLUCOSE}: ? observations, ? patients, ? to ?" in repr(some)
    assert "<td>?</td>" in some._repr_html_()
    counted = client.fetch(study_id=fx.main_study_id, code=GLUCOSE, columns=["observation_id"]).summary()[0]
    assert counted["observations"] == len(fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE))
