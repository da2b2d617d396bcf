"""jhe.dask.read_observations on a two-process LocalCluster against the fake Exchange: the
same rows as one fetch, whatever the partitions, the workers or the server's faults."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.dask.conftest import same_rows
from tests.helpers import GLUCOSE

import jhe.dask  # noqa: E402  (after the importorskip of conftest)


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=8, days=3, seed=5) as exchange:
        yield exchange


def credentials(fx: FakeExchange) -> jhe.dask.Credentials:
    return jhe.dask.Credentials(fx.token)


def single(fx: FakeExchange, **query: Any) -> Any:
    return jhe.Client(fx.url, fx.token).fetch_dataframe(progress=False, **query)


def test_one_code_equals_the_single_fetch(cluster: Any, fx: FakeExchange) -> None:
    ddf = jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=credentials(fx), target_rows=300)
    assert ddf.npartitions > 2
    same_rows(ddf, single(fx, study_id=fx.main_study_id, code=GLUCOSE), ["observation_id"])


def test_every_code_equals_the_single_fetch(cluster: Any, fx: FakeExchange) -> None:
    ddf = jhe.dask.read_observations(fx.main_study_id, url=fx.url, credentials=credentials(fx), target_rows=2_000)
    assert ddf.npartitions > 1
    same_rows(ddf, single(fx, study_id=fx.main_study_id), ["observation_id", "measure"])


@pytest.mark.parametrize("partition_by", ["month", "week"])
def test_time_windows_equal_the_single_fetch(cluster: Any, fx: FakeExchange, partition_by: str) -> None:
    window = {"since": "2025-06-01", "until": "2026-06-01"}
    ddf = jhe.dask.read_observations(
        fx.main_study_id, GLUCOSE, url=fx.url, credentials=credentials(fx), partition_by=partition_by, target_rows=1, **window
    )
    same_rows(ddf, single(fx, study_id=fx.main_study_id, code=GLUCOSE, **window), ["observation_id"])


def test_the_graph_never_holds_the_token(cluster: Any, fx: FakeExchange) -> None:
    import cloudpickle

    ddf = jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=credentials(fx), target_rows=300)
    graph = dict(ddf.__dask_graph__())
    pickled = cloudpickle.dumps(graph)
    assert fx.token.encode() not in pickled
    assert fx.url.encode() in pickled  # the graph was pickled whole: the URL is in it
    assert fx.token not in repr(graph) and fx.token not in repr(ddf) and fx.token not in repr(credentials(fx))
    assert ddf.compute().shape[0] > 0


def test_credentials_are_not_picklable_and_text_is_refused(fx: FakeExchange) -> None:
    import pickle

    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(credentials(fx))
    with pytest.raises(jhe.ArgumentError, match="task graph"):
        jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=fx.token)  # type: ignore[arg-type]


@pytest.mark.parametrize(("concurrency", "target_rows"), [(3, 100), (4, 400)])
def test_the_cluster_keeps_to_one_budget(cluster: Any, concurrency: int, target_rows: int) -> None:
    with FakeExchange(patients=8, days=3, seed=5, latency_ms=40) as slow:
        ddf = jhe.dask.read_observations(
            slow.main_study_id, GLUCOSE, url=slow.url, credentials=jhe.dask.Credentials(slow.token),
            target_rows=target_rows, concurrency=concurrency, client_options={"page_size": 50},
        )
        expected = single(slow, study_id=slow.main_study_id, code=GLUCOSE)
        slow.reset_max_in_flight()
        same_rows(ddf, expected, ["observation_id"])
        # Four worker threads, each task fetching its patients on threads of its own: without
        # the one budget (a semaphore per process, say), far more than `concurrency`.
        assert 2 <= slow.max_in_flight <= concurrency


def test_503_and_429_leave_the_result_exact(cluster: Any) -> None:
    with FakeExchange(patients=8, days=3, seed=5, error_rate=0.15, rate_limit_every=7, retry_after_s=0) as flaky:
        ddf = jhe.dask.read_observations(
            flaky.main_study_id, GLUCOSE, url=flaky.url, credentials=jhe.dask.Credentials(flaky.token),
            target_rows=300, client_options={"page_size": 100, "retries": 20},
        )
        expected = jhe.Client(flaky.url, flaky.token, retries=20).fetch_dataframe(study_id=flaky.main_study_id, code=GLUCOSE, progress=False)
        same_rows(ddf, expected, ["observation_id"])
        statuses = {request["status"] for request in flaky.requests()}
        assert {429, 503} <= statuses


def test_a_worker_killed_mid_fetch_has_its_partitions_run_again(cluster: Any) -> None:
    with FakeExchange(patients=8, days=3, seed=5, latency_ms=150) as slow:
        ddf = jhe.dask.read_observations(
            slow.main_study_id, GLUCOSE, url=slow.url, credentials=jhe.dask.Credentials(slow.token),
            target_rows=200, client_options={"page_size": 40},
        )
        expected = single(slow, study_id=slow.main_study_id, code=GLUCOSE)
        slow.clear_requests()
        future = cluster.compute(ddf)
        # Kill a worker once it is fetching: the fake has seen its requests.
        deadline = time.monotonic() + 60
        while not slow.requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = [address for address, tasks in cluster.processing().items() if tasks]
        assert busy, "no worker was running a task"
        pid = cluster.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        computed = future.result(timeout=300)
        same_rows(computed, expected, ["observation_id"])
        # The killed worker's partition was read again from its first page.
        first_pages = Counter(r["query"] for r in slow.requests() if "_count=40" in r["query"] and "_page=" not in r["query"])
        assert max(first_pages.values()) >= 2, first_pages


def test_damaged_records_are_kept_and_reported(cluster: Any) -> None:
    with FakeExchange(patients=4, days=2, seed=5, damaged_every=40) as damaged:
        ddf = jhe.dask.read_observations(
            damaged.main_study_id, GLUCOSE, url=damaged.url, credentials=jhe.dask.Credentials(damaged.token), target_rows=200
        )
        with pytest.warns(jhe.DecodeWarning, match="could not be fully decoded"):
            computed = ddf.compute()
        with pytest.warns(jhe.DecodeWarning):
            expected = single(damaged, study_id=damaged.main_study_id, code=GLUCOSE)
        assert len(computed) == len(expected)
        strict = jhe.dask.read_observations(
            damaged.main_study_id, GLUCOSE, url=damaged.url, credentials=jhe.dask.Credentials(damaged.token), strict=True
        )
        with pytest.raises(jhe.DecodeError):
            strict.compute()


def test_an_older_exchange_is_partitioned_by_patient_and_says_so(cluster: Any) -> None:
    with FakeExchange(patients=4, days=2, seed=5, legacy=True) as legacy:
        with pytest.warns(UserWarning, match="ignores date filters: partitioned by patient"):
            ddf = jhe.dask.read_observations(
                legacy.main_study_id, GLUCOSE, url=legacy.url, credentials=jhe.dask.Credentials(legacy.token), partition_by="month"
            )
        same_rows(ddf, single(legacy, study_id=legacy.main_study_id, code=GLUCOSE), ["observation_id"])


def test_wrong_arguments_are_refused_before_any_task(fx: FakeExchange) -> None:
    token = credentials(fx)
    with pytest.raises(jhe.ConfigurationError, match="exactly one code"):
        jhe.dask.read_observations(fx.main_study_id, layout="wide", url=fx.url, credentials=token)
    with pytest.raises(jhe.ConfigurationError, match="partition_by"):
        jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=token, partition_by="page")
    with pytest.raises(jhe.ArgumentError, match="colour"):
        jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=token, colour="red")  # type: ignore[call-arg]
    with pytest.raises(jhe.ArgumentError, match="client_options cannot set 'concurrency'"):
        jhe.dask.read_observations(fx.main_study_id, GLUCOSE, url=fx.url, credentials=token, client_options={"concurrency": 9})
