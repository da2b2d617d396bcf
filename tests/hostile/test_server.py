"""The hostile server itself: in front of the fake Exchange and changing nothing, jhe's
fetch through it is the fake's own."""

from __future__ import annotations

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.hostile.server import Hostile, Reply, bundle


def test_a_transparent_hostile_server_changes_nothing(fx: FakeExchange) -> None:
    with Hostile(lambda request: None, behind=fx) as hostile:
        through = jhe.Client(hostile.url, fx.token, page_size=500).fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE)
    direct = jhe.Client(fx.url, fx.token, page_size=500).fetch_arrow(study_id=fx.main_study_id, code=GLUCOSE)
    assert through.num_rows == direct.num_rows > 500
    assert any(path.startswith("/fhir/r5/Observation") or "Observation" in path for path in hostile.paths())


def test_a_scripted_answer_is_what_jhe_reads() -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        if "Observation" in request.path:
            return Reply.json(bundle([], total=0))
        return None

    with Hostile(answer) as hostile:
        result = jhe.Client(hostile.url, "t", retries=0).fetch_arrow(study_id=1, code=GLUCOSE)
    assert result.num_rows == 0
