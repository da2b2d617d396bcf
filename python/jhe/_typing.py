"""Typing helpers shared by the stubs and the package."""

from __future__ import annotations

from typing import Protocol


class ArrowStreamExportable(Protocol):
    """Any object exporting an Arrow C stream (pyarrow, polars, arro3, jhe.Observations)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
