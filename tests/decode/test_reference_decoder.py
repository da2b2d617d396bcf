"""Cross-check: jhe's Rust decoder against the reference decoder (reference.py) on a
generated study of every code, in both layouts (same values, same times)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.decode.reference import cell, convert, reference_measures, reference_times
from tests.helpers import utc


@pytest.fixture(scope="module")
def study() -> Iterator[tuple[FakeExchange, list[dict[str, Any]]]]:
    with FakeExchange(patients=5, days=3, seed=21) as fx:
        yield fx, fx.expected_observations(study_id=fx.main_study_id)


def test_every_catalogue_code_is_in_the_study(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    _, expected = study
    assert {row["code"] for row in expected} == {spec["code"] for spec in jhe.catalog()}
    assert len(jhe.catalog()) == 16


def test_long_layout_matches_the_reference_decoder(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, expected = study
    df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="long")
    assert df.attrs["jhe_errors"] == []
    by_observation = {key: rows for key, rows in df.groupby("observation_id", sort=False)}
    assert list(by_observation) == [row["id"] for row in expected]
    checked_conversions = 0
    for row in expected:
        rows = by_observation[row["id"]]
        body = row["omh"]["body"]
        got = sorted(
            (r.measure, cell(r.value), cell(r.unit), cell(r.text)) for r in rows.itertuples(index=False)
        )
        assert got == sorted(reference_measures(body)), row["code"]
        start, end, offset = reference_times(body["effective_time_frame"])
        assert (rows["effective_start"] == start).all()
        assert (rows["effective_end"].isna() if end is None else rows["effective_end"] == end).all()
        assert (rows["utc_offset"].isna() if offset is None else rows["utc_offset"] == offset).all()
        assert (rows["patient_id"] == row["patient_id"]).all()
        assert (rows["uuid"] == row["omh"]["header"]["uuid"]).all()
        assert (rows["created"] == utc(row["omh"]["header"]["source_creation_date_time"])).all()
        for r in rows.itertuples(index=False):
            if cell(r.canonical_unit) is not None:
                assert r.canonical_value == pytest.approx(convert(r.value, r.unit, r.canonical_unit), rel=1e-12)
                checked_conversions += r.unit != r.canonical_unit
    assert checked_conversions > 0, "the study exercised real unit conversions"


def test_wide_layout_matches_the_reference_decoder(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, expected = study
    frames = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    assert isinstance(frames, dict)
    catalog = {spec["code"]: spec["measures"] for spec in jhe.catalog()}
    expected_by_code: dict[str, list[dict[str, Any]]] = {}
    for row in expected:
        expected_by_code.setdefault(row["code"], []).append(row)
    assert set(frames) == set(expected_by_code)
    for code, frame in frames.items():
        rows = expected_by_code[code]
        assert frame["observation_id"].tolist() == [row["id"] for row in rows]
        for position, row in enumerate(rows):
            body = row["omh"]["body"]
            got = frame.iloc[position]
            start, end, offset = reference_times(body["effective_time_frame"])
            assert got["timestamp"] == start and got["effective_start"] == start
            assert cell(got["effective_end"]) == end
            assert cell(got["utc_offset"]) == offset
            leaves = {path: (value, unit, text) for path, value, unit, text in reference_measures(body)}
            for measure in catalog[code]:
                value, unit, text = leaves.get(measure["path"], (None, None, None))
                column, kind = measure["column"], measure["kind"]
                if kind == "quantity":
                    canonical = None if value is None else convert(value, unit, measure["units"][0])
                    assert cell(got[column]) == (None if canonical is None else pytest.approx(canonical, rel=1e-12))
                    if measure["stated"]:
                        assert cell(got[f"{measure['stated']}_value"]) == value
                        assert cell(got[f"{measure['stated']}_unit"]) == unit
                elif kind == "amount":
                    assert cell(got[f"{column}_value"]) == value
                    assert cell(got[f"{column}_unit"]) == unit
                elif kind in ("number", "count"):
                    assert cell(got[column]) == value
                elif kind == "boolean":
                    assert cell(got[column]) == (None if text is None else text == "true")
                else:
                    assert cell(got[column]) == text
            # every leaf of the body has a column: nothing is left out of the wide table
            assert set(leaves) <= {m["path"] for m in catalog[code]}, code


def test_wide_dtypes_follow_the_measure_kinds(study: tuple[FakeExchange, list[dict[str, Any]]]) -> None:
    fx, _ = study
    frames = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, layout="wide")
    assert isinstance(frames, dict)
    expected_dtype = {
        "quantity": "float64", "number": "float64", "count": "int64", "boolean": "bool", "text": "object",
    }
    for spec in jhe.catalog():
        frame = frames[spec["code"]]
        assert str(frame["effective_start"].dt.tz) == "UTC"
        assert str(frame["utc_offset"].dtype).startswith("timedelta64")
        assert frame["duplicate_uuid"].dtype == "bool"
        for measure in spec["measures"]:
            column, kind = measure["column"], measure["kind"]
            if kind == "category":
                assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
            elif kind == "amount":
                assert frame[f"{column}_value"].dtype == "float64"
            elif frame[column].notna().all() or kind in ("quantity", "number"):
                # pandas turns an int64 or bool column with nulls into float64/object
                # text is "object" on pandas 2 and "str" on pandas 3
                allowed = ("object", "str") if kind == "text" else (expected_dtype[kind],)
                assert str(frame[column].dtype) in allowed, (column, frame[column].dtype)
