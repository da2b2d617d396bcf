"""A two-process Dask cluster shared by the Dask tests, and the comparison they make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """``LocalCluster(n_workers=2, processes=True)``, and a client connected to it. Leases of
    a killed worker come back after 5 s instead of 30."""
    settings = {
        "distributed.scheduler.locks.lease-timeout": "5s",
        "distributed.scheduler.locks.lease-validation-interval": "1s",
    }
    with dask.config.set(settings):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1"
        ) as local, distributed.Client(local) as client:
            yield client


def same_rows(result: Any, single: Any, key: list[str]) -> None:
    """The Dask result (a Dask frame, or one computed) holds exactly the single fetch's rows,
    values and dtypes."""
    import pandas as pd

    if not isinstance(result, pd.DataFrame):
        # The frame's meta: the columns it promises before anything is fetched.
        assert list(result.columns) == list(single.columns)
    computed = result if isinstance(result, pd.DataFrame) else result.compute()
    assert list(computed.columns) == list(single.columns)
    assert len(computed) == len(single) and len(single) > 0
    # By value: a categorical sorts by its categories' order, which differs.
    def by_value(column: Any) -> Any:
        return column.astype(str) if isinstance(column.dtype, pd.CategoricalDtype) else column

    ordered = computed.sort_values(key, key=by_value).reset_index(drop=True)
    expected = single.sort_values(key, key=by_value).reset_index(drop=True)
    for name in single.columns:
        got, want = ordered[name], expected[name]
        if isinstance(want.dtype, pd.CategoricalDtype):
            # Categories are those found, in each partition's order; the values are what count.
            assert isinstance(got.dtype, pd.CategoricalDtype), name
            assert set(got.cat.categories) == set(want.cat.categories), name
            got, want = got.astype(object), want.astype(object)
        else:
            assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        pd.testing.assert_series_equal(got, want, check_names=True, obj=name)
