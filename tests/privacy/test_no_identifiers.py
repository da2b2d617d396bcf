"""No direct identifier survives de-identification, in any column of any layout or export:
every name, email, phone, MRN and uuid the fake generated is looked for in everything
written, and no cell equals a patient's, user's or observation's id."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jhe
from jhe.testing import FakeExchange

from tests.helpers import GLUCOSE
from tests.privacy.conftest import KEY


def quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jhe.DecodeWarning)
        return call(*args, **kwargs)


class Identifiers:
    """What the fake generated that identifies someone: text to look for anywhere, and ids
    no cell may equal."""

    def __init__(self, fx: FakeExchange, client: jhe.Client) -> None:
        patients = client.list_patients()
        observations = quiet(client.fetch, study_id=fx.main_study_id, layout="long").to_arrow()
        uuids = {u for u in observations["uuid"].to_pylist() if u}
        mrns = {value for identifiers in fx.directory["patient_identifiers"].values() for _, value in identifiers}
        names = set(patients["nameGiven"]) | set(patients["nameFamily"])
        self.text: set[str] = names | set(patients["telecomEmail"]) | set(patients["telecomPhone"]) | mrns | uuids
        self.text |= {f"{given} {family}" for given, family in zip(patients["nameGiven"], patients["nameFamily"])}
        self.ids: set[str] = {str(i) for i in patients["id"]} | {str(i) for i in patients["jheUserId"]}
        self.ids |= {str(i) for i in observations["observation_id"].to_pylist()}
        assert mrns and uuids and len(names) > 2, "the fake generates every kind: the test can fail"

    def assert_absent(self, what: str, cells: Iterable[object]) -> None:
        texts = [str(cell) for cell in cells if cell is not None]
        blob = "\n".join(texts)
        found = sorted(identifier for identifier in self.text if identifier and identifier in blob)
        assert not found, f"{what}: {found[:5]}"
        equal = sorted(set(texts) & self.ids)
        assert not equal, f"{what}: ids {equal[:5]}"


@pytest.fixture(scope="module")
def identifiers(fx: FakeExchange, client: jhe.Client) -> Identifiers:
    return Identifiers(fx, client)


def cells_of(table: pa.Table) -> list[object]:
    cells: list[object] = list(table.column_names)
    for column in table.columns:
        cells.extend(column.to_pylist())
    return cells


def cells_of_file(path: Path) -> list[object]:
    if path.suffix == ".parquet":
        return cells_of(pq.read_table(path))
    return [path.read_text()]


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())


def test_the_scan_finds_identifiers_in_what_is_not_deidentified(fx: FakeExchange, client: jhe.Client, identifiers: Identifiers, tmp_path: Path) -> None:
    rest = quiet(client.fetch, study_id=fx.main_study_id, api="rest").to_arrow()
    with pytest.raises(AssertionError, match="study|ids"):
        identifiers.assert_absent("study", cells_of(rest))
    quiet(client.export_csv, tmp_path / "guide.csv", fx.main_study_id, preset="guide")
    with pytest.raises(AssertionError):
        identifiers.assert_absent("guide", cells_of_file(tmp_path / "guide.csv"))


@pytest.mark.parametrize("layout", ["wide", "long"])
@pytest.mark.parametrize("api", ["fhir", "rest"])
def test_no_identifier_in_any_column_of_a_fetch(fx: FakeExchange, client: jhe.Client, identifiers: Identifiers, layout: str, api: str) -> None:
    for mode in ("pseudonymize", "safe_harbor"):
        obs = quiet(client.fetch, study_id=fx.main_study_id, layout=layout, api=api, deidentify=jhe.Deidentification(KEY, mode=mode))
        arrow = obs.to_arrow()
        for code, table in (arrow.items() if isinstance(arrow, dict) else [("all", arrow)]):
            identifiers.assert_absent(f"{api} {layout} {mode} {code}", cells_of(table))
        identifiers.assert_absent(f"{api} {layout} errors", [value for error in obs.errors for value in error.values()])
        assert obs.errors, "damaged records are there to be scanned"


def test_no_identifier_in_any_export(fx: FakeExchange, client: jhe.Client, identifiers: Identifiers, tmp_path: Path) -> None:
    settings = jhe.Deidentification(KEY)
    written = [
        quiet(client.export_csv, tmp_path / "long.csv", fx.main_study_id, deidentify=settings),
        quiet(client.export_csv, tmp_path / "guide.csv", fx.main_study_id, preset="guide", deidentify=settings),
        quiet(client.export_parquet, tmp_path / "glucose.parquet", fx.main_study_id, code=GLUCOSE, deidentify=settings),
        quiet(client.export_parquet, tmp_path / "parts", fx.main_study_id, partition_by=["patient_id"], deidentify=settings),
    ]
    organization = fx.directory["member_organization_ids"][0]
    for format in ("parquet", "csv"):
        quiet(client.export_study, organization, fx.main_study_id, path=tmp_path / f"study-{format}", format=format, deidentify=settings)
        written.append(tmp_path / f"study-{format}")
    files = [file for path in written for file in files_under(Path(path))]
    assert any(".errors." in file.name for file in files), "the sidecars are scanned too"
    assert any("pseudonym=" in str(file) for file in files), "partitioned by pseudonym"
    for file in files:
        identifiers.assert_absent(str(file.relative_to(tmp_path)), cells_of_file(file))
        data = file.read_bytes()
        assert not [u for u in identifiers.text if u.encode() in data], file
    assert "Patient Name" not in (tmp_path / "guide.csv").read_text().splitlines()[0]


def test_no_identifier_in_the_patient_list(fx: FakeExchange, client: jhe.Client, identifiers: Identifiers) -> None:
    for mode in ("pseudonymize", "safe_harbor"):
        listed = client.list_patients(deidentify=jhe.Deidentification(KEY, mode=mode))  # type: ignore[arg-type]
        assert "pseudonym" in listed.columns and len(listed) == len(client.list_patients())
        identifiers.assert_absent(f"patients {mode}", [*listed.columns, *listed.astype(str).to_numpy().ravel()])


def test_no_identifier_from_the_cli(fx: FakeExchange, identifiers: Identifiers, tmp_path: Path) -> None:
    env = {**os.environ, "JHE_URL": fx.url, "JHE_TOKEN": fx.token, "JHE_DEID_KEY": KEY}

    def jhe_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jhe", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    exported = jhe_cli("export", "--study", str(fx.main_study_id), "--deidentify", "-o", "out.csv")
    assert exported.returncode == 0, exported.stderr
    listed = jhe_cli("patients", "--deidentify", "--csv")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith("pseudonym")
    for file in files_under(tmp_path):
        identifiers.assert_absent(f"cli {file.name}", cells_of_file(file))
    identifiers.assert_absent("cli patients", [listed.stdout, exported.stdout, exported.stderr])
    missing_key = subprocess.run(
        [sys.executable, "-m", "jhe", "export", "--study", str(fx.main_study_id), "--deidentify", "-o", "x.csv"],
        cwd=tmp_path, env={k: v for k, v in env.items() if k != "JHE_DEID_KEY"}, capture_output=True, text=True, timeout=300,
    )
    assert missing_key.returncode != 0 and "JHE_DEID_KEY" in missing_key.stderr
    assert not (tmp_path / "x.csv").exists()


def test_an_undecodable_record_is_kept_and_reported_without_its_payload(fx: FakeExchange, client: jhe.Client) -> None:
    plain = quiet(client.fetch, study_id=fx.main_study_id, layout="long")
    deidentified = quiet(client.fetch, study_id=fx.main_study_id, layout="long", deidentify=jhe.Deidentification(KEY))
    assert len(deidentified.errors) == len(plain.errors) > 0
    assert deidentified.total == plain.total
    assert all(error["raw"] == "" and error["reason"] for error in deidentified.errors)
    assert re.fullmatch(r"[0-9a-f]{32}", str(deidentified.errors[0]["observation_id"]))
