"""No secret shows in a repr, an error or the fake Exchange's request log."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange


def test_no_secret_in_reprs_or_errors() -> None:
    with FakeExchange(patients=1, days=1) as fx:
        for client in [
            jhe.Client(fx.url, fx.token),
            jhe.Client(fx.url, client_key=fx.client_key),
            jhe.Client(fx.url, client_id=fx.client_id, client_secret=fx.client_secret),
            jhe.Client(fx.url, refresh_token=fx.refresh_token),
        ]:
            for text in [repr(client), repr(client._native), str(vars(client))]:
                for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
                    assert secret not in text
        with pytest.raises(jhe.AuthenticationError) as caught:
            jhe.Client(fx.url, client_id=fx.client_id, client_secret="not-" + fx.client_secret).profile()
        assert fx.client_secret not in str(caught.value)
        for secret in [fx.token, fx.client_secret, fx.client_key, fx.refresh_token]:
            assert secret not in repr(fx)
        assert all(fx.token not in str(r) for r in fx.requests())
