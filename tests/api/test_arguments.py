"""A fetch's and a client's arguments: read once, in Rust, each checked as it is read; the
fetch methods share one signature, and their results are what their types promise."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, HEART_RATE, STEPS, query_of



@pytest.fixture(scope="module")
def small() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=3) as exchange:
        yield exchange


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"colour": "red"}, '"colour"'),
        ({"codes": [GLUCOSE]}, '"codes"'),  # the native spelling is not a filter
        ({"extras": True}, '"extras"'),  # once a hidden keyword, now unknown everywhere
        ({"study_id": "30001"}, "study_id must be an int, not str"),
        ({"organization_id": 1.5}, "organization_id must be an int, not float"),
        ({"since": 20250601}, "since must be a str, datetime or date, not int"),
        ({"code": 5}, "code must be a str or a sequence of str, not int"),
        ({"code": [GLUCOSE, 5]}, "each code must be a str, not int"),
        ({"api": 1}, "api must be a str, not int"),
        ({"layout": ["wide"]}, "layout must be a str, not list"),
        ({"patient_identifier": "MRN-1"}, r"patient_identifier must be a \(system, value\) pair"),
    ],
)
def test_an_unknown_or_mistyped_argument_names_itself(
    small: FakeExchange, arguments: dict[str, Any], named: str
) -> None:
    client = jhe.Client(small.url, small.token)
    small.clear_requests()
    with pytest.raises(jhe.ArgumentError, match=named) as caught:
        client.fetch(**arguments)
    # both what Python raises for such an argument and what jhe raises for bad settings
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, jhe.ConfigurationError)
    assert (caught.value.status, caught.value.url, caught.value.diagnostics) == (None, None, None)
    with pytest.raises(jhe.ArgumentError, match=named):
        asyncio.run(client.fetch_dataframe_async(**arguments))
    assert small.requests() == [], "nothing was sent"


def test_a_refused_value_is_a_configuration_error_not_a_type_error(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    for arguments, named in [
        ({"study_id": 0}, "study_id must be a positive integer"),
        ({"layout": "tall"}, "layout must be"),
        ({"since": "2025-06-02", "until": "2025-06-01"}, "until must be later than since"),
        ({"patient_identifier": ("", "MRN-1")}, "patient_identifier must be"),
    ]:
        with pytest.raises(jhe.ConfigurationError, match=named) as caught:
            client.fetch(**arguments)
        assert not isinstance(caught.value, TypeError)


def test_the_client_arguments_name_themselves(small: FakeExchange) -> None:
    with pytest.raises(jhe.ArgumentError, match='unexpected keyword argument "colour"'):
        jhe.Client(small.url, small.token, colour="red")  # type: ignore[call-arg]
    with pytest.raises(jhe.ArgumentError, match="timeout must be a number of seconds, not str"):
        jhe.Client(small.url, small.token, timeout="60")  # type: ignore[arg-type]
    with pytest.raises(jhe.ArgumentError, match="allow_insecure must be a bool"):
        jhe.Client(small.url, small.token, allow_insecure="yes")  # type: ignore[arg-type]
    with pytest.raises(jhe.ConfigurationError, match="retries must be a non-negative integer, got -1"):
        jhe.Client(small.url, small.token, retries=-1)
    with pytest.raises(jhe.ConfigurationError, match="timeout must be a positive number"):
        jhe.Client(small.url, small.token, timeout=0)
    settings: jhe.ClientOptions = {"page_size": 7, "concurrency": 3, "retries": 0, "timeout": 5}
    client = jhe.Client(small.url, small.token, **settings)
    assert (client._native.page_size, client._native.concurrency) == (7, 3)


def test_every_form_of_a_time_bound_is_sent_the_same(small: FakeExchange) -> None:
    client = jhe.Client(small.url, small.token)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    for since in ["2025-06-01", dt.date(2025, 6, 1), dt.datetime(2025, 6, 1), dt.datetime(2025, 6, 1, 2, tzinfo=plus_two)]:
        small.clear_requests()
        client.fetch(study_id=small.main_study_id, code=GLUCOSE, since=since)
        sent = [query_of(r) for r in small.requests() if r["path"].endswith("/Observation")]
        assert sent and all("ge2025-06-01T00:00:00.000000Z" in q["date"] for q in sent), since


Convert = Callable[..., Any]
SYNC: list[tuple[str, type]] = [("fetch_dataframe", pd.DataFrame), ("fetch_arrow", pa.Table), ("fetch_polars", pl.DataFrame)]


def _call(client: jhe.Client, method: str, **arguments: Any) -> Any:
    result = getattr(client, method)(**arguments)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


@pytest.mark.parametrize("awaited", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("method", "frame"), SYNC, ids=[name for name, _ in SYNC])
def test_results_are_what_the_overloads_promise(small: FakeExchange, method: str, frame: type, awaited: bool) -> None:
    """tests/typing/result_types.py checks the same calls' types."""
    client, study = jhe.Client(small.url, small.token), small.main_study_id
    name = f"{method}_async" if awaited else method
    assert isinstance(_call(client, name, study_id=study, code=GLUCOSE), frame)
    assert isinstance(_call(client, name, study_id=study, code=GLUCOSE, layout="wide"), frame)
    assert isinstance(_call(client, name, study_id=study, code=[GLUCOSE, HEART_RATE]), frame)  # long
    assert isinstance(_call(client, name, study_id=study), frame)  # long
    per_code = _call(client, name, study_id=study, layout="wide")
    assert isinstance(per_code, dict) and per_code and all(isinstance(t, frame) for t in per_code.values())


def test_the_fetch_methods_share_fetch_signature_and_keep_their_docs() -> None:
    fetch, fetch_async = inspect.signature(jhe.Client.fetch), inspect.signature(jhe.Client.fetch_async)
    for method, like in [("fetch_dataframe", fetch), ("fetch_arrow", fetch), ("fetch_polars", fetch)]:
        for name, shared in [(method, like), (f"{method}_async", fetch_async)]:
            function = getattr(jhe.Client, name)
            assert inspect.signature(function).parameters == shared.parameters, name
            assert function.__name__ == name and function.__qualname__ == f"Client.{name}"
            assert inspect.iscoroutinefunction(function) == name.endswith("_async")
            assert function.__doc__ and ":meth:`fetch" in function.__doc__
    assert "glucose_mg_dl" in (jhe.Client.fetch_dataframe.__doc__ or "")
    environment = inspect.signature(jhe.fetch_dataframe).parameters
    assert list(environment) == list(inspect.signature(jhe.Client.fetch_dataframe).parameters)[1:]


def test_strict_raises_on_damaged_records_whatever_the_result_form() -> None:
    with FakeExchange(patients=4, days=3, seed=2, damaged_every=3) as fx:
        client = jhe.Client(fx.url, fx.token)
        for method in ["fetch", "fetch_dataframe", "fetch_arrow", "fetch_polars", "fetch_polars_async"]:
            with pytest.raises(jhe.DecodeError, match="could not be decoded"):
                _call(client, method, study_id=fx.main_study_id, code=STEPS, strict=True)
        kept = client.fetch(study_id=fx.main_study_id, code=STEPS)
        assert kept.errors, "without strict, damaged records are kept and listed"
