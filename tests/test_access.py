"""Credentials, configuration and permission errors."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange

from conftest import http_get

GLUCOSE = "omh:blood-glucose:4.0"


def test_requests_without_a_valid_token_get_401(fx: FakeExchange) -> None:
    for path in ["/FHIR/R5/Observation", "/api/v1/observations", "/api/v1/users/profile"]:
        assert http_get(fx.url + path, None)[0] == 401
        assert http_get(fx.url + path, "not-the-token")[0] == 401
        assert http_get(fx.url + path, fx.token)[0] == 200


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


def test_environment_variables_are_the_fallback(fx: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JHE_URL", fx.url)
    monkeypatch.setenv("JHE_TOKEN", fx.token)
    client = jhe.Client()
    assert client.url == fx.url
    via_env = jhe.fetch_dataframe(study_id=fx.main_study_id, code="omh:blood-pressure:4.0")
    explicit = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, code="omh:blood-pressure:4.0")
    assert via_env["observation_id"].tolist() == explicit["observation_id"].tolist()
    # arguments win over the environment
    monkeypatch.setenv("JHE_TOKEN", "stale-token")
    assert len(jhe.Client(token=fx.token).fetch_dataframe(study_id=fx.main_study_id, code="omh:blood-pressure:4.0")) == len(explicit)
    with pytest.raises(jhe.AuthenticationError):
        jhe.Client().fetch_dataframe(study_id=fx.main_study_id)


def test_the_environment_is_read_when_the_client_is_made(fx: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JHE_URL", fx.url)
    monkeypatch.setenv("JHE_TOKEN", fx.token)
    client = jhe.Client()
    monkeypatch.delenv("JHE_TOKEN")
    assert len(client.fetch_dataframe(study_id=fx.main_study_id, code="omh:blood-pressure:4.0")) > 0


def test_missing_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JHE_URL", raising=False)
    monkeypatch.delenv("JHE_TOKEN", raising=False)
    with pytest.raises(jhe.ConfigurationError, match="JHE_URL.*JHE_TOKEN"):
        jhe.Client()
    with pytest.raises(jhe.ConfigurationError, match="JHE_TOKEN"):
        jhe.Client(url="https://jhe.example.org")
    with pytest.raises(jhe.ConfigurationError, match="JHE_URL"):
        jhe.Client(token="t")
    with pytest.raises(jhe.ConfigurationError, match="allow_insecure"):
        jhe.Client(url="http://jhe.example.org", token="t")
    with pytest.raises(jhe.ConfigurationError, match="not a valid URL"):
        jhe.Client(url="jhe.example.org", token="t")


def test_bad_arguments_are_named(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    with pytest.raises(jhe.ConfigurationError, match="study_id"):
        client.fetch_dataframe(study_id=0)
    with pytest.raises(jhe.ConfigurationError, match="not a data type code"):
        client.fetch_dataframe(code="blood glucose")
    with pytest.raises(jhe.ConfigurationError, match="page_size"):
        jhe.Client(fx.url, fx.token, page_size=5000)


def test_the_token_never_shows(fx: FakeExchange) -> None:
    client = jhe.Client(fx.url, fx.token)
    assert fx.token not in repr(client)
    assert fx.token not in repr(client._native)
    assert fx.token not in repr(fx)
