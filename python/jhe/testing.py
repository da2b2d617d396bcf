"""An embedded fake JupyterHealth Exchange, for notebooks and tests that must run offline.

>>> from jhe.testing import FakeExchange
>>> with FakeExchange(patients=20, days=14, seed=0) as fx:  # doctest: +SKIP
...     df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)

The server is written in Rust and runs in this process on 127.0.0.1 with a free port. Its
data is generated from ``seed``: the same arguments always give the same data.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from jhe._jhe import NativeFakeExchange


class FakeExchange:
    """A fake Exchange serving the current JHE API (REST under ``/api/v1/``, FHIR under
    ``/FHIR/R5/``) with generated organizations, studies, patients and observations.

    Args:
        patients: Visible patients (all in the main study).
        days: Days of data per patient (CGM glucose every 15 minutes plus daily wearables).
        seed: Seed of the generator.

    Attributes:
        url: The server's address, e.g. ``http://127.0.0.1:53211``.
        token: A valid Bearer token; anything else gets 401.
    """

    def __init__(self, patients: int = 20, days: int = 14, seed: int = 0) -> None:
        self._native = NativeFakeExchange(patients=patients, days=days, seed=seed)
        self.url: str = self._native.url
        self.token: str = self._native.token
        self.directory: dict[str, Any] = self._native.directory()

    @property
    def main_study_id(self) -> int:
        """A visible study that asks for every data type."""
        return int(self.directory["main_study_id"])

    @property
    def hidden_study_id(self) -> int:
        """A study the token's user may not see (403)."""
        return int(self.directory["hidden_study_id"])

    def expected_observations(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | None = None,
    ) -> list[dict[str, Any]]:
        """The generator's ground truth for an Observation search with these filters, newest
        first: dicts with ``id``, ``patient_id``, ``code``, ``last_updated`` and ``omh`` (the
        payload as a dict)."""
        rows = self._native.expected_observations(study_id, patient_id, code)
        for row in rows:
            row["omh"] = json.loads(row.pop("omh_json"))
        return rows

    def close(self) -> None:
        """Stop serving. Safe to call twice."""
        self._native.stop()

    def __enter__(self) -> FakeExchange:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FakeExchange(url={self.url!r})"
