"""Small jhe frames built by hand, in the long layout's columns, for checks whose answer a
test works out itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

GLUCOSE = "omh:blood-glucose:4.0"
HEART_RATE = "omh:heart-rate:2.0"
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
MEASURE = {GLUCOSE: ("blood_glucose", "mg/dL"), HEART_RATE: ("heart_rate", "beats/min")}


def long_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """One observation per dict: ``patient_id``, ``code``, ``minutes`` (after T0) and
    ``value``, and optionally ``observation_id``, ``offset_minutes``, ``created_minutes``,
    ``uuid``, ``start`` (a datetime instead of minutes)."""
    records = []
    for i, r in enumerate(rows):
        measure, unit = MEASURE[r.get("code", GLUCOSE)]
        start = r.get("start") or T0 + timedelta(minutes=r["minutes"])
        offset = r.get("offset_minutes", 0)
        created = r.get("created_minutes")
        records.append(
            {
                "observation_id": r.get("observation_id", 1000 + i),
                "patient_id": r.get("patient_id", 1),
                "code": r.get("code", GLUCOSE),
                "effective_start": start,
                "effective_end": None,
                "utc_offset": None if offset is None else timedelta(minutes=offset),
                "created": None if created is None else T0 + timedelta(minutes=created),
                "uuid": r.get("uuid", f"u{1000 + i}"),
                "measure": measure,
                "value": float(r["value"]),
                "unit": unit,
                "canonical_value": float(r["value"]),
                "canonical_unit": unit,
            }
        )
    return pl.DataFrame(
        records,
        schema={
            "observation_id": pl.Int64,
            "patient_id": pl.Int64,
            "code": pl.String,
            "effective_start": pl.Datetime("us", "UTC"),
            "effective_end": pl.Datetime("us", "UTC"),
            "utc_offset": pl.Duration("us"),
            "created": pl.Datetime("us", "UTC"),
            "uuid": pl.String,
            "measure": pl.String,
            "value": pl.Float64,
            "unit": pl.String,
            "canonical_value": pl.Float64,
            "canonical_unit": pl.String,
        },
    )


def series(values: list[float], every_minutes: float = 5, *, patient_id: int = 1, code: str = GLUCOSE, start_minutes: float = 0, first_id: int = 1000) -> list[dict[str, Any]]:
    return [
        {"patient_id": patient_id, "code": code, "minutes": start_minutes + i * every_minutes, "value": v, "observation_id": first_id + i}
        for i, v in enumerate(values)
    ]
