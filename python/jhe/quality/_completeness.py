"""Completeness: one row per enrolled patient × requested code, with what arrived and why
nothing did.

``status`` is decided in this order: the study does not request the code (``not
requested by study``); the patient's consent to the study is pending (``consent
pending``); the patient did not consent to the code (``not consented``); then ``has
data`` or ``no data``, by the observations fetched."""

from __future__ import annotations

from typing import Any

from jhe._study import CONSENTED, NOT_CONSENTED, PENDING, Consent
from jhe.quality._frame import polars
from jhe.quality._series import local_day

HAS_DATA = "has data"
NO_DATA = "no data"
NOT_REQUESTED = "not requested by study"
STATUSES = (HAS_DATA, NO_DATA, NOT_CONSENTED, PENDING, NOT_REQUESTED)


def completeness(
    study_id: int,
    patient_ids: list[int],
    codes: list[str],
    requested: set[str],
    consents: dict[int, Consent],
    observations: Any,
) -> Any:
    pl = polars()
    counts = (
        observations.filter(pl.col("effective_start").is_not_null())
        .with_columns(day=local_day())
        .group_by("patient_id", "code")
        .agg(
            observations=pl.col("observation_id").n_unique(),
            first=pl.col("effective_start").min(),
            last=pl.col("effective_start").max(),
            days_with_data=pl.col("day").n_unique(),
        )
    )
    untimed = observations.filter(pl.col("effective_start").is_null()).group_by("patient_id", "code").agg(untimed=pl.len())
    consent_of = [
        (p, c, _consent_status(consents.get(p), study_id, c, requested)) for p in patient_ids for c in codes
    ]
    grid = pl.DataFrame(consent_of, schema={"patient_id": pl.Int64, "code": pl.Categorical, "consent": pl.String}, orient="row")
    observed = (pl.col("observations") + pl.col("untimed")) > 0
    status = pl.when(pl.col("consent") != CONSENTED).then(pl.col("consent")).when(observed).then(pl.lit(HAS_DATA)).otherwise(pl.lit(NO_DATA))
    return (
        grid.join(counts, on=["patient_id", "code"], how="left")
        .join(untimed, on=["patient_id", "code"], how="left")
        .with_columns(
            pl.col("observations").fill_null(0).cast(pl.Int64),
            pl.col("days_with_data").fill_null(0).cast(pl.Int64),
            pl.col("untimed").fill_null(0).cast(pl.Int64),
        )
        # Records without a usable time (listed in the errors) still arrived.
        .with_columns(status=status, observations=pl.col("observations") + pl.col("untimed"))
        .select("patient_id", "code", "observations", "first", "last", "days_with_data", "status")
        .sort(["patient_id", "code"])
    )


def _consent_status(consent: Consent | None, study_id: int, code: str, requested: set[str]) -> str:
    if code not in requested:
        return NOT_REQUESTED
    if consent is None:
        return NOT_CONSENTED
    status = consent.status(study_id, code)
    return status if status in (CONSENTED, PENDING) else NOT_CONSENTED
