"""The fake Exchange refuses bad arguments, naming them."""

from __future__ import annotations

from typing import Any

import pytest

from jhe.testing import FakeExchange


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"legacy": "nope"}, "legacy"),
        ({"legacy": 1}, "legacy"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"drop_connection_rate": 2}, "drop_connection_rate"),
        ({"error_status": 200}, "error_status"),
        ({"error_status": 700}, "error_status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"rate_limit_every": -2}, "rate_limit_every"),
        ({"retry_after_s": -1}, "retry_after_s"),
        ({"token_ttl_s": 0}, "token_ttl_s"),
        ({"token_ttl_s": -5.0}, "token_ttl_s"),
        ({"insert_during_fetch": -1}, "insert_during_fetch"),
        ({"damaged_every": 1}, "damaged_every"),
        ({"damaged_every": -3}, "damaged_every"),
        ({"duplicate_uuid_every": 1}, "duplicate_uuid_every"),
        ({"duplicate_uuid_every": -1}, "duplicate_uuid_every"),
    ],
)
def test_bad_arguments_name_themselves(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        FakeExchange(patients=1, days=1, **kwargs)
