"""``Client.fetch_resources``: any FHIR type a search matches, one flattened Arrow table,
each resource once, tied to the Exchange's patient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import jhe
from jhe.testing import FakeExchange

pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def ehr() -> Iterator[FakeExchange]:
    with FakeExchange(patients=5, days=2, seed=8) as exchange:
        yield exchange


def enrolled_resources(fx: FakeExchange, resource_type: str) -> list[dict[str, object]]:
    patients = fx.directory["patients_by_study"][fx.main_study_id]
    return [json.loads(text) for patient in patients for text in fx.expected_imported(resource_type, patient_id=patient)]


@pytest.mark.parametrize("resource_type", ["Condition", "MedicationRequest", "Encounter", "Observation"])
def test_a_studys_resources_are_each_a_row(ehr: FakeExchange, resource_type: str) -> None:
    client = jhe.Client(ehr.url, ehr.token, page_size=7)
    table = client.fetch_resources(resource_type, study_id=ehr.main_study_id, source="imported")
    expected = enrolled_resources(ehr, resource_type)
    assert len(expected) > 7, "several pages"
    assert isinstance(table, pa.Table)
    assert sorted(table.column("id").to_pylist()) == sorted(str(r["id"]) for r in expected)
    owners = ehr.fhir_sources()
    by_id = {str(r["id"]): r for r in expected}
    for row in table.select(["id", "patient_id", "source"]).to_pylist():
        source_id = int(str(by_id[row["id"]]["meta"]["source"]).rsplit("/", 1)[1])  # type: ignore[index]
        assert row["patient_id"] == owners[source_id], "the Exchange's patient, not the EHR's"
        assert row["source"] == f"https://jupyterhealth.org/fhir/fhir-source/{source_id}"
    assert set(table.column("subject.reference_type").to_pylist()) == {"Patient"}
    assert table.column("resourceType").to_pylist() == [resource_type] * len(expected)


def test_a_crowded_server_is_read_at_its_pace() -> None:
    # Eight pages retrying at once against a server serving two would fail within three
    # retries; backing off as the 429s arrive lets them through.
    with FakeExchange(patients=5, days=2, seed=8, latency_ms=20, rate_limit_above=2, retry_after_s=0) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=3, concurrency=8, retries=3)
        table = client.fetch_resources("Observation", study_id=fx.main_study_id, source="imported")
        throttled = [r for r in fx.requests() if r["status"] == 429]
        expected = enrolled_resources(fx, "Observation")
    assert len(expected) > 3 * 8, "more pages than in flight at the start"
    assert sorted(table.column("id").to_pylist()) == sorted(str(r["id"]) for r in expected)
    assert throttled


def test_key_paths_are_columns_typed_by_their_values(ehr: FakeExchange) -> None:
    client = jhe.Client(ehr.url, ehr.token)
    conditions = client.fetch_resources("Condition", patient_id=ehr.directory["visible_patient_ids"][0])
    assert conditions.num_rows == len(ehr.expected_imported("Condition", patient_id=ehr.directory["visible_patient_ids"][0]))
    codes = set(conditions.column("code.coding[0].system").to_pylist())
    assert codes == {"http://snomed.info/sct"}
    medications = client.fetch_resources("MedicationRequest", study_id=ehr.main_study_id, source="imported")
    assert "medication.concept.coding[0].code" in medications.column_names
    observations = client.fetch_resources("Observation", study_id=ehr.main_study_id, source="imported")
    values = observations.column("valueQuantity.value")
    assert pa.types.is_floating(values.type) and values.null_count < len(values)
    assert pa.types.is_timestamp(observations.schema.field("last_updated").type)


def test_what_the_server_cannot_answer_is_refused(ehr: FakeExchange) -> None:
    client = jhe.Client(ehr.url, ehr.token)
    with pytest.raises(jhe.ConfigurationError, match='does not serve "Specimen".*Condition'):
        client.fetch_resources("Specimen", study_id=ehr.main_study_id)
    with pytest.raises(jhe.ConfigurationError, match="does not serve \"../o/token\""):
        client.fetch_resources("../o/token")
    with pytest.raises(jhe.ConfigurationError, match="source must be"):
        client.fetch_resources("Condition", source="elsewhere")
    with FakeExchange(patients=2, days=1, seed=8, source_search=False) as old:
        with pytest.raises(jhe.ConfigurationError, match="does not list _source among Condition"):
            jhe.Client(old.url, old.token).fetch_resources("Condition", source="imported")


def test_each_fetch_of_resources_is_audited(ehr: FakeExchange, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    table = jhe.Client(ehr.url, ehr.token, audit_log=log).fetch_resources("Condition", study_id=ehr.main_study_id)
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["action"] == "fetch_resources" and line["rows"] == table.num_rows > 0
