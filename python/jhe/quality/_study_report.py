"""``client.quality(...)``: the study's patients, requested scopes and consents from the
REST API (the consents read while the study is fetched), one fetch of the study (one
search for every code it requests, or one per code named), then every check over the
result."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
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
    from jhe._jhe import ArgumentError

    settings = Settings(k=k, threshold_std=threshold_std, mad_k=mad_k, valid_day_percent=valid_day_percent, tolerance=tolerance)
    native = client._native
    # The study's lookups run beside each other, and the consents (one request per patient)
    # beside the fetch: at a real Exchange's latency each would otherwise add its own wait.
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="jhe-quality")
    try:
        study = pool.submit(client._get, f"studies/{study_id}")
        requested_codes = pool.submit(_study.requested_codes, native, study_id)
        patients = _study.study_patients(native, study_id)
        if patient_id is not None:
            patients = [p for p in patients if p.get("id") == patient_id]
            if not patients:
                raise ArgumentError(f"quality(): patient {patient_id} is not enrolled in study {study_id}")
        ids = [p["id"] for p in patients]
        consents = pool.submit(_study.consents, native, ids)
        requested = requested_codes.result()
        if requested is None:
            requested = list(dict.fromkeys(c for consent in consents.result().values() for c in consent.codes_asked(study_id)))
        # Every code the study requests is one search of the study (the server serves only
        # those codes); named codes are a search each, read one after another.
        every_code = not codes
        codes = codes or [c for c in requested if _study.is_observation_code(c)]
        for code in _empty.unknown_codes(codes, requested):
            warnings.warn(_empty.unknown_code_message(code, study_id), _empty.EmptyResultWarning, stacklevel=_caller_stacklevel())
        fetched_at = now_utc()
        filters = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        with warnings.catch_warnings():
            # The report states what is missing and why; the fetch's own warnings would repeat it.
            warnings.simplefilter("ignore", _empty.EmptyResultWarning)
            searched = None if every_code else codes
            obs = client.fetch(study_id=study_id, patient_id=patient_id, code=searched, layout="long", progress=progress, **filters)
        consent_of, study_document = consents.result(), study.result()
    finally:
        # On an error or Ctrl-C, what has not started is not started.
        pool.shutdown(wait=False, cancel_futures=True)
    frame = read(obs)
    table = completeness(study_id, ids, codes, set(requested), consent_of, frame.observations)
    context = {
        "study": f"{study_id} ({study_document.get('name', '')})",
        "patients": len(ids),
        "codes": ", ".join(codes),
        "observations": obs.total,
        "decode errors": len(obs.errors),
        "window": f"{since or '…'} to {until or '…'}",
        "server": client.url,
    }
    birth_dates = {p["id"]: p["birthDate"] for p in patients if p.get("birthDate")}
    return build_report(
        frame, obs.errors, now=fetched_at, settings=settings, completeness=table, birth_dates=birth_dates,
        title=f"Data quality: study {study_id}", context=context,
    )
