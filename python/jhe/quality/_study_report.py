"""``client.quality(...)``: the study's patients, requested scopes and consents from the
REST API (the consents read while the study is fetched), one fetch of the study (one
search for every code it requests, or one per code named), then every check over the
result."""

from __future__ import annotations

import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from jhe import _empty, _study
from jhe._convert import _caller_stacklevel
from jhe.quality._completeness import completeness
from jhe.quality._frame import read
from jhe.quality._report import QualityReport, Settings, build_report
from jhe.quality._series import now_utc

if TYPE_CHECKING:
    from jhe._client import Client


def study_report(
    client: Client,
    study_id: int,
    codes: list[str],
    *,
    since: Any = None,
    until: Any = None,
    patient_id: int | None = None,
    progress: bool | None = None,
    k: float = 3.0,
    threshold_std: float = 3.0,
    mad_k: float = 3.0,
    valid_day_percent: float = 70.0,
    tolerance: timedelta = timedelta(minutes=5),
) -> QualityReport:
    settings = Settings(k=k, threshold_std=threshold_std, mad_k=mad_k, valid_day_percent=valid_day_percent, tolerance=tolerance)
    # The study's lookups run beside each other, and the consents (one request per patient)
    # beside the fetch: at a real Exchange's latency each would otherwise add its own wait.
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="jhe-quality")
    try:
        study = look_up(client, study_id, codes, patient_id, pool)
        fetched_at = now_utc()
        filters = window(since, until)
        with warnings.catch_warnings():
            # The report states what is missing and why; the fetch's own warnings would repeat it.
            warnings.simplefilter("ignore", _empty.EmptyResultWarning)
            obs = client.fetch(study_id=study_id, patient_id=patient_id, code=study.searched, layout="long", progress=progress, **filters)
        study.wait()
    finally:
        # On an error or Ctrl-C, what has not started is not started.
        pool.shutdown(wait=False, cancel_futures=True)
    frame = read(obs)
    table = completeness(study_id, study.ids, study.codes, study.requested, study.consent_of, frame.observations)
    return build_report(
        frame, obs.errors, now=fetched_at, settings=settings, completeness=table, birth_dates=study.birth_dates,
        title=study.title, context=study.context(client, obs.total, len(obs.errors), since, until),
    )


def window(since: Any, until: Any) -> dict[str, Any]:
    """The fetch's time filters of a report."""
    return {k: v for k, v in (("since", since), ("until", until)) if v is not None}


@dataclass
class Study:
    """What a report needs of its study beside the observations: its patients, the codes
    it requests and checks, and (asked while the observations are fetched) its consents
    and its own document."""

    study_id: int
    patients: list[dict[str, Any]]
    codes: list[str]
    # The codes searched: None is one search of every code the study requests.
    searched: list[str] | None
    requested: set[str]
    consents: Future[dict[int, Any]]
    document: Future[dict[str, Any]]

    @property
    def ids(self) -> list[int]:
        return [p["id"] for p in self.patients]

    @property
    def birth_dates(self) -> dict[int, str]:
        return {p["id"]: p["birthDate"] for p in self.patients if p.get("birthDate")}

    @property
    def consent_of(self) -> dict[int, Any]:
        return self.consents.result()

    @property
    def title(self) -> str:
        return f"Data quality: study {self.study_id}"

    def wait(self) -> None:
        self.consents.result()
        self.document.result()

    def context(self, client: Client, observations: int, errors: int, since: Any, until: Any) -> dict[str, Any]:
        return {
            "study": f"{self.study_id} ({self.document.result().get('name', '')})",
            "patients": len(self.patients),
            "codes": ", ".join(self.codes),
            "observations": observations,
            "decode errors": errors,
            "window": f"{since or '…'} to {until or '…'}",
            "server": client.url,
        }


def look_up(client: Client, study_id: int, codes: list[str], patient_id: int | None, pool: ThreadPoolExecutor) -> Study:
    """The study's patients and requested codes (asked now), its consents and document
    (asked in `pool`); unknown codes warned of."""
    from jhe._jhe import ArgumentError

    native = client._native
    document = pool.submit(client._get, f"studies/{study_id}")
    requested_codes = pool.submit(_study.requested_codes, native, study_id)
    patients = _study.study_patients(native, study_id)
    if patient_id is not None:
        patients = [p for p in patients if p.get("id") == patient_id]
        if not patients:
            raise ArgumentError(f"quality(): patient {patient_id} is not enrolled in study {study_id}")
    consents = pool.submit(_study.consents, native, [p["id"] for p in patients])
    requested = requested_codes.result()
    if requested is None:
        requested = list(dict.fromkeys(c for consent in consents.result().values() for c in consent.codes_asked(study_id)))
    # Every code the study requests is one search of the study (the server serves only
    # those codes); named codes are a search each, read one after another.
    searched = list(codes) if codes else None
    codes = codes or [c for c in requested if _study.is_observation_code(c)]
    for code in _empty.unknown_codes(codes, requested):
        warnings.warn(_empty.unknown_code_message(code, study_id), _empty.EmptyResultWarning, stacklevel=_caller_stacklevel())
    return Study(study_id, patients, codes, searched, set(requested), consents, document)
