"""`client.quality(...)` against the fake Exchange's ground truth: its injected problems
(``quality_problems=True``) and what it says each patient consented to."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timezone
from pathlib import Path

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

GLUCOSE = "omh:blood-glucose:4.0"
HEART_RATE = "omh:heart-rate:2.0"
MAIN, BP = 30001, 30002


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=6, days=14, seed=0, quality_problems=True) as exchange:
        yield exchange


@pytest.fixture(scope="module")
def report(fx: FakeExchange) -> jhe.QualityReport:
    fx.clear_requests()
    return jhe.Client(fx.url, fx.token).quality(MAIN)


@pytest.fixture(scope="module")
def glucose(fx: FakeExchange) -> pd.DataFrame:
    return jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=MAIN, code=GLUCOSE)


def ids(frame: pd.DataFrame, **equal: object) -> set[int]:
    for column, value in equal.items():
        frame = frame[frame[column] == value]
    return set(frame["observation_id"].tolist())


def test_the_study_is_one_search_and_no_patient_is_searched(fx: FakeExchange, report: jhe.QualityReport) -> None:
    queries = [r["query"] for r in fx.requests() if r["path"].endswith("/Observation")]
    assert queries and not [q for q in queries if "patient=" in q or "code=" in q]
    assert all(f"_id={MAIN}" in q for q in queries)


def test_named_codes_are_a_search_each(fx: FakeExchange) -> None:
    fx.clear_requests()
    jhe.Client(fx.url, fx.token).quality(MAIN, [GLUCOSE, HEART_RATE])
    queries = [r["query"] for r in fx.requests() if r["path"].endswith("/Observation")]
    assert not [q for q in queries if "patient=" in q]
    assert {part for q in queries for part in q.split("&") if part.startswith("code=")} == {
        "code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Ablood-glucose%3A4.0",
        "code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Aheart-rate%3A2.0",
    }


def test_completeness_status_per_patient_and_code(fx: FakeExchange, report: jhe.QualityReport) -> None:
    expected = fx.expected_consent(MAIN)
    table = report.completeness
    assert set(table["patient_id"]) == set(expected)
    assert set(table["code"]) == set(fx.directory["codes_by_study"][MAIN])
    got = {(r.patient_id, r.code): r.status for r in table.itertuples()}
    want = {(p, c): status for p, codes in expected.items() for c, status in codes.items() if c in set(table["code"])}
    assert got == want
    assert {"consent pending", "not consented", "has data"} <= set(got.values())
    has = table[table.status == "has data"]
    assert (has.observations > 0).all() and (has.days_with_data > 0).all()
    assert (table[table.status != "has data"].observations == 0).all()


def test_codes_the_study_does_not_request(fx: FakeExchange) -> None:
    with warnings.catch_warnings():
        # A code of the catalogue is not unknown, and the report, not a warning, says why it is empty.
        warnings.simplefilter("error", jhe.EmptyResultWarning)
        report = jhe.Client(fx.url, fx.token).quality(BP, GLUCOSE)
    assert set(report.completeness["status"]) == {"not requested by study"}


def test_implausible_values_are_exactly_the_injected_ones(fx: FakeExchange, report: jhe.QualityReport) -> None:
    assert ids(report.outliers, rule="implausible") == {i for i, _ in fx.expected_implausible()}


def test_spikes_are_flagged_and_the_zscore_rule_matches_a_hand_computation(
    fx: FakeExchange, report: jhe.QualityReport, glucose: pd.DataFrame
) -> None:
    flagged = ids(report.outliers, rule="zscore")
    assert {i for i, code in fx.expected_spikes()} <= flagged | ids(report.outliers, rule="implausible")
    values = glucose.dropna(subset=["glucose_mg_dl"])
    stats = values.groupby("patient_id")["glucose_mg_dl"].agg(["mean", "std"])
    joined = values.join(stats, on="patient_id")
    by_hand = set(joined[(joined.glucose_mg_dl - joined["mean"]).abs() > 3 * joined["std"]].observation_id)
    assert ids(report.outliers[report.outliers.code == GLUCOSE], rule="zscore") == by_hand
    spikes = {i for i, code in fx.expected_spikes() if code == GLUCOSE}
    assert spikes <= by_hand


def test_timestamps_against_the_injected_ones(fx: FakeExchange, report: jhe.QualityReport) -> None:
    found = report.timestamps
    assert ids(found, rule="future") == set(fx.expected_future())
    assert set(fx.expected_future()) <= ids(found, rule="after_creation")
    assert ids(found, rule="before_2000") == set(fx.expected_clock_reset())
    assert set(fx.expected_clock_reset()) <= ids(found, rule="before_birth")
    changes = found[found.rule == "offset_change"]
    assert set(changes.patient_id) == {p for p, _ in fx.expected_offset_changes()}
    assert {first for _, first in fx.expected_offset_changes()} <= set(changes.observation_id)


def test_the_same_reading_under_two_ids(fx: FakeExchange, report: jhe.QualityReport) -> None:
    same = report.duplicates[report.duplicates.kind == "same reading"]
    pairs = {(g, i) for g, i in zip(same.duplicate_of, same.observation_id, strict=True) if g != i}
    assert pairs == {tuple(sorted(p)) for p in fx.expected_duplicate_readings()}


@pytest.mark.parametrize("code", [GLUCOSE, HEART_RATE])
def test_gaps_are_the_fakes_and_hold_each_outage(fx: FakeExchange, report: jhe.QualityReport, code: str) -> None:
    gaps = report.gaps[report.gaps.code == code]
    got = [(r.patient_id, r.start.to_pydatetime(), r.end.to_pydatetime()) for r in gaps.itertuples()]
    assert sorted(got) == sorted(fx.expected_gaps(code, k=3))
    for patient, outage_code, start, end in fx.expected_outages():
        if outage_code == code:
            assert any(p == patient and s <= start and end <= e for p, s, e in got), (patient, start, end)


def test_cgm_metrics_match_the_fetched_glucose(report: jhe.QualityReport, glucose: pd.DataFrame) -> None:
    values = glucose.dropna(subset=["glucose_mg_dl"])
    now = pd.Timestamp.now(tz=timezone.utc)
    values = values[(values.effective_start >= pd.Timestamp("2000-01-01", tz="UTC")) & (values.effective_start <= now)]
    cgm = report.cgm.set_index("patient_id")
    for patient, g in values.groupby("patient_id")["glucose_mg_dl"]:
        row = cgm.loc[patient]
        assert row.readings == len(g)
        assert row.mean_glucose_mg_dl == pytest.approx(g.mean())
        assert row.tir_70_180 == pytest.approx(100 * g.between(70, 180).mean())
        assert row.tar_250 == pytest.approx(100 * (g > 250).mean())
        assert row.tbr_54 == pytest.approx(100 * (g < 54).mean())
        assert row.gmi == pytest.approx(3.31 + 0.02392 * g.mean())


def test_units_are_the_damaged_units() -> None:
    with FakeExchange(patients=3, days=2, seed=1, damaged_every=5) as damaged:
        report = jhe.Client(damaged.url, damaged.token).quality(MAIN)
        bad_units = {i for i, kind in damaged.damaged() if kind == "bad_unit"}
    found = {i for ids_ in report.units["observation_ids"] for i in ids_}
    assert found == bad_units
    assert report.units["observations"].sum() == len(bad_units)


def test_summary_html_and_arrow(report: jhe.QualityReport, tmp_path: Path) -> None:
    summary = report.summary()
    assert list(summary.columns) == ["check", "result", "detail"]
    implausible = summary[summary.check == "outliers: implausible"].result.item()
    assert implausible == len(ids(report.outliers, rule="implausible"))
    page = report.to_html(tmp_path / "r.html").read_text()
    assert "<table class=heat>" in page and "<svg" in page and "<script" not in page
    assert "<table class=heat>" in report._repr_html_()
    tables = report.to_arrow()
    assert set(tables) == {"completeness", "coverage", "gaps", "outliers", "timestamps", "duplicates", "units", "cgm"}
    assert tables["cgm"].num_rows == len(report.cgm)


def _frame_times(omh: dict) -> list[str]:
    frame = omh["body"].get("effective_time_frame") or {}
    interval = frame.get("time_interval") or {}
    return [t for t in (frame.get("date_time"), interval.get("start_date_time"), interval.get("end_date_time")) if t]


def test_coverage_counts_each_local_day_as_the_payloads_write_it(fx: FakeExchange, report: jhe.QualityReport) -> None:
    # The payload's own date-time text carries the local offset: its first ten characters are the local day.
    written: dict[tuple[int, str], set[str]] = {}
    for row in fx.expected_observations(study_id=MAIN, code=GLUCOSE):
        (when,) = _frame_times(row["omh"])
        written.setdefault((row["patient_id"], when[:10]), set()).add(when)
    coverage = report.coverage[(report.coverage.code == GLUCOSE) & (report.coverage.readings > 0)]
    got = {(r.patient_id, f"{r.day:%Y-%m-%d}"): r.readings for r in coverage.itertuples()}
    assert got == {key: len(times) for key, times in written.items()}
    assert set(coverage.expected_readings) == {96}  # every 15 minutes
    outage_days = {(p, s.date().isoformat()) for p, code, s, e in fx.expected_outages() if code == GLUCOSE}
    assert all(got[day] < 96 for day in outage_days)


def test_missing_offsets_are_the_payloads_without_one(fx: FakeExchange, report: jhe.QualityReport) -> None:
    def has_offset(text: str) -> bool:
        return text.endswith("Z") or text[-6] in "+-"

    without = {
        row["id"]
        for row in fx.expected_observations(study_id=MAIN)
        if row["damage"] is None and not all(has_offset(t) for t in _frame_times(row["omh"]) or ["no time: a date and part of day"])
    }
    assert without, "the fake writes self-reported activities as a date and part of day"
    assert ids(report.timestamps, rule="missing_offset") == without


def test_an_older_server_gives_the_same_report() -> None:
    with FakeExchange(patients=6, days=7, seed=0, quality_problems=True) as current, FakeExchange(
        patients=6, days=7, seed=0, quality_problems=True, legacy=True
    ) as older:
        new, old = (jhe.Client(fx.url, fx.token).quality(MAIN, [GLUCOSE, HEART_RATE]) for fx in (current, older))
    for part in ("completeness", "coverage", "outliers", "gaps", "timestamps", "duplicates", "cgm"):
        assert new.parts[part].equals(old.parts[part]), part
    assert new.summary().equals(old.summary())
