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
    """Two bars, pages and observations, with totals from the server's count."""

    def __init__(self) -> None:
        self._pages: Any = None
        self._rows: Any = None

    def __call__(self, pages_done: int, pages_total: int, rows_done: int, rows_total: int) -> None:
        if pages_total == 0:
            return
        if self._pages is None:
            tqdm = _tqdm_class()
            # Shown only once a fetch has taken half a second: quick fetches stay quiet.
            self._pages = tqdm(total=pages_total, unit="page", desc="pages", leave=False, delay=0.5)
            self._rows = tqdm(total=rows_total, unit="obs", unit_scale=True, desc="observations", leave=False, delay=0.5)
        for bar, done, total in ((self._pages, pages_done, pages_total), (self._rows, rows_done, rows_total)):
            bar.total = max(total, done)
            bar.n = done
            bar.refresh()

    def close(self) -> None:
        for bar in (self._pages, self._rows):
            if bar is not None:
                bar.close()
