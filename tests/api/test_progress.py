"""Progress reports: every page and observation counted, and the tqdm bars."""

from __future__ import annotations

import jhe
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
