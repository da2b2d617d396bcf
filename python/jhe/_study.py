"""What the Exchange says about a study and its patients, read through the REST API: the
patients enrolled, the scopes (codes) the study requests, and each patient's consents.
The quality report's completeness and the explanation of an empty result both read it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jhe._jhe import NativeClient, NotFound, ProtocolError

CONSENTED = "consented"
NOT_CONSENTED = "not consented"
PENDING = "consent pending"
NOT_ENROLLED = "not enrolled"


def is_observation_code(code: str) -> bool:
    """Whether a scope is an observation's code (OMH or IEEE 1752), not another FHIR type."""
    return code.startswith(("omh:", "ieee:"))


def _document(text: str, path: str, kind: type) -> Any:
    """The JSON document the server sent for `path`, which must be a `kind` (dict or list)."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, kind):
        raise ProtocolError(f"the Exchange's answer to {path} is not a JSON {'object' if kind is dict else 'array'}")
    return document


def study_patients(native: NativeClient, study_id: int) -> list[dict[str, Any]]:
    """The study's patients (REST ``patients?study_id=``), each a dict with an integer ``id``
    (and ``birthDate``); entries without one are not patients and are left out."""
    patients = _document(native.list_json("patients", [("study_id", str(study_id))]), f"patients?study_id={study_id}", list)
    return [p for p in patients if isinstance(p, dict) and isinstance(p.get("id"), int) and not isinstance(p.get("id"), bool)]


def requested_codes(native: NativeClient, study_id: int) -> list[str] | None:
    """The codes the study requests (``studies/{id}/scope_requests``), in the server's
    order; None when the server has no such endpoint."""
    path = f"studies/{study_id}/scope_requests"
    try:
        scopes = _document(native.get_json(path), path, list)
    except NotFound:
        return None
    codes = (s.get("scopeCode") for s in scopes if isinstance(s, dict))
    return [c["codingCode"] for c in codes if isinstance(c, dict) and isinstance(c.get("codingCode"), str)]


@dataclass
class Consent:
    """One patient's consent, as ``patients/{id}/consents`` gives it."""

    studies: set[int] = field(default_factory=set)
    pending_studies: set[int] = field(default_factory=set)
    # study id -> code -> consented (True, False, or None when not yet answered)
    answers: dict[int, dict[str, bool | None]] = field(default_factory=dict)
    consolidated: set[str] = field(default_factory=set)

    def status(self, study_id: int, code: str) -> str:
        """``consented``, ``not consented``, ``consent pending`` or ``not enrolled``."""
        if study_id in self.pending_studies:
            return PENDING
        if study_id not in self.studies:
            return NOT_ENROLLED
        return CONSENTED if self.answers.get(study_id, {}).get(code) is True else NOT_CONSENTED

    def enrolled_in(self, study_id: int) -> bool:
        return study_id in self.studies or study_id in self.pending_studies

    def codes_asked(self, study_id: int) -> list[str]:
        return list(self.answers.get(study_id, {}))


def parse_consent(document: dict[str, Any]) -> Consent:
    scopes = document.get("consolidatedConsentedScopes")
    names = [s.get("codingCode") for s in _list(scopes) if isinstance(s, dict)]
    consent = Consent(consolidated={n for n in names if isinstance(n, str)})
    for key, pending in (("studies", False), ("studiesPendingConsent", True)):
        for study in _list(document.get(key)):
            if not isinstance(study, dict) or not isinstance(study.get("id"), int):
                continue
            (consent.pending_studies if pending else consent.studies).add(study["id"])
            answers = consent.answers.setdefault(study["id"], {})
            for entry in _list(study.get("scopeConsents")) + _list(study.get("pendingScopeConsents")):
                code = entry.get("code") if isinstance(entry, dict) else None
                name = code.get("codingCode") if isinstance(code, dict) else None
                if isinstance(name, str):
                    answers[name] = None if pending else entry.get("consented") is True
    return consent


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def consents(native: NativeClient, patient_ids: Iterable[int]) -> dict[int, Consent]:
    """Each patient's consent, read concurrently (at most the client's ``concurrency`` in flight)."""
    ids = list(patient_ids)
    paths = [f"patients/{i}/consents" for i in ids]
    documents = native.get_json_many(paths)
    return {i: parse_consent(_document(d, path, dict)) for i, d, path in zip(ids, documents, paths, strict=True)}
