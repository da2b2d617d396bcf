"""The listing calls: patients, studies, organizations, a patient, consents, the profile."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange


def test_listing_calls(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    patients = client.list_patients(study_id=fx.main_study_id)
    assert sorted(patients["id"]) == sorted(fx.directory["patients_by_study"][fx.main_study_id])
    studies = client.list_studies()
    assert set(studies["id"]) == set(fx.directory["visible_study_ids"])
    assert set(studies["organizationId"]) <= set(fx.directory["organization_ids"])
    organizations = client.list_organizations()
    assert set(fx.directory["member_organization_ids"]) <= set(organizations["id"])
    patient = client.get_patient(int(patients["id"].iloc[0]))
    assert patient["id"] == patients["id"].iloc[0]
    consents = client.get_consents(patient["id"])
    assert consents["patient"]["id"] == patient["id"]
    assert client.profile()["id"] == fx.directory["user_id"]
    with pytest.raises(jhe.NotFound):
        client.get_patient(1)
    with pytest.raises(jhe.PermissionDenied):
        client._get(f"studies/{fx.hidden_study_id}")
