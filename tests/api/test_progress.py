"""Progress reports: every page and observation counted, and the tqdm bars."""

from __future__ import annotations

import builtins
import sys
from typing import Any

import pytest
import tqdm.std

import jhe
from jhe import _progress
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE


def test_progress_counts_every_page_and_observation(small_fx: FakeExchange) -> None:
    client = jhe.Client(small_fx.url, small_fx.token, page_size=50)
    seen: list[tuple[int, int, int, int]] = []
    result = client._native.fetch(study_id=small_fx.main_study_id, codes=[GLUCOSE], layout="wide", progress=lambda *c: seen.append(c))
    pages_done, pages_total, rows_done, rows_total = seen[-1]
    assert rows_done == rows_total == result.server_total == result.observations
    assert pages_done == pages_total == -(-result.server_total // 50)
    # the progress bars themselves (tqdm) draw and close without error
    assert len(client.fetch_dataframe(study_id=small_fx.main_study_id, code=GLUCOSE, progress=True)) == result.observations


@pytest.fixture
def kernel_without_widgets(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A Jupyter kernel (as jhe sees one) without ipywidgets, and tqdm's clock, frozen at
    0 until a test moves it."""
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or type(sys)("ipykernel"))
    real_import = builtins.__import__

    def no_widgets(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("ipywidgets"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    clock = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])
    return clock


def test_a_quick_fetch_draws_no_bar(kernel_without_widgets: list[float], capsys: pytest.CaptureFixture[str]) -> None:
    bars = _progress.Bars()
    for page in range(1, 4):
        bars(page, 3, page * 100, 300)
    bars.close()
    assert capsys.readouterr().err == "", "done before the half-second delay: nothing shown"


def test_a_slow_fetch_draws_one_line_without_cursor_moves(
    kernel_without_widgets: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    bars = _progress.Bars()
    for page in range(1, 4):
        kernel_without_widgets[0] += 1.0
        bars(page, 3, page * 100, 300)
    bars.close()
    drawn = capsys.readouterr().err
    assert "observations" in drawn and "page 2/3" in drawn
    assert "\x1b[A" not in drawn and "\n" not in drawn.strip(), "one line, redrawn with \\r only"
