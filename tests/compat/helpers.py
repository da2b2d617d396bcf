"""What the compat tests share: the IEEE system, interval column names, the codes as the
official client must be given them, and the layout comparison."""

from __future__ import annotations

import pandas as pd

IEEE = "https://w3id.org/ieee1752"

# Interval time frames that are not start + end (start or end + duration, date +
# part_of_day): the official columns are the payload's, and so are compat's.
INTERVAL_FORM_COLUMNS = tuple(
    "effective_time_frame_time_interval_" + name
    for name in ("duration_unit", "duration_value", "date", "part_of_day")
)
INTERVAL_BOUNDS = tuple(
    f"effective_time_frame_time_interval_{bound}_date_time{local}"
    for bound in ("start", "end")
    for local in ("", "_local")
)


def official_code(code: str) -> str:
    """The official client sends every bare code with the Open mHealth system; IEEE codes
    need theirs spelled out to match anything."""
    return f"{IEEE}|{code}" if code.startswith("ieee:") else code


def assert_same_layout(expected: pd.DataFrame, actual: pd.DataFrame, *, skip: tuple[str, ...] = ()) -> None:
    """``actual`` (compat) is ``expected`` (official), except the ``skip`` columns: the same
    columns in the same order, the same values, the same dtypes (numbers as the JSON wrote
    them: ``3828.0`` makes a float64 column)."""
    expected = expected.drop(columns=[c for c in expected.columns if c in skip])
    actual = actual.drop(columns=[c for c in actual.columns if c in skip])
    assert list(actual.columns) == list(expected.columns)
    assert dict(actual.dtypes) == dict(expected.dtypes)
    pd.testing.assert_frame_equal(actual, expected)

