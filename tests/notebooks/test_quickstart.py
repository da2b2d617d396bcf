"""The quickstart notebook runs top to bottom against its in-process fake Exchange, and
shows what it says it shows (executed with nbclient, as CI does)."""

from __future__ import annotations

import base64
import csv
import re
import struct
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

from tests.helpers import GUIDE_HEADERS

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


class Executed:
    def __init__(self, nb: Any, workdir: Path, tmpdir: Path) -> None:
        self.nb = nb
        self.workdir = workdir
        self.tmpdir = tmpdir

    def cell(self, fragment: str) -> Any:
        """The one code cell whose source contains `fragment`."""
        matches = [c for c in self.nb.cells if c.cell_type == "code" and fragment in c.source]
        assert len(matches) == 1, f"{len(matches)} code cells contain {fragment!r}"
        return matches[0]

    def data(self, fragment: str, mime: str) -> str:
        found = [o["data"][mime] for o in self.cell(fragment).outputs if mime in o.get("data", {})]
        assert found, f"the cell with {fragment!r} has no {mime} output"
        return "".join(found)

    def stream(self, fragment: str, name: str) -> str:
        return "".join(o["text"] for o in self.cell(fragment).outputs if o["output_type"] == "stream" and o["name"] == name)

    def export_dir(self) -> Path:
        made = list(self.tmpdir.glob("jhe-quickstart-*"))
        assert len(made) == 1, made
        return made[0]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    workdir = tmp_path_factory.mktemp("notebook-cwd")
    tmpdir = tmp_path_factory.mktemp("notebook-tmp")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MPLBACKEND", "Agg")
        env.setenv("TMPDIR", str(tmpdir))  # the kernel's tempfile.mkdtemp() lands here
        client = nbclient.NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        )
        client.execute()  # raises CellExecutionError on the first cell that fails
    return Executed(nb, workdir, tmpdir)


def notebook_parameters() -> dict[str, int]:
    source = NOTEBOOK.read_text()
    match = re.search(r"FakeExchange\(patients=(\d+), days=(\d+), seed=(\d+)\)", source)
    assert match, "the first code cell starts FakeExchange(patients=..., days=..., seed=...)"
    return dict(zip(["patients", "days", "seed"], map(int, match.groups()), strict=True))


def test_stored_with_its_outputs_and_nothing_of_this_machine() -> None:
    """Committed executed, so it reads well when browsed; no path of the machine that ran
    it, and no credential, in what it shows."""
    from jhe.testing import FakeExchange

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "executed top to bottom"
    assert all(c.outputs for c in code if not c.source.startswith(("fx.close()", "import polars"))), "outputs stored"
    assert "FakeExchange(" in code[0].source and "jhe.Client(" in code[0].source
    stored = NOTEBOOK.read_text()
    for machine in ["/tmp/", "/work/", "/home/", "/root/", "/Users/", "ipykernel_", "\\u001b"]:
        assert machine not in stored, machine
    with FakeExchange(**notebook_parameters()) as same:  # the same seed: the same credentials
        for secret in (same.token, same.refresh_token, same.client_secret, same.client_key):
            assert secret not in stored


def test_every_cell_ran_without_error(executed: Executed) -> None:
    code = [c for c in executed.nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    for c in code:
        for output in c.outputs:
            assert output["output_type"] != "error", c.source
            if output["output_type"] == "stream":
                assert "Traceback" not in output["text"], c.source


def test_client_and_listings_display(executed: Executed) -> None:
    assert "signed in as" in executed.data("client = jhe.Client(fx.url, fx.token)", "text/html")
    assert "CGM &amp; Wearables Study" in executed.data("client.list_studies()", "text/html")
    patients = executed.data("client.list_patients(study_id=study_id)", "text/plain")
    assert len(re.findall(r"^\d+\s+4\d{4}\b", patients, flags=re.M)) == notebook_parameters()["patients"]


def test_fetch_summary_names_the_code(executed: Executed) -> None:
    summary = executed.data('glucose = client.fetch(study_id, code="omh:blood-glucose:4.0")', "text/html")
    assert "jhe.Observations" in summary
    assert "<code>omh:blood-glucose:4.0</code>" in summary
    params = notebook_parameters()
    # CGM every 15 minutes: 96 readings a day per patient, nothing lost.
    assert f"<td>{params['patients'] * params['days'] * 96:,}</td><td>{params['patients']}</td>" in summary


def test_glucose_plot_is_an_image(executed: Executed) -> None:
    png = base64.b64decode(executed.data('ax.set_ylabel("blood glucose (mg/dL)")', "image/png"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600 and height >= 250, (width, height)
    assert len(png) > 20_000  # lines were drawn, not an empty frame


def test_long_layout_and_polars_agree(executed: Executed) -> None:
    pandas_table = executed.data('.groupby(["code", "measure", "canonical_unit"]', "text/plain")
    polars_table = executed.data("client.fetch_polars(study_id, code=vitals_codes)", "text/plain")
    for measure in ("systolic_blood_pressure", "diastolic_blood_pressure", "heart_rate", "body_weight"):
        assert measure in pandas_table and measure in polars_table
    assert "beats/min" in polars_table and "mmHg" in polars_table


def test_guide_csv(executed: Executed) -> None:
    path = executed.export_dir() / "blood_glucose.csv"
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == GUIDE_HEADERS
    params = notebook_parameters()
    assert len(rows) - 1 == params["patients"] * params["days"] * 96
    assert all(row[1] and row[4] for row in rows[1:])  # a patient name, a meal context (or N/A)
    assert '"Observation ID","Patient Name","Date/Time"' in executed.stream("export_csv(", "stdout")


def test_parquet_exports(executed: Executed) -> None:
    import pyarrow.parquet as pq

    out = executed.export_dir()
    vitals = pq.read_table(out / "vitals")
    assert set(vitals["code"].to_pylist()) == {"omh:blood-pressure:4.0", "omh:heart-rate:2.0", "omh:body-weight:3.0"}
    assert len(list((out / "vitals").glob("code=*"))) == 3
    assert f"{vitals.num_rows} rows" in executed.stream("partition_by=[\"code\"]", "stdout")

    study = {path.name: pq.read_metadata(path).num_rows for path in (out / "study").glob("*.parquet")}
    assert len(study) == 16, sorted(study)  # the main study asks for every code in the catalogue
    params = notebook_parameters()
    assert study["omh_blood-glucose_4.0.parquet"] == params["patients"] * params["days"] * 96
    assert "omh_blood-glucose_4.0.parquet" in executed.data("client.export_study(", "text/plain")


def test_files_only_in_the_temporary_directory(executed: Executed) -> None:
    assert list(executed.workdir.iterdir()) == []
    assert not list(NOTEBOOK.parent.glob("*.csv")) and not (NOTEBOOK.parent / "study").exists()


def test_decode_errors_are_shown(executed: Executed) -> None:
    fragment = 'damaged.attrs["jhe_errors"]'
    assert "DecodeWarning" in executed.stream(fragment, "stderr")
    errors = executed.data(fragment, "text/plain")
    for reason in ("effective_time_frame", "unknown unit", "missing", "base64"):
        assert reason in errors, errors
    kept = executed.data("The damaged rows are still in the DataFrame", "text/plain")
    assert "g/L" in kept and "NaT" in kept


def test_the_quality_section_shows_the_report_and_why_a_fetch_is_empty(executed: Executed) -> None:
    shown = executed.data("checked.quality(", "text/html")
    assert "<table class=heat>" in shown and "outliers: implausible" in shown
    missing = executed.data('report.completeness[report.completeness.status != "has data"]', "text/plain")
    assert "consent pending" in missing and "not consented" in missing
    implausible = executed.data('report.outliers.rule == "implausible"', "text/plain")
    assert "1500.0" in implausible and "400.0" in implausible
    assert (executed.export_dir() / "quality.html").read_text().startswith("<!doctype html>")
    said = executed.stream('code="omh:blood-glucoze:4.0"', "stdout")
    assert said.strip().endswith("did you mean omh:blood-glucose:4.0?")


def test_the_privacy_section_shows_no_identifier(executed: Executed) -> None:
    shifted = executed.data('shifted[["pseudonym", "observation_id", "timestamp", "glucose_mg_dl"]]', "text/plain")
    assert re.search(r"\b[0-9a-f]{32}\b", shifted), shifted
    listed = executed.data('client.list_patients(study_id=study_id, deidentify=private)', "text/plain")
    assert "pseudonym" in listed and "birthDate" in listed
    shown = executed.data("patients[[", "text/plain")
    names = re.findall(r"^\d+\s+4\d{4}\s+(\S+)\s+(\S+)", shown, flags=re.M)
    assert names, shown
    privacy = shifted + listed + executed.data('mode="safe_harbor"', "text/plain")
    assert not [name for pair in names for name in pair if name in privacy]
    assert "first_year" in executed.data('mode="safe_harbor"', "text/plain")
    audited = executed.data("audit_log=out", "text/plain")
    assert "'export_parquet'" in audited and "'encrypted': True" in audited and "pi_paula@example.com" in audited
    assert "rows read back with the key" in executed.stream("audit_log=out", "stdout")


def test_ehr_hba1c_is_joined_per_patient_with_the_cgm_glucose(executed: Executed) -> None:
    """Section 12: each patient's latest imported HbA1c, as the fake imported it, beside
    their CGM mean glucose and GMI."""
    import json
    from datetime import datetime

    from jhe import Client
    from jhe.testing import FakeExchange

    fetched = executed.data('code="4548-4", source="imported"', "text/plain")
    assert "https://jupyterhealth.org/fhir/fhir-source/" in fetched
    joined = executed.data("cgm.join(latest_hba1c", "text/plain")
    header, *rows = [line for line in joined.splitlines() if line.strip()]
    assert header.split() == ["mean_glucose_mg_dl", "gmi", "ehr_hba1c_percent"]
    shown = {" ".join(line.split()[:-3]): [float(x) for x in line.split()[-3:]] for line in rows if len(line.split()) > 3}
    with FakeExchange(**notebook_parameters()) as same:
        patients = Client(same.url, same.token).list_patients(study_id=same.main_study_id)
        name = dict(zip(patients["id"], patients["nameGiven"] + " " + patients["nameFamily"]))
        latest = {}
        for patient in same.directory["patients_by_study"][same.main_study_id]:
            records = [json.loads(t) for t in same.expected_imported("Observation", patient_id=patient)]
            hba1c = [r for r in records if any(c["code"] == "4548-4" for c in r["code"]["coding"])]
            when = lambda r: datetime.fromisoformat((r.get("effectiveDateTime") or r["issued"]).replace("Z", "+00:00"))  # noqa: E731
            latest[name[patient]] = max(hba1c, key=when)["valueQuantity"]["value"]
    assert set(shown) == set(latest) and len(shown) == notebook_parameters()["patients"]
    for patient, (mean, gmi, hba1c) in shown.items():
        assert hba1c == round(latest[patient], 2)
        assert abs(gmi - (3.31 + 0.02392 * mean)) < 0.01, "the GMI of the mean shown (both rounded to 2 places)"
