"""Progress bars for fetches: tqdm.auto (a widget in Jupyter, text in a terminal), drawn
from the waiting Python thread as Rust reports pages and observations."""

from __future__ import annotations

import sys
from typing import Any


def wanted(progress: bool | None) -> bool:
    """On in a notebook and a terminal, off elsewhere (CI logs, pipes) unless asked for."""
    if progress is not None:
        return progress
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _tqdm_class() -> Any:
    """The notebook widget where ipywidgets is installed, else plain text bars (tqdm.auto
    would warn on every fetch in a kernel without ipywidgets)."""
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401

            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm


class Bars:
    """One bar of observations, with the pages in its postfix (one line: a second text bar
    would move the cursor with ``\x1b[A``, which a notebook's output shows as it is), and
    totals from the server's count. It appears only once a fetch has taken half a second."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, pages_done: int, pages_total: int, rows_done: int, rows_total: int) -> None:
        if pages_total == 0:
            return
        if self._bar is None:
            tqdm = _tqdm_class()
            self._bar = tqdm(total=rows_total, unit="obs", unit_scale=True, desc="observations", leave=False, delay=0.5)
        bar = self._bar
        bar.total = max(rows_total, rows_done)
        bar.set_postfix_str(f"page {pages_done}/{max(pages_total, pages_done)}", refresh=False)
        # update(), not refresh(): refresh draws at once, whatever the delay.
        bar.update(rows_done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
