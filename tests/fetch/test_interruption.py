"""Ctrl-C during a fetch."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import BLOOD_PRESSURE


def test_keyboard_interrupt_cancels_a_fetch_and_leaves_the_client_usable() -> None:
    with FakeExchange(patients=3, days=2, latency_ms=400) as fx:
        client = jhe.Client(fx.url, fx.token, page_size=50, concurrency=1)
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.fetch_dataframe(study_id=fx.main_study_id)
        timer.join()
        assert time.monotonic() - started < 30  # not a timing claim: a hang would fail here
        df = client.fetch_dataframe(patient_id=fx.directory["visible_patient_ids"][0], code=BLOOD_PRESSURE)
        assert len(df) == len(
            fx.expected_observations(patient_id=fx.directory["visible_patient_ids"][0], code=BLOOD_PRESSURE)
        )
