"""The client's configuration: arguments, the environment, and arguments refused by name."""

from __future__ import annotations

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE


def test_environment_variables_are_the_fallback(fx: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JHE_URL", fx.url)
    monkeypatch.setenv("JHE_TOKEN", fx.token)
    client = jhe.Client()
    assert client.url == fx.url
    via_env = jhe.fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)
    explicit = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)
    assert via_env["observation_id"].tolist() == explicit["observation_id"].tolist()
    # arguments win over the environment
    monkeypatch.setenv("JHE_TOKEN", "stale-token")
    assert len(jhe.Client(token=fx.token).fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)) == len(explicit)
    with pytest.raises(jhe.AuthenticationError):
        jhe.Client().fetch_dataframe(study_id=fx.main_study_id)


def test_the_environment_is_read_when_the_client_is_made(fx: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JHE_URL", fx.url)
    monkeypatch.setenv("JHE_TOKEN", fx.token)
    client = jhe.Client()
    monkeypatch.delenv("JHE_TOKEN")
    assert len(client.fetch_dataframe(study_id=fx.main_study_id, code=BLOOD_PRESSURE)) > 0


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


def test_unknown_filters_are_refused(small_fx: FakeExchange) -> None:
    with pytest.raises(TypeError, match="unexpected filter"):
        jhe.Client(small_fx.url, small_fx.token).fetch(study_id=small_fx.main_study_id, colour="red")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "setting, value",
    [
        ("timeout", 1e20),
        ("timeout", 1e300),
        ("timeout", 86_401),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", -1),
        ("timeout", 0),
        ("retries", 10**30),
        ("retries", -(10**30)),
        ("retries", 101),
        ("retries", -1),
        ("concurrency", 10**30),
        ("max_concurrency", 10**30),
        ("max_concurrency", 65),
        ("page_size", 2**63),
        ("max_response_bytes", 0),
        ("max_response_bytes", -1),
        ("max_response_bytes", 10**30),
    ],
)
def test_numeric_settings_out_of_range_are_refused_not_panicked(setting: str, value: float) -> None:
    # A pyo3 PanicException derives from BaseException: `except Exception` would not catch it.
    with pytest.raises(jhe.ConfigurationError, match=setting):
        jhe.Client("https://jhe.example.org", "t", **{setting: value})  # type: ignore[arg-type]


def test_numeric_settings_at_their_limits_are_accepted() -> None:
    jhe.Client("https://jhe.example.org", "t", timeout=86_400, retries=100, max_response_bytes=2**62)
    jhe.Client("https://jhe.example.org", "t", timeout=0.001, retries=0, max_response_bytes=1)
