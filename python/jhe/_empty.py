"""Why a fetch came back empty. Only for a result with no rows does jhe ask the Exchange
more (the study's scopes, the patient's consents, the data outside the time range), and
it says the first cause found in an :class:`EmptyResultWarning` and in
``obs.source["empty_reason"]`` (with ``obs.source["empty_cause"]``, one of
:data:`CAUSES`)."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from jhe import _study
from jhe._convert import _caller_stacklevel
from jhe._jhe import JHEError, NativeClient

if TYPE_CHECKING:
    from jhe._typing import Filters

CAUSES = (
    "unknown_code",
    "not_enrolled",
    "code_not_requested",
    "no_patients",
    "consent_pending",
    "not_consented",
    "no_data_in_range",
    "no_data",
)
TIME_FILTERS = ("since", "until", "updated_since")


class EmptyResultWarning(UserWarning):
    """A fetch returned no observations; the message says why (``obs.source["empty_reason"]``)."""


def catalogue_codes() -> list[str]:
    from jhe import catalog

    return [entry["code"] for clinical in (False, True) for entry in catalog(clinical=clinical)]


def nearest_codes(code: str, n: int = 3) -> list[str]:
    """The catalogue codes closest in spelling to `code` (difflib's ratio ≥ 0.75)."""
    return difflib.get_close_matches(code, catalogue_codes(), n=n, cutoff=0.75)


def unknown_code_message(code: str, study_id: int | None) -> str:
    where = f" nor among study {study_id}'s requested scopes" if study_id is not None else ""
    near = nearest_codes(code)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    return f"code {code!r} is not in jhe's catalogue{where}{hint}"


def unknown_codes(codes: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The codes neither in jhe's catalogue nor among the study's requested scopes."""
    known = set(catalogue_codes()) | set(requested or ())
    return [c for c in codes if c not in known]


def as_codes(code: str | Sequence[str] | None) -> list[str]:
    if code is None:
        return []
    return [code] if isinstance(code, str) else list(code)


def explain(
    native: NativeClient, study_id: int | None, patient_id: int | None, codes: list[str], filters: dict[str, Any]
) -> tuple[str, str] | None:
    """``(cause, message)`` for a query that matched nothing, or None when no cause is found
    (e.g. the patient or study could not be read)."""
    try:
        return _explain(native, study_id, patient_id, codes, filters)
    except JHEError as exc:
        return ("no_data", f"no observations match; jhe could not look up why: {exc}")


def _explain(native: NativeClient, study_id: int | None, patient_id: int | None, codes: list[str], filters: dict[str, Any]) -> tuple[str, str]:
    requested = _study.requested_codes(native, study_id) if study_id is not None else None
    unknown = unknown_codes(codes, requested)
    if unknown:
        return "unknown_code", unknown_code_message(unknown[0], study_id)
    consent = None
    if patient_id is not None:
        # An unknown patient never gets here: the fetch itself was refused (403, or 404 on REST).
        consent = _study.consents(native, [patient_id])[patient_id]
        if study_id is not None and not consent.enrolled_in(study_id):
            return "not_enrolled", f"patient {patient_id} is not enrolled in study {study_id}"
    if study_id is not None:
        if requested is None and consent is not None:
            requested = consent.codes_asked(study_id)
        if requested is not None and codes and not any(c in requested for c in codes):
            asked = ", ".join(c for c in requested if _study.is_observation_code(c)) or "no observation codes"
            return "code_not_requested", f"study {study_id} does not request {_join(codes)} (it requests {asked})"
    cause = _consent_cause(native, study_id, patient_id, codes, requested, consent)
    if cause is not None:
        return cause
    return _time_cause(native, study_id, patient_id, codes, filters)


def _consent_cause(
    native: NativeClient, study_id: int | None, patient_id: int | None, codes: list[str],
    requested: list[str] | None, consent: _study.Consent | None,
) -> tuple[str, str] | None:
    if study_id is None:
        if consent is not None and codes and not any(c in consent.consolidated for c in codes):
            return "not_consented", f"patient {patient_id} has not consented to share {_join(codes)} with any study"
        return None
    asked = _asked(codes, requested)
    if consent is not None:
        if study_id in consent.pending_studies:
            return "consent_pending", f"patient {patient_id}'s consent to study {study_id} is pending"
        if asked and all(consent.status(study_id, c) != _study.CONSENTED for c in asked):
            return "not_consented", f"patient {patient_id} has not consented to share {_join(asked)} with study {study_id}"
        return None
    patients = [p["id"] for p in _study.study_patients(native, study_id)]
    if not patients:
        return "no_patients", f"study {study_id} has no patients enrolled"
    consents = _study.consents(native, patients).values()
    pending = sum(study_id in c.pending_studies for c in consents)
    if pending == len(patients):
        return "consent_pending", f"the consent of every patient of study {study_id} ({pending}) is pending"
    if asked and not any(c.status(study_id, code) == _study.CONSENTED for c in consents for code in asked):
        return "not_consented", (
            f"none of study {study_id}'s {len(patients)} patients has consented to share {_join(asked)}"
            + (f" ({pending} pending)" if pending else "")
        )
    return None


def _asked(codes: list[str], requested: list[str] | None) -> list[str]:
    """The codes the query asks of the study: those given that it requests, or all it requests."""
    if not codes:
        return [c for c in requested or [] if _study.is_observation_code(c)]
    return [c for c in codes if requested is None or c in requested]


def _time_cause(native: NativeClient, study_id: int | None, patient_id: int | None, codes: list[str], filters: dict[str, Any]) -> tuple[str, str]:
    whose = f"patient {patient_id}" if patient_id is not None else f"study {study_id}"
    what = _join(codes) if codes else "observations"
    timed = {k: v for k, v in filters.items() if k in TIME_FILTERS and v is not None}
    if timed:
        untimed = {k: v for k, v in filters.items() if k not in TIME_FILTERS}
        span = native.effective_range(cast("Filters", untimed), study_id=study_id, patient_id=patient_id, codes=codes or None)
        if span is not None:
            first, last = (_utc(us) for us in span)
            asked = ", ".join(f"{k}={_text(v)}" for k, v in timed.items())
            return "no_data_in_range", f"{whose} has no {what} with {asked}; its data runs from {first} to {last}"
    return "no_data", f"{whose} has no {what} on the Exchange" + (" that match the filters" if filters else "")


def warn_if_empty(native: NativeClient, result: Any, study_id: int | None, patient_id: int | None, code: Any, filters: dict[str, Any]) -> None:
    """Look up and state why `result` (a :class:`jhe.Observations`) is empty, if it is."""
    if result.total or result.errors or (study_id is None and patient_id is None):
        return
    found = explain(native, study_id, patient_id, as_codes(code), filters)
    if found is None:
        return
    cause, message = found
    result.source["empty_cause"], result.source["empty_reason"] = cause, message
    warnings.warn(f"no observations: {message}", EmptyResultWarning, stacklevel=_caller_stacklevel())


def _join(codes: Sequence[str]) -> str:
    return " or ".join(codes)


def _utc(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
