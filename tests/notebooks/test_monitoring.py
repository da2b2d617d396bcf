"""The monitoring notebook runs top to bottom against its fake Exchange and shows what it
says: a watch's batch and its resumption, and a second sync that read only the change."""

from __future__ import annotations

import re
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "monitoring.ipynb"


def test_the_monitoring_notebook_runs_and_shows_the_change_alone(tmp_path: Path) -> None:
    pytest.importorskip("deltalake")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    assert "8 new observation(s); every one of the upload: True" in printed
    assert "resumed: 2 new observation(s), exactly the two: True" in printed
    second = re.search(r"second sync: (\d+) rows added, (\d+) updated, (\d+) requests, drift (\S+)", printed)
    assert second and second.groups() == ("5", "0", second.group(3), "0")
    assert int(second.group(3)) <= 4
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the new readings are plotted"
