"""Helpers shared by the test groups: data type codes, a plain HTTP GET and reference
implementations with the standard library, independent of jhe's Rust code."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

GLUCOSE = "omh:blood-glucose:4.0"
BLOOD_PRESSURE = "omh:blood-pressure:4.0"
HEART_RATE = "omh:heart-rate:2.0"
STEPS = "omh:step-count:3.0"

# The header row of the CSV the user guide's code writes.
GUIDE_HEADERS = [
    "Observation ID",
    "Patient Name",
    "Date/Time",
    "Glucose (mg/dL)",
    "Meal Context",
    "Data Source",
    "Created",
]


def http_get(url: str, token: str | None) -> tuple[int, Any]:
    """A plain GET, independent of jhe, returning (status, parsed JSON or text)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


DURATION_SECONDS = {
    "ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0, "s": 1.0, "min": 60.0,
    "h": 3600.0, "d": 86400.0, "wk": 604800.0, "Mo": 2629746.0, "yr": 31556952.0,
}
PART_OF_DAY_HOURS = {"morning": 6, "afternoon": 12, "evening": 18, "night": 0}
MG_DL_PER_MMOL_L = 18.0156


def utc(text: str) -> "pd.Timestamp":
    """Parse an ISO 8601 timestamp; no offset means UTC."""
    import pandas as pd
    from datetime import UTC, datetime

    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return pd.Timestamp(parsed).tz_convert("UTC")


def effective_start(frame: dict[str, Any]) -> "pd.Timestamp":
    """The start of an OMH effective_time_frame, every form."""
    import pandas as pd

    if "date_time" in frame:
        return utc(frame["date_time"])
    interval = frame["time_interval"]
    if "start_date_time" in interval:
        return utc(interval["start_date_time"])
    if "end_date_time" in interval:
        duration = interval["duration"]
        seconds = float(duration["value"]) * DURATION_SECONDS[duration["unit"]]
        return utc(interval["end_date_time"]) - pd.Timedelta(microseconds=round(seconds * 1e6))
    day = pd.Timestamp(interval["date"], tz="UTC")
    return day + pd.Timedelta(hours=PART_OF_DAY_HOURS[interval["part_of_day"]])


def query_of(record: dict[str, Any]) -> dict[str, list[str]]:
    """A logged request's query string, decoded."""
    return urllib.parse.parse_qs(record["query"] or "", keep_blank_values=True)


def observation_ids(df: "pd.DataFrame") -> list[int]:
    """Observation ids in row order; in the long layout an observation spans several rows."""
    return [int(i) for i in df["observation_id"].drop_duplicates()]


def expected_ids(rows: list[dict[str, Any]]) -> list[int]:
    """The ids of the fake Exchange's expected observations, in its order."""
    return [row["id"] for row in rows]
