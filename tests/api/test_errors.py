"""Errors name what failed (status, URL, the server's diagnostics) and never the token."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE, http_get


def test_a_wrong_token_raises_authentication_error(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, "not-the-token")
    with pytest.raises(jhe.AuthenticationError) as caught:
        client.fetch_dataframe(study_id=fx.main_study_id, code=GLUCOSE)
    error = caught.value
    assert isinstance(error, jhe.JHEError)
    assert error.status == 401
    assert error.url is not None and error.url.startswith(fx.url)
    assert "not-the-token" not in str(error)


def test_the_hidden_study_is_403_and_named(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    with pytest.raises(jhe.PermissionDenied) as caught:
        client.fetch_dataframe(study_id=fx.hidden_study_id)
    error = caught.value
    assert error.status == 403
    assert f"Group/{fx.hidden_study_id}" in str(error)
    assert error.diagnostics is not None and f"Group/{fx.hidden_study_id}" in error.diagnostics
    assert "consent" in str(error)  # the guide's hint
    status, body = http_get(f"{fx.url}/api/v1/studies/{fx.hidden_study_id}", fx.token)
    assert status == 403 and "authorization" in body["detail"]
    # the REST API lists a hidden study's observations as empty: jhe asks for the study first
    status, body = http_get(f"{fx.url}/api/v1/observations?study_id={fx.hidden_study_id}", fx.token)
    assert status == 200 and body["count"] == 0
    with pytest.raises(jhe.PermissionDenied) as caught:
        client.fetch_dataframe(study_id=fx.hidden_study_id, api="rest")
    assert f"studies/{fx.hidden_study_id}" in str(caught.value)
