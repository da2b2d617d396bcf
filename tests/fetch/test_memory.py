"""How a fetch uses memory: no transparent huge pages for its short-lived buffers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

FETCH_AND_REPORT = """
import jhe
from jhe.testing import FakeExchange
with FakeExchange(patients=20, days=7, seed=1) as fx:
    jhe.Client(fx.url, fx.token)._native.fetch(None, study_id=fx.main_study_id)
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages"):
            print(int(line.split()[1]))
"""


@pytest.mark.skipif(not THP.exists() or "[never]" in THP.read_text(), reason="no transparent huge pages here")
def test_a_fetch_maps_no_transparent_huge_pages() -> None:
    # A fresh interpreter without numpy, which asks for huge pages for its own arrays.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    done = subprocess.run([sys.executable, "-c", FETCH_AND_REPORT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == 0, "kB of anonymous huge pages after a fetch (zeroing them cost half its CPU)"
