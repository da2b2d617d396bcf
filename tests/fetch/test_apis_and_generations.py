"""A whole study through the FHIR and the REST API, from every server generation."""

from __future__ import annotations

import pandas as pd
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import HEART_RATE, expected_ids, observation_ids


@pytest.mark.parametrize("api", ["fhir", "rest", "auto"])
def test_a_whole_study_through_either_api_and_generation(any_fx: FakeExchange, api: str) -> None:
    client = jhe.Client(any_fx.url, any_fx.token, page_size=300)
    df = client.fetch_dataframe(study_id=any_fx.main_study_id, api=api)  # type: ignore[arg-type]
    expected = any_fx.expected_observations(study_id=any_fx.main_study_id)
    assert len(expected) > 3 * 300
    assert observation_ids(df) == expected_ids(expected)
    assert df.attrs["jhe_errors"] == []
    assert df.attrs["jhe_source"]["api"] == ("rest" if api == "rest" else "fhir")
    legacy = any_fx.generation_param is not False  # type: ignore[attr-defined]
    assert df.attrs["jhe_source"]["generation"] == ("legacy" if legacy else "current")


def test_values_are_the_same_through_both_apis(any_fx: FakeExchange) -> None:
    client = jhe.Client(any_fx.url, any_fx.token)
    fhir = client.fetch_dataframe(study_id=any_fx.main_study_id, api="fhir")
    rest = client.fetch_dataframe(study_id=any_fx.main_study_id, api="rest")
    # REST also names the patient; otherwise the same rows and values (categorical columns
    # may list their categories in another order)
    assert rest["patient_name"].notna().all()
    rest = rest.drop(columns=[c for c in ("patient_name", "data_source") if c in rest.columns])
    pd.testing.assert_frame_equal(fhir, rest, check_categorical=False)


def test_older_servers_need_a_filter_and_refuse_organizations() -> None:
    with FakeExchange(patients=2, days=1, legacy=True) as fx:
        client = jhe.Client(fx.url, fx.token)
        with pytest.raises(jhe.ConfigurationError, match="study_id, patient_id or patient_identifier"):
            client.fetch_dataframe(code=HEART_RATE)
        with pytest.raises(jhe.ConfigurationError, match="organization"):
            client.fetch_dataframe(organization_id=20001, code=HEART_RATE)
        # without a code, "auto" turns to the REST API, which answers both
        by_organization = client.fetch_dataframe(organization_id=20001)
        assert by_organization.attrs["jhe_source"]["api"] == "rest"
        assert len(by_organization) > 0
        everything = client.fetch_dataframe()
        assert observation_ids(everything) == [row["id"] for row in fx.expected_observations()]
