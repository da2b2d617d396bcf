"""The client's own methods (listings, lookups, exports) check their arguments as the fetch
does: an argument they do not take, or of the wrong type, is a jhe.ArgumentError naming it,
raised before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

CALLS: list[tuple[Callable[[jhe.Client], Any], str]] = [
    (lambda c: c.list_patients(study=30001), "unexpected keyword argument 'study'"),
    (lambda c: c.fetch_resources("Condition", study=30001), "unexpected keyword argument 'study'"),
    (lambda c: c.fetch_resources("Condition", study_id="abc"), "study_id must be an int, not str"),
    (lambda c: c.list_patients(study_id="abc"), "study_id must be an int, not str"),
    (lambda c: c.list_studies(organization_id=True), "organization_id must be an int, not bool"),
    (lambda c: c.list_organizations(1), "too many positional arguments"),
    (lambda c: c.get_patient("abc"), "patient_id must be an int, not str"),
    (lambda c: c.get_consents(2.5), "patient_id must be an int, not float"),
    (lambda c: c.profile(verbose=True), "unexpected keyword argument 'verbose'"),
    (lambda c: c.export_study("20001", 30001), "organization_id must be an int, not str"),
    (lambda c: c.export_csv("x.csv", 30001, None, None, None), "too many positional arguments"),
    (lambda c: c.fetch(study_id=True), "study_id must be an int, not bool"),
]


@pytest.mark.parametrize(("call", "named"), CALLS)
def test_a_methods_wrong_argument_is_an_argument_error(
    small_fx: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Callable[[jhe.Client], Any], named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    client = jhe.Client(small_fx.url, small_fx.token, retries=0)
    small_fx.clear_requests()
    with pytest.raises(jhe.ArgumentError, match=named) as caught:
        call(client)
    assert isinstance(caught.value, jhe.ConfigurationError) and isinstance(caught.value, TypeError)
    assert (caught.value.status, caught.value.url, caught.value.diagnostics) == (None, None, None)
    assert small_fx.requests() == [], "nothing was sent"
    assert list(tmp_path.iterdir()) == []


def test_an_id_out_of_range_is_a_configuration_error(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token)
    with pytest.raises(jhe.ConfigurationError, match="study_id must be a positive integer, got 0"):
        client.list_patients(study_id=0)
