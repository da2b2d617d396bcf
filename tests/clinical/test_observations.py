"""Imported (EHR) Observations decoded into typed columns, checked against the fake's own
records: every value form, the blood-pressure components, times, the `source` column, the
LOINC code filter, the long layout, and what cannot be combined with imported records."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE

PATIENT_ID = "https://jupyterhealth.org/fhir/StructureDefinition/patient-id"
# Each canonical unit's factor from the units the fake writes (worked out here, not jhe's).
TO_CANONICAL = {"%": 1.0, "mg/dL": 1.0, "/min": 1.0, "beats/min": 1.0, "kg": 1.0, "[lb_av]": 0.45359237, "mm[Hg]": 1.0}


@pytest.fixture(scope="module")
def imported() -> Any:
    with FakeExchange(patients=3, days=2, seed=5) as fx:
        client = jhe.Client(fx.url, fx.token)
        records = [
            json.loads(text)
            for patient in fx.directory["patients_by_study"][fx.main_study_id]
            for text in fx.expected_imported("Observation", patient_id=patient)
        ]
        result = client.fetch(study_id=fx.main_study_id, source="imported", layout="wide", progress=False)
        yield fx, client, records, result


def loinc(record: dict[str, Any]) -> str:
    return next(c["code"] for c in record["code"]["coding"] if c["system"] == "http://loinc.org")


def instant(text: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.fromisoformat(text.replace("Z", "+00:00"))).tz_convert("UTC")


def effective(record: dict[str, Any]) -> pd.Timestamp:
    if "effectiveDateTime" in record:
        return instant(record["effectiveDateTime"])
    if "effectivePeriod" in record:
        return instant(record["effectivePeriod"]["start"])
    return instant(record["issued"])


def rows_by_id(result: jhe.Observations) -> dict[str, pd.DataFrame]:
    frames = result.to_pandas()
    assert isinstance(frames, dict)
    return {code: frame.set_index("resource_id") for code, frame in frames.items()}


def test_every_imported_observation_is_a_row_of_its_codes_table_with_nothing_reported(imported: Any) -> None:
    _, _, records, result = imported
    tables = rows_by_id(result)
    expected: dict[str, set[str]] = {}
    for record in records:
        expected.setdefault(loinc(record), set()).add(record["id"])
    assert {code: set(frame.index) for code, frame in tables.items()} == expected
    assert result.errors == []
    assert len({r["id"] for r in records}) == sum(len(f) for f in tables.values()) == len(records)


def test_common_columns_name_the_exchanges_patient_the_source_and_the_effective_time(imported: Any) -> None:
    _, _, records, result = imported
    tables = rows_by_id(result)
    for record in records:
        row = tables[loinc(record)].loc[record["id"]]
        stamped = next(e["valueInteger"] for e in record["extension"] if e["url"] == PATIENT_ID)
        assert row["patient_id"] == stamped, "the extension's patient, not the EHR's subject"
        assert row["source"] == record["meta"]["source"]
        assert pd.isna(row["observation_id"]), "a FHIR id is not one of the Exchange's"
        assert row["timestamp"] == effective(record)
        end = record.get("effectivePeriod", {}).get("end")
        assert (pd.isna(row["effective_end"]) if end is None else row["effective_end"] == instant(end))
        assert row["status"] == record["status"]
        assert row["category"] == record["category"][0]["coding"][0]["code"]
        assert row["code_display"] == next(c["display"] for c in record["code"]["coding"] if c["system"] == "http://loinc.org")


def test_quantities_keep_value_unit_and_ucum_code_and_convert_to_one_unit(imported: Any) -> None:
    _, _, records, result = imported
    tables = rows_by_id(result)
    columns = {"4548-4": "hba1c", "2345-7": "glucose", "2339-0": "glucose", "8867-4": "heart_rate", "29463-7": "body_weight", "2160-0": "creatinine"}
    canonical = {"hba1c": "hba1c_percent", "glucose": "glucose_mg_dl", "heart_rate": "heart_rate_bpm", "body_weight": "body_weight_kg", "creatinine": "creatinine_mg_dl"}
    seen = set()
    for record in (r for r in records if "valueQuantity" in r):
        stem = columns[loinc(record)]
        row = tables[loinc(record)].loc[record["id"]]
        quantity = record["valueQuantity"]
        assert row[f"{stem}_value"] == quantity["value"]
        assert row[f"{stem}_unit"] == quantity["unit"]
        ucum = quantity.get("code")
        assert (pd.isna(row[f"{stem}_ucum"]) if ucum is None else row[f"{stem}_ucum"] == ucum)
        factor = TO_CANONICAL[ucum or quantity["unit"]]
        assert row[canonical[stem]] == pytest.approx(quantity["value"] * factor)
        ranges = record.get("referenceRange")
        if ranges:
            assert (row["reference_low"], row["reference_high"]) == (ranges[0]["low"]["value"], ranges[0]["high"]["value"])
            assert row["interpretation"] == record["interpretation"][0]["coding"][0]["code"]
        else:
            assert pd.isna(row["reference_low"]) and pd.isna(row["interpretation"])
        seen.add((ucum is None, quantity["unit"] != (ucum or quantity["unit"])))
    assert seen >= {(True, False), (False, True)}, "a unit without UCUM, and a UCUM code unlike its unit ([lb_av])"


def test_blood_pressure_is_systolic_and_diastolic_from_its_components(imported: Any) -> None:
    _, _, records, result = imported
    bp = rows_by_id(result)["85354-9"]
    panels = [r for r in records if loinc(r) == "85354-9"]
    assert panels
    for record in panels:
        parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in record["component"]}
        row = bp.loc[record["id"]]
        assert (row["systolic_mmhg"], row["diastolic_mmhg"]) == (parts["8480-6"], parts["8462-4"])
        assert row["systolic_unit"] == "mmHg"


def test_coded_text_boolean_integer_and_period_values(imported: Any) -> None:
    _, _, records, result = imported
    tables = rows_by_id(result)
    forms = set()
    for record in records:
        row = tables[loinc(record)].loc[record["id"]]
        if "valueCodeableConcept" in record:
            concept = record["valueCodeableConcept"]
            assert (row["smoking_status"], row["smoking_status_display"]) == (concept["coding"][0]["code"], concept["text"])
        elif "valueString" in record:
            assert row["urine_color"] == record["valueString"]
        elif "valueBoolean" in record:
            assert bool(row["fasting"]) is record["valueBoolean"]
        elif "valueInteger" in record:
            assert row["pain_score"] == record["valueInteger"]
        elif "valuePeriod" in record:
            period = record["valuePeriod"]
            hours = (instant(period["end"]) - instant(period["start"])).total_seconds() / 3600
            assert row["sleep_duration_h"] == pytest.approx(hours)
            assert row["sleep_duration_unit"] == "h"
        else:
            continue
        forms.add(next(k for k in record if k.startswith("value")))
    assert forms == {"valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valuePeriod"}


def test_the_long_layout_has_the_same_measures_as_rows(imported: Any) -> None:
    fx, client, records, _ = imported
    long = client.fetch_dataframe(study_id=fx.main_study_id, source="imported", layout="long", progress=False)
    hba1c = next(r for r in records if loinc(r) == "4548-4")
    rows = long[long["resource_id"] == hba1c["id"]].set_index("measure")
    assert rows.loc["hba1c", "value"] == hba1c["valueQuantity"]["value"]
    assert rows.loc["hba1c", "unit"] == "%" and rows.loc["hba1c", "canonical_unit"] == "%"
    assert rows.loc["status", "text"] == hba1c["status"]
    assert rows.loc["hba1c_ucum", "text"] == "%"
    assert set(long["resource_id"]) == {r["id"] for r in records}


@pytest.mark.parametrize("code", ["4548-4", "http://loinc.org|4548-4"])
def test_a_loinc_code_selects_its_records(imported: Any, code: str) -> None:
    fx, client, records, _ = imported
    hba1c = client.fetch_dataframe(study_id=fx.main_study_id, code=code, source="imported", progress=False)
    assert set(hba1c["resource_id"]) == {r["id"] for r in records if loinc(r) == "4548-4"}
    assert "hba1c_percent" in hba1c.columns
    searched = [r["query"] for r in fx.requests() if r["path"].endswith("/Observation")]
    assert any("code=http%3A%2F%2Floinc.org%7C4548-4" in q for q in searched), searched[-3:]


def test_all_reads_both_stores_and_source_tells_them_apart(imported: Any) -> None:
    fx, client, records, _ = imported
    both = client.fetch_dataframe(study_id=fx.main_study_id, code=[GLUCOSE, "4548-4"], source="all", progress=False)
    own = both[both["code"] == GLUCOSE]
    ehr = both[both["code"] == "4548-4"]
    assert set(own["source"]) == {"https://jupyterhealth.org/jhe"} and own["observation_id"].notna().all()
    assert set(ehr["source"]) == {r["meta"]["source"] for r in records if loinc(r) == "4548-4"}
    assert ehr["observation_id"].isna().all() and ehr["resource_id"].notna().all()


def test_the_exchanges_own_records_alone_have_no_origin_columns(imported: Any) -> None:
    fx, client, _, _ = imported
    own = client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE, progress=False)
    assert "source" not in own.columns and "resource_id" not in own.columns


def test_arrow_keeps_the_fhir_id_as_text(imported: Any) -> None:
    _, _, _, result = imported
    table = result.to_arrow()["4548-4"]
    assert table.schema.field("resource_id").type == pa.string()
    assert table.schema.field("hba1c_percent").type == pa.float64()
    assert table.schema.field("hba1c_ucum").type == pa.dictionary(pa.int32(), pa.string())


def test_updated_since_and_watching_are_refused_with_imported_records(imported: Any) -> None:
    fx, client, _, _ = imported
    with pytest.raises(jhe.ConfigurationError, match="imported record carries no lastUpdated"):
        client.fetch(study_id=fx.main_study_id, source="imported", updated_since="2024-01-01")
    with pytest.raises(jhe.ConfigurationError, match="imported record carries no lastUpdated"):
        next(iter(client.watch(study_id=fx.main_study_id, source="all", interval=0.01)))


def test_the_clinical_catalogue_lists_each_codes_columns_as_the_tables_have_them(imported: Any) -> None:
    _, _, _, result = imported
    clinical = {entry["code"]: entry for entry in jhe.catalog(clinical=True)}
    assert {"4548-4", "2345-7", "2339-0", "8867-4", "85354-9", "29463-7", "2160-0"} <= set(clinical)
    assert all(entry["system"] == "http://loinc.org" for entry in clinical.values())
    assert not set(clinical) & {entry["code"] for entry in jhe.catalog()}
    for code, table in result.to_arrow().items():
        columns = set(table.column_names)
        for measure in clinical[code]["measures"]:
            named = [measure["column"]] + ([f"{measure['stated']}_value", f"{measure['stated']}_unit"] if measure["stated"] else [])
            assert set(named) <= columns, (code, measure)
            assert measure["element"]
    bp = {m["column"]: m["element"] for m in clinical["85354-9"]["measures"]}
    assert bp["systolic_mmhg"] == "component[code=8480-6].valueQuantity"


def test_an_empty_fetch_of_a_loinc_code_does_not_call_it_unknown(imported: Any) -> None:
    fx, client, _, _ = imported
    with pytest.warns(jhe.EmptyResultWarning) as caught:
        empty = client.fetch(patient_id=fx.directory["visible_patient_ids"][0], code="2093-3", source="imported", progress=False)
    assert empty.total == 0
    assert "not in jhe's catalogue" not in str(caught[0].message)


def test_deidentified_imported_rows_keep_no_ehr_id_nor_which_source(imported: Any) -> None:
    fx, client, records, _ = imported
    private = jhe.Deidentification("a key of at least sixteen bytes")
    rows = client.fetch_dataframe(study_id=fx.main_study_id, code="4548-4", source="imported", deidentify=private, progress=False)
    ids = {r["id"] for r in records}
    assert len(rows) == sum(loinc(r) == "4548-4" for r in records)
    assert not ids & set(rows["resource_id"]) and rows["resource_id"].str.fullmatch("[0-9a-f]{32}").all()
    assert set(rows["source"]) == {"https://jupyterhealth.org/fhir/fhir-source/"}
    assert "patient_id" not in rows.columns


def test_columns_selects_among_the_clinical_and_origin_columns(imported: Any) -> None:
    fx, client, records, _ = imported
    picked = client.fetch_dataframe(study_id=fx.main_study_id, code="4548-4", source="imported", columns=["hba1c_percent", "source"], progress=False)
    assert list(picked.columns) == ["source", "hba1c_percent"], "in table order"
    assert sorted(picked["hba1c_percent"]) == sorted(r["valueQuantity"]["value"] for r in records if loinc(r) == "4548-4")
    with pytest.raises(jhe.ConfigurationError, match="not a column"):
        client.fetch(study_id=fx.main_study_id, code="4548-4", source="imported", columns=["glucose_mg_dl"])


def test_a_mirror_of_imported_records_is_refused_before_anything_is_written(imported: Any, tmp_path: Any) -> None:
    fx, client, _, _ = imported
    with pytest.raises(jhe.ConfigurationError, match="imported record carries no lastUpdated"):
        client.sync(tmp_path / "mirror", study_id=fx.main_study_id, source="imported")
    assert not (tmp_path / "mirror").exists()
    with pytest.raises(jhe.ConfigurationError, match="imported record carries no lastUpdated"):
        client.watch(study_id=fx.main_study_id, source="imported", cursor=None, interval=0.01).__next__()
