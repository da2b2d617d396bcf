"""``source=``: the Exchange's own records, those imported from EHRs (all, or one FHIR
source's), or both; refused where the server cannot tell them apart."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE

BASE = "https://jupyterhealth.org/fhir/fhir-source/"


def observation_searches(fx: FakeExchange) -> list[dict[str, list[str]]]:
    """The query of each Observation search's first page the fake answered (not its later
    pages, its counts, or the one-row look a result with no rows takes to say why)."""
    searches = []
    for request in fx.requests():
        if request["path"].endswith("/Observation"):
            query = parse_qs(request["query"])
            if "_page" not in query and query.get("_count") == ["1000"]:
                searches.append(query)
    return searches


@pytest.mark.parametrize(
    ("source", "parameters"),
    [
        ("imported", [{"_source:below": [BASE]}]),
        (5, [{"_source": [f"{BASE}5"]}]),
        ("5", [{"_source": [f"{BASE}5"]}]),
        (f"{BASE}5", [{"_source": [f"{BASE}5"]}]),
        ("all", [{}, {"_source:below": [BASE]}]),
        (None, [{}]),
        ("https://jupyterhealth.org/jhe", [{}]),
    ],
)
@pytest.mark.filterwarnings("ignore::jhe.EmptyResultWarning")
def test_each_form_of_source_selects_its_store(source: object, parameters: list[dict[str, list[str]]]) -> None:
    with FakeExchange(patients=2, days=2, seed=3) as fx:
        client = jhe.Client(fx.url, fx.token)
        client.fetch(patient_id=fx.directory["visible_patient_ids"][0], code=GLUCOSE, source=source, progress=False)  # type: ignore[arg-type]
        sent = [
            {name: values for name, values in search.items() if name.startswith("_source")}
            for search in observation_searches(fx)
        ]
        assert sent == parameters


@pytest.mark.parametrize("bad", ["", "Imported", "0", "-2", "https://example.org/fhir/5", f"{BASE}x"])
def test_a_source_that_is_none_of_its_forms_is_refused(fx: FakeExchange, bad: str) -> None:
    with pytest.raises(jhe.ConfigurationError, match="source must be"):
        jhe.Client(fx.url, fx.token).fetch(study_id=fx.main_study_id, code=GLUCOSE, source=bad)


@pytest.mark.parametrize("bad", [1.5, True, ["imported"]])
def test_a_source_of_another_type_is_refused(fx: FakeExchange, bad: object) -> None:
    with pytest.raises(jhe.ArgumentError, match="source must be a str, an int or None"):
        jhe.Client(fx.url, fx.token).fetch(study_id=fx.main_study_id, code=GLUCOSE, source=bad)  # type: ignore[arg-type]


def test_the_rest_api_cannot_select_imported_records(fx: FakeExchange) -> None:
    with pytest.raises(jhe.ConfigurationError, match="REST API cannot filter by source"):
        jhe.Client(fx.url, fx.token).fetch(study_id=fx.main_study_id, source="imported", api="rest")


@pytest.mark.parametrize("legacy", [True, "guide"])
def test_an_older_exchange_is_refused_before_any_search(legacy: object) -> None:
    with FakeExchange(patients=2, days=2, seed=3, legacy=legacy) as old:
        client = jhe.Client(old.url, old.token)
        with pytest.raises(jhe.ConfigurationError, match="does not list _source"):
            client.fetch(study_id=old.main_study_id, code=GLUCOSE, source="imported")
        assert not any("_source" in request["query"] for request in old.requests())


def test_an_exchange_whose_capabilities_lack_source_is_refused() -> None:
    """Such a server ignores ``_source`` and answers with its own records as if imported."""
    with FakeExchange(patients=2, days=2, seed=3, source_search=False) as fx:
        client = jhe.Client(fx.url, fx.token)
        for source in ("imported", "all", 90001):
            with pytest.raises(jhe.ConfigurationError, match="does not list _source"):
                client.fetch(study_id=fx.main_study_id, source=source)
        assert not any("_source" in request["query"] for request in fx.requests())
        # Its own records are read as ever.
        assert client.fetch(study_id=fx.main_study_id, code=GLUCOSE, progress=False).total > 0


def test_the_server_counts_the_records_each_source_selects() -> None:
    with FakeExchange(patients=3, days=2, seed=3) as fx:
        native = jhe.Client(fx.url, fx.token)._native
        study, patient = fx.main_study_id, fx.directory["visible_patient_ids"][1]
        source_id = next(source for source, owner in fx.fhir_sources().items() if owner == patient)
        enrolled = fx.directory["patients_by_study"][study]
        imported = sum(len(fx.expected_imported("Observation", patient_id=p)) for p in enrolled)
        own = native.count(study_id=study)[0]
        assert imported > 0 and own > 0
        assert native.count(study_id=study, source="imported") == (imported, True)
        assert native.count(study_id=study, source="all") == (own + imported, True)
        one = len(fx.expected_imported("Observation", source_id=source_id))
        assert 0 < one < imported
        assert native.count(study_id=study, source=source_id) == (one, True)
        assert native.count(study_id=study, source=f"{BASE}{source_id}") == (one, True)
