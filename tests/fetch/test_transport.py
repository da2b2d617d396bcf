"""The HTTP transport: an unreachable server, gzip-compressed responses."""

from __future__ import annotations

import gzip
import urllib.request

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import observation_ids


def test_unreachable_server_is_a_transport_error() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        url, token = fx.url, fx.token
    with pytest.raises(jhe.TransportError) as caught:
        jhe.Client(url, token, retries=1, timeout=5).fetch_dataframe(study_id=30001)
    assert caught.value.url is not None and caught.value.url.startswith(url)


def test_gzip_responses_are_decoded() -> None:
    with FakeExchange(patients=3, days=2, gzip=True) as fx:
        request = urllib.request.Request(
            f"{fx.url}/api/v1/observations?page_size=50",
            headers={"Authorization": f"Bearer {fx.token}", "Accept-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()).startswith(b"{")
        df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)
        assert observation_ids(df) == [row["id"] for row in fx.expected_observations(study_id=fx.main_study_id)]
