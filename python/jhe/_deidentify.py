"""De-identification: keyed pseudonyms for patients and observations, a date shift per
patient (or Safe Harbor's year and relative times), direct identifiers removed.

The tables are de-identified in Rust (``jhe._jhe.NativeDeidentification``, the core's
``deidentify`` module); this module holds the user's settings and applies the same rules
to the patient list.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from jhe._jhe import ArgumentError, ConfigurationError, NativeDeidentification

if TYPE_CHECKING:
    import pandas as pd

    from jhe._result import Observations

ENV_KEY = "JHE_DEID_KEY"
Mode = Literal["pseudonymize", "safe_harbor"]
MODES: tuple[Mode, ...] = ("pseudonymize", "safe_harbor")
DEFAULT_SHIFT_DAYS = 365
# Safe Harbor: ages over 89 are one category.
OLDEST_AGE_SHOWN = 89
AGE_CATEGORY_90_PLUS = "90+"

# The patient list's direct identifiers, removed (`id` becomes `pseudonym`).
PATIENT_IDENTIFIERS = ("id", "nameFamily", "nameGiven", "telecomEmail", "telecomPhone", "identifiers", "jheUserId")


class Deidentification:
    """How results are de-identified: ``deidentify=jhe.Deidentification(...)`` on a fetch or
    export, or ``obs.deidentify(...)``.

    Args:
        key: The secret the pseudonyms and date shifts are derived from (text or bytes, at
            least 16 bytes), or ``JHE_DEID_KEY``; there is no default key. The same key
            gives the same pseudonyms and shifts on every run; keep it secret, and keep it
            to link later exports.
        mode: ``"pseudonymize"`` (default): ids become keyed pseudonyms and each patient's
            times move by one whole number of weeks (so weekday and time of day stay). ``"safe_harbor"``: no date element but
            the year; times become the time since the patient's first observation.
        date_shift_days: The widest shift, in days either way (pseudonymize mode): 0 for
            none, else at least 7 (shifts are whole weeks).

    The key is never shown, logged or written.
    """

    def __init__(
        self, key: str | bytes | None = None, *, mode: Mode = "pseudonymize", date_shift_days: int = DEFAULT_SHIFT_DAYS
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f'mode must be "pseudonymize" or "safe_harbor", got {mode!r}')
        if isinstance(date_shift_days, bool) or not isinstance(date_shift_days, int) or date_shift_days < 0:
            raise ConfigurationError(f"date_shift_days must be a whole number of days, 0 or more, got {date_shift_days!r}")
        self.mode: Mode = mode
        self.date_shift_days = date_shift_days if mode == "pseudonymize" else 0
        self._key = _key_bytes(key)
        # The core checks the key and the shift: asked once now, so a bad one fails here.
        NativeDeidentification(self._key, "", self.mode, self.date_shift_days)
        self._native_by_server: dict[str, NativeDeidentification] = {}

    def __repr__(self) -> str:
        shift = f", date_shift_days={self.date_shift_days}" if self.mode == "pseudonymize" else ""
        return f"jhe.Deidentification(mode={self.mode!r}{shift}, key=<hidden>)"

    def describe(self) -> dict[str, Any]:
        """The settings, without the key (what an audit line records)."""
        return {"mode": self.mode, "date_shift_days": self.date_shift_days}

    def native(self, server: str) -> NativeDeidentification:
        """The core's de-identification for `server` (pseudonyms are per server)."""
        if server not in self._native_by_server:
            self._native_by_server[server] = NativeDeidentification(self._key, server, self.mode, self.date_shift_days)
        return self._native_by_server[server]


def _key_bytes(key: str | bytes | None) -> bytes:
    if key is None:
        key = os.environ.get(ENV_KEY) or None
        if key is None:
            raise ConfigurationError(
                f"de-identification needs a key: pass key=... or set {ENV_KEY} "
                '(make one with `python -c "import secrets; print(secrets.token_hex(32))"`); there is no default key'
            )
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    raise ArgumentError(f"key must be text or bytes, got {type(key).__name__}")


def resolve(deidentify: bool | Deidentification | None) -> Deidentification | None:
    """A fetch's ``deidentify=``: True for the defaults (the key from ``JHE_DEID_KEY``)."""
    if deidentify is None or deidentify is False:
        return None
    if deidentify is True:
        return Deidentification()
    if isinstance(deidentify, Deidentification):
        return deidentify
    raise ArgumentError(f"deidentify must be True, False, None or a jhe.Deidentification, got {type(deidentify).__name__}")


def selection(filters: Any, settings: Deidentification | None) -> Any:
    """A fetch's filters with its ``columns=`` in the names the tables are built with: a
    de-identified table's ``pseudonym`` and ``first_year`` come from ``patient_id`` (which a
    shift needs, so it is always kept) and Safe Harbor's times from ``effective_start``."""
    columns = filters.get("columns")
    if settings is None or columns is None or isinstance(columns, str):
        return filters
    renamed = {"pseudonym": "patient_id", "first_year": "patient_id"}
    needed = ["patient_id", *(["effective_start"] if settings.mode == "safe_harbor" else [])]
    wanted = [renamed.get(name, name) for name in columns] + needed
    return {**filters, "columns": list(dict.fromkeys(wanted))}


def observations(result: Observations, settings: Deidentification) -> Observations:
    """`result` de-identified: a new :class:`jhe.Observations`."""
    from jhe._result import Observations

    if result.server is None:
        raise ConfigurationError("this result does not say which Exchange it came from, so it cannot be pseudonymized")
    native = settings.native(result.server).apply(result._native)
    out = Observations(native, server=result.server)
    out.deidentified = settings.describe()
    out.cursor = result.cursor
    for name in ("empty_reason", "empty_cause"):
        if name in result.source:
            out.source[name] = result.source[name]
    return out


def patients(frame: pd.DataFrame, settings: Deidentification, server: str, today: date | None = None) -> pd.DataFrame:
    """The patient list by the same rules: ``id`` becomes ``pseudonym``, names, emails,
    phones, identifiers and the JHE user id go; the birth date shifts with the patient's
    times, or (Safe Harbor) becomes ``birth_year`` and ``age``, with ages over 89 as "90+"."""
    import pandas as pd

    out = frame.drop(columns=[name for name in PATIENT_IDENTIFIERS if name in frame.columns])
    ids = [int(i) for i in frame["id"]] if "id" in frame.columns else []
    keyed = settings.native(server).patients(ids)
    out.insert(0, "pseudonym", [pseudonym for pseudonym, _ in keyed])
    if "birthDate" in frame.columns:
        births = pd.to_datetime(frame["birthDate"], errors="coerce").dt.date
        position = list(out.columns).index("birthDate")
        out = out.drop(columns=["birthDate"])
        if settings.mode == "safe_harbor":
            ages = [_age(birth, today or date.today()) for birth in births]
            years = [None if age is None or age > OLDEST_AGE_SHOWN else birth.year for birth, age in zip(births, ages)]
            shown = [None if age is None else AGE_CATEGORY_90_PLUS if age > OLDEST_AGE_SHOWN else str(age) for age in ages]
            out.insert(position, "birth_year", pd.Series(years, dtype="Int64", index=out.index))
            out.insert(position + 1, "age", shown)
        else:
            shifted = [None if pd.isna(birth) else (birth + timedelta(days=shift)).isoformat() for birth, (_, shift) in zip(births, keyed)]
            out.insert(position, "birthDate", shifted)
    return out


def _age(birth: date | None, today: date) -> int | None:
    if birth is None or birth != birth:  # NaT
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
