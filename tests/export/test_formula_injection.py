"""CSV formula injection (OWASP): text cells a spreadsheet would run are written with a
single quote before them, numbers stay numbers, and the opt-out writes them as they are."""

from __future__ import annotations

import csv
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import jhe
from jhe._export import csv_ready
from jhe.testing import FakeExchange

from tests.hostile.server import Hostile, Reply

DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def test_each_dangerous_start_is_quoted_and_numbers_are_not() -> None:
    table = pa.table({
        "text": DANGEROUS + ["safe", "a=b", None],
        "category": pa.array(DANGEROUS + ["safe", "a=b", None]).dictionary_encode(),
        "number": [-1.5] * 9,
    })
    out = csv_ready(table)
    assert out.column("text").to_pylist() == ["'" + d for d in DANGEROUS] + ["safe", "a=b", None]
    assert out.column("category").to_pylist() == out.column("text").to_pylist()
    assert out.column("number").to_pylist() == [-1.5] * 9
    assert csv_ready(table, neutralize_formulas=False).column("text").to_pylist() == DANGEROUS + ["safe", "a=b", None]


@pytest.fixture(scope="module")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=2, days=1, seed=9) as exchange:
        yield exchange


def named_as_formulas(fx: FakeExchange) -> Hostile:
    """The fake, but its patients are named like formulas (in the patient list and the REST rows)."""

    names = {"/api/v1/patients": ("nameGiven", "nameFamily"), "/api/v1/observations": ("patientNameGiven", "patientNameFamily")}

    def answer(request: object) -> Reply | None:
        keys = names.get(getattr(request, "path"))
        if keys is None:
            return None
        upstream = urllib.request.Request(f"{fx.url}{getattr(request, 'target')}", headers={"Authorization": f"Bearer {fx.token}"})
        with urllib.request.urlopen(upstream, timeout=30) as response:
            page = json.load(response)
        for row in page["results"]:
            row[keys[0]], row[keys[1]] = "=HYPERLINK(\"http://x\")", "Doe"
        return Reply.json(page)

    return Hostile(answer, behind=fx)  # type: ignore[arg-type]


def test_the_guide_csv_neutralizes_a_formula_name(fx: FakeExchange, tmp_path: Path) -> None:
    with named_as_formulas(fx) as hostile:
        client = jhe.Client(hostile.url, fx.token)
        safe = client.export_csv(tmp_path / "safe.csv", fx.main_study_id, preset="guide")
        raw = client.export_csv(tmp_path / "raw.csv", fx.main_study_id, preset="guide", neutralize_formulas=False)
    names = {row["Patient Name"] for row in csv.DictReader(safe.open())}
    assert names == {"'=HYPERLINK(\"http://x\") Doe"}
    assert '"\'=HYPERLINK(""http://x"") Doe"' in safe.read_text()  # quoted, as OWASP asks
    assert {row["Patient Name"] for row in csv.DictReader(raw.open())} == {"=HYPERLINK(\"http://x\") Doe"}
    glucose = [float(row["Glucose (mg/dL)"]) for row in csv.DictReader(safe.open())]
    assert glucose and all(g > 0 for g in glucose)


def test_the_cli_neutralizes_unless_told_to_keep_formulas(fx: FakeExchange, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    with named_as_formulas(fx) as hostile:
        env = {**os.environ, "JHE_URL": hostile.url, "JHE_TOKEN": fx.token}
        for name, extra in (("safe.csv", []), ("raw.csv", ["--keep-formulas"])):
            done = subprocess.run(
                [sys.executable, "-m", "jhe", "export", "--study", str(fx.main_study_id), "--api", "rest", "-o", name, *extra],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
            )
            assert done.returncode == 0, done.stderr
    # REST rows carry the patient's name: the patient_name column.
    safe = {row["patient_name"] for row in csv.DictReader((tmp_path / "safe.csv").open())}
    raw = {row["patient_name"] for row in csv.DictReader((tmp_path / "raw.csv").open())}
    assert safe == {"'=HYPERLINK(\"http://x\") Doe"} and raw == {"=HYPERLINK(\"http://x\") Doe"}
