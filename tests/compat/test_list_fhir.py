"""compat's ``list_fhir`` (jhe's engine reading every page concurrently) returns what the
official client 0.5's returns: each resource, newest first, for every form of
``fhir_source``."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

BASE = "https://jupyterhealth.org/fhir/fhir-source/"


def calls(fake: FakeExchange) -> list[tuple[str, dict[str, Any]]]:
    patient = fake.directory["visible_patient_ids"][1]
    source = str(next(s for s, owner in fake.fhir_sources().items() if owner == patient))
    study = fake.main_study_id
    return [
        ("Observation", {"patient_id": patient, "fhir_source": "imported"}),
        ("Observation", {"study_id": study, "fhir_source": "imported"}),
        ("Observation", {"patient_id": patient, "fhir_source": source}),
        ("Observation", {"patient_id": patient, "fhir_source": f"{BASE}{source}"}),
        ("Observation", {"patient_id": patient, "fhir_source": "imported", "params": {"code": "http://loinc.org|4548-4"}}),
        ("Observation", {"patient_id": patient}),
        ("Condition", {"study_id": study}),
        ("Condition", {"study_id": study, "fhir_source": "imported"}),
        ("MedicationRequest", {"patient_id": patient, "fhir_source": "imported"}),
        ("Encounter", {"study_id": study, "fhir_source": "imported", "limit": 3}),
    ]


def test_list_fhir_matches_official(clients: tuple[Any, Any], fake: FakeExchange) -> None:
    theirs, ours = clients
    for resource_type, kwargs in calls(fake):
        want = theirs.list_fhir(resource_type, **kwargs)
        got = ours.list_fhir(resource_type, **kwargs)
        assert inspect.isgenerator(got)
        want, got = list(want), list(got)
        assert want, f"the fake has {resource_type} for {kwargs}"
        assert got == want, (resource_type, kwargs)


def test_list_fhir_resource_types_matches_official(clients: tuple[Any, Any]) -> None:
    theirs, ours = clients
    assert ours.list_fhir_resource_types() == sorted(theirs.list_fhir_resource_types())


def test_list_fhir_refuses_what_the_server_cannot_answer(clients: tuple[Any, Any]) -> None:
    _, ours = clients
    with pytest.raises(jhe.ConfigurationError, match="does not serve \"Specimen\".*Condition"):
        list(ours.list_fhir("Specimen", study_id=30001))
    with pytest.raises(jhe.ConfigurationError, match="source must be"):
        list(ours.list_fhir("Condition", study_id=30001, fhir_source="https://elsewhere.example/fhir"))
    with pytest.raises(jhe.ConfigurationError, match="reads every page"):
        list(ours.list_fhir("Condition", study_id=30001, params={"_page": 2}))


def test_list_fhir_with_source_on_a_server_without_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from jhe import compat

    with FakeExchange(patients=2, days=1, seed=3, source_search=False) as old:
        monkeypatch.setenv("JHE_URL", old.url)
        monkeypatch.setenv("JHE_TOKEN", old.token)
        with pytest.raises(jhe.ConfigurationError, match="does not list _source"):
            list(compat.JupyterHealthClient().list_fhir("Observation", patient_id=40001, fhir_source="imported"))
