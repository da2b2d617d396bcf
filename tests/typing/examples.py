"""The README's examples, type-checked with `mypy --strict` (test_type_checking.py beside
this file runs it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pandas as pd

import jhe
from jhe.testing import FakeExchange


def headline_example() -> None:
    client = jhe.Client()  # JHE_URL and JHE_TOKEN, as JupyterHub sets them
    df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")
    print(df[["patient_id", "timestamp", "glucose_mg_dl", "meal_context"]].head())


def fetch_examples(client: jhe.Client, study_id: int) -> None:
    observations: jhe.Observations = client.fetch(study_id, code="omh:blood-glucose:4.0", since=dt.date(2025, 12, 20))
    glucose = observations.to_pandas()
    assert isinstance(glucose, pd.DataFrame)
    frames = client.fetch_dataframe(study_id=study_id, layout="wide", api="fhir", strict=True)
    if isinstance(frames, dict):
        for code, frame in frames.items():
            print(code, len(frame))
    tidy = client.fetch_dataframe(
        study_id=study_id,
        code=["omh:blood-pressure:4.0", "omh:heart-rate:2.0"],
        updated_since="2025-12-01T00:00:00Z",
        patient_identifier=("http://hospital.example/mrn", "MRN-1"),
        progress=False,
    )
    print(tidy)
    errors: list[dict[str, object]] = observations.errors
    print(errors, observations.summary(), observations.source["api"])


async def async_examples(client: jhe.Client, study_id: int) -> None:
    first, second = await asyncio.gather(
        client.fetch_dataframe_async(study_id=study_id, code="omh:blood-glucose:4.0"),
        client.fetch_polars_async(study_id=study_id, code="omh:heart-rate:2.0"),
    )
    print(first, second)


def export_examples(client: jhe.Client, study_id: int, organization_id: int) -> None:
    csv_path: Path = client.export_csv("blood_glucose.csv", study_id=study_id, preset="guide")
    parquet: Path = client.export_parquet("all", study_id=study_id, layout="long", partition_by=["code"])
    files: dict[str, Path] = client.export_study(organization_id, study_id, path="study", format="csv")
    print(csv_path, parquet, files)


def listing_examples(client: jhe.Client) -> None:
    patients: pd.DataFrame = client.list_patients(study_id=30001)
    studies: pd.DataFrame = client.list_studies()
    me: dict[str, object] = client.profile()
    print(patients, studies, me, client.get_patient(40001), client.get_consents(40001))


def auth_examples() -> list[jhe.Client]:
    return [
        jhe.Client(),
        jhe.Client("https://jhe.example.org", "token", timeout=30.0, retries=3, concurrency=4),
        jhe.Client("https://jhe.example.org", client_key="a2V5OnNlY3JldA=="),
        jhe.Client("https://jhe.example.org", client_id="id", client_secret="secret"),
        jhe.Client("https://jhe.example.org", refresh_token="refresh"),
    ]


def fake_exchange_example() -> None:
    with FakeExchange(patients=3, days=2, seed=0, error_rate=0.1, legacy=True) as fx:
        client = jhe.Client(fx.url, fx.token)
        fetch_examples(client, fx.main_study_id)
        rows: list[dict[str, object]] = fx.expected_observations(study_id=fx.main_study_id)
        print(rows, fx.requests(), fx.damaged())
    try:
        jhe.Client().fetch_dataframe()
    except jhe.PermissionDenied as error:
        print(error.status, error.url, error.diagnostics)
    except jhe.JHEError as error:
        print(error)
    catalog: list[dict[str, object]] = jhe.catalog()
    print(catalog)
