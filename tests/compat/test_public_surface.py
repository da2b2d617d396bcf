"""compat's public surface is the official client's: the Code enum, the public names and
signatures (with no silent 2000-row default limit), configuration from the environment and
the errors."""

from __future__ import annotations

import inspect

import pytest

import jupyterhealth_client as official  # type: ignore[import-untyped]
from jhe import compat
from jhe.testing import FakeExchange


def test_code_matches_official() -> None:
    assert [(m.name, m.value) for m in compat.Code] == [(m.name, m.value) for m in official.Code]


def test_public_names_match_official() -> None:
    assert set(official.__all__) <= set(compat.__all__)
    assert issubclass(compat.RequestError, Exception)
    public = [name for name in vars(official.JupyterHealthClient) if not name.startswith("_")]
    assert public, "the official client has public methods"
    for name in public:
        theirs = getattr(official.JupyterHealthClient, name)
        ours = getattr(compat.JupyterHealthClient, name)
        if not callable(theirs):
            continue
        want = inspect.signature(theirs).parameters
        got = inspect.signature(ours).parameters
        for parameter in want.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                continue
            assert parameter.name in got, f"{name}({parameter.name})"
            mine = got[parameter.name]
            assert mine.kind == parameter.kind, f"{name}({parameter.name})"
            if parameter.name == "limit" and name.startswith("list_observations"):
                assert parameter.default == 2000 and mine.default is None  # no silent cut
            elif parameter.name == "url":
                assert mine.default is None  # JHE_URL read when the client is made
            else:
                assert mine.default == parameter.default, f"{name}({parameter.name})"


def test_environment_and_errors(fake: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JHE_CLIENT_ID", raising=False)
    monkeypatch.delenv("JHE_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("JHE_URL", fake.url)
    monkeypatch.delenv("JHE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="JHE_TOKEN"):
        compat.JupyterHealthClient()
    with pytest.raises(ValueError, match="JHE_TOKEN"):
        official.JupyterHealthClient(fake.url)
    assert compat.JupyterHealthClient(token=fake.token).url.rstrip("/") == fake.url.rstrip("/")
    monkeypatch.setenv("JHE_TOKEN", fake.token)
    monkeypatch.delenv("JHE_URL")
    with pytest.raises(ValueError, match="JHE_URL"):
        compat.JupyterHealthClient()
    client = compat.JupyterHealthClient(fake.url)
    with pytest.raises(ValueError, match="patient_id or study_id"):
        client.list_observations_df()
    with pytest.raises(compat.RequestError):
        client.list_observations_df(study_id=fake.hidden_study_id)
    bad = compat.JupyterHealthClient(fake.url, token="not-the-token")
    with pytest.raises(compat.RequestError):
        bad.get_user()

