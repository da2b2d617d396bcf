"""What each fetch method's result types as: one table (one code, or the long layout, the
default for none or several codes) is a frame, the wide layout without a code a dict of
frames keyed by code, and a call that cannot tell is either. Checked with `mypy --strict`
(tests/test_typing.py runs it); tests/test_arguments.py checks the same at run time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

import pandas as pd
import polars as pl

import jhe

GLUCOSE = "omh:blood-glucose:4.0"
Frames = dict[str, pd.DataFrame]


def one_table(client: jhe.Client, codes: list[str]) -> None:
    assert_type(client.fetch_dataframe(code=GLUCOSE), pd.DataFrame)
    assert_type(client.fetch_dataframe(30001, code=GLUCOSE, layout="wide", strict=True), pd.DataFrame)
    assert_type(client.fetch_dataframe(30001, None, GLUCOSE), pd.DataFrame)
    assert_type(client.fetch_dataframe(study_id=30001, code=codes, since="2025-06-01"), pd.DataFrame)
    assert_type(client.fetch_dataframe(code=codes, layout="long", progress=False), pd.DataFrame)
    assert_type(client.fetch_dataframe(), pd.DataFrame)
    assert_type(client.fetch_polars(code=GLUCOSE, layout="wide"), pl.DataFrame)
    assert_type(jhe.fetch_dataframe(study_id=30001, code=GLUCOSE), pd.DataFrame)
    assert_type(client.fetch(code=codes, layout="wide"), jhe.Observations)


def table_per_code(client: jhe.Client) -> None:
    assert_type(client.fetch_dataframe(study_id=30001, layout="wide"), Frames)
    assert_type(client.fetch_polars(30001, layout="wide", api="fhir"), dict[str, pl.DataFrame])


def either(client: jhe.Client, codes: Sequence[str], code: str | list[str], filters: jhe.Filters) -> None:
    assert_type(client.fetch_dataframe(code=codes, layout="wide"), pd.DataFrame | Frames)
    assert_type(client.fetch_dataframe(code=code, layout="wide"), pd.DataFrame | Frames)
    assert_type(client.fetch_dataframe(study_id=30001, **filters), pd.DataFrame | Frames)


async def awaited(client: jhe.Client) -> None:
    assert_type(await client.fetch_dataframe_async(code=GLUCOSE), pd.DataFrame)
    assert_type(await client.fetch_dataframe_async(study_id=30001, layout="wide"), Frames)
    assert_type(await client.fetch_polars_async(code=[GLUCOSE], layout="long", strict=True), pl.DataFrame)
    assert_type(await client.fetch_async(study_id=30001), jhe.Observations)


def refused(client: jhe.Client) -> None:
    client.fetch_dataframe(colour="red")  # type: ignore[call-overload]
    client.fetch_dataframe(code=GLUCOSE, layout="tall")  # type: ignore[call-overload]
    client.fetch_dataframe_async(code=GLUCOSE, progress=True)  # type: ignore[call-overload]
    client.fetch(extras=True)  # type: ignore[call-arg]
    jhe.Client("https://jhe.example.org", colour="red")  # type: ignore[call-arg]
    jhe.Client("https://jhe.example.org", timeout="60")  # type: ignore[arg-type]
