"""The result of a fetch: Arrow tables held by Rust, converted to pandas, polars or pyarrow
only when asked for, with a summary for notebooks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from jhe import _convert, _deidentify
from jhe._deidentify import DEFAULT_SHIFT_DAYS, Deidentification, Mode

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from jhe._jhe import NativeFetchResult


class Observations:
    """Observations fetched from an Exchange.

    One table in the long layout (or the wide layout of one code), or one table per code in
    the wide layout. Convert with :meth:`to_pandas`, :meth:`to_polars` or :meth:`to_arrow`;
    a single table also exports the Arrow PyCapsule stream (``__arrow_c_stream__``), so
    ``pyarrow.table(obs)`` or ``polars.DataFrame(obs)`` read it without a copy.

    Attributes:
        layout: ``"wide"`` or ``"long"``.
        codes: The codes of the wide tables (empty in the long layout).
        total: Observations in this result: the rows of its tables (in the long layout,
            distinct observations), what :meth:`summary` and the repr count.
        server_total: The server's count of matching observations. On an older server,
            which ignores time filters and matches codes loosely, that is before jhe applies
            them itself, so it can be larger than ``total``.
        errors: One dict per record that could not be fully decoded, or that the tables have
            no place for (``observation_id``, ``code``, ``reason``, ``raw``).
        source: The API and generation used, the observations held and the server's
            total, requests made, duplicate uuids; for an empty result of a study or
            patient, also ``empty_reason`` (why, as the Exchange tells it) and
            ``empty_cause`` (its kind; see :data:`jhe._empty.CAUSES`).
        cursor: For a batch of :meth:`jhe.Client.watch`: where the watch had read to, to
            resume it exactly (``watch(cursor=batch.cursor)``); None otherwise.
        server: The Exchange it came from (pseudonyms are keyed by it).
        deidentified: None, or the de-identification applied (``mode``, ``date_shift_days``).
    """

    def __init__(self, native: NativeFetchResult, *, strict: bool = False, server: str | None = None) -> None:
        self._native = native
        self._single_code = native.single_code
        self.layout: str = native.layout
        self.codes: list[str] = [code for code, _ in native.tables if code is not None]
        self.total: int = native.observations
        self.server_total: int = native.server_total
        self.errors: list[dict[str, Any]] = _convert.rows(native.errors)
        self.source: dict[str, Any] = _convert.source_of(native)
        self.cursor: str | None = None
        self.server = server
        self.deidentified: dict[str, Any] | None = None
        if strict:
            _convert.raise_for_errors(self.errors)

    @property
    def _tables(self) -> list[tuple[str | None, Any]]:
        # Asked for each time, not kept: held here, these references to the Rust tables
        # would keep their memory through a conversion that takes them (`_take_pandas`).
        return self._native.tables

    def deidentify(
        self, key: str | bytes | None = None, *, mode: Mode = "pseudonymize", date_shift_days: int = DEFAULT_SHIFT_DAYS
    ) -> Observations:
        """A de-identified copy (see :class:`jhe.Deidentification`): ``patient_id`` becomes
        ``pseudonym`` and ``observation_id`` its own pseudonym (keyed HMAC-SHA256, fixed-length
        hex), ``uuid`` and ``patient_name`` go, and each patient's times move by one whole
        number of weeks within ``date_shift_days`` (``mode="safe_harbor"``: become the time
        since the patient's first observation, beside ``first_year``). The key comes from
        ``key`` or ``JHE_DEID_KEY``.
        """
        settings = key if isinstance(key, Deidentification) else Deidentification(key, mode=mode, date_shift_days=date_shift_days)
        return _deidentify.observations(self, settings)

    @property
    def is_single_table(self) -> bool:
        """Whether this result is one table (long layout, or wide for one code asked for)."""
        return self.layout == "long" or self._single_code is not None

    def _single(self) -> Any:
        if self.layout == "long":
            return self._tables[0][1]
        for code, table in self._tables:
            if code == self._single_code:
                return table
        raise TypeError(
            f"this result holds one table per code ({', '.join(self.codes)}): "
            "convert it with to_pandas() / to_arrow() / to_polars(), which give a dict keyed by code"
        )

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The Arrow C stream of a single-table result."""
        return self._single().__arrow_c_stream__(requested_schema)

    def to_arrow(self) -> pa.Table | dict[str, pa.Table]:
        """A pyarrow Table, or a dict of them keyed by code (wide layout, several codes)."""
        if self.is_single_table:
            return _convert.to_pyarrow(self._single())
        return {str(code): _convert.to_pyarrow(table) for code, table in self._tables}

    def to_pandas(self, *, strict: bool = False) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """A pandas DataFrame, or a dict of them keyed by code (wide layout, several codes).

        Records that could not be decoded are listed in ``df.attrs["jhe_errors"]`` with one
        :class:`jhe.DecodeWarning`; with ``strict=True`` they raise :class:`jhe.DecodeError`.
        """
        return _convert.to_pandas(self._native, strict=strict, source=self.source)

    def _take_pandas(self, *, strict: bool = False) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """:meth:`to_pandas`, moving the tables out of this result as they are converted, so
        that the Arrow table and the frame are not both held whole. For a result nobody
        else sees (``fetch_dataframe``): it has no tables afterwards."""
        return _convert.to_pandas(self._native, strict=strict, take=True, source=self.source)

    def to_polars(self) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """A polars DataFrame, or a dict of them keyed by code (wide layout, several codes)."""
        polars = _convert._require("polars", "polars")
        if self.is_single_table:
            return polars.DataFrame(self._single())
        return {str(code): polars.DataFrame(table) for code, table in self._tables}

    def summary(self) -> list[dict[str, Any]]:
        """Per code: rows, patients, first and last effective time, and errors."""
        errors_by_code: dict[str, int] = {}
        for error in self.errors:
            errors_by_code[str(error["code"])] = errors_by_code.get(str(error["code"]), 0) + 1
        return [
            {**row, "errors": errors_by_code.get(str(row["code"]), 0)}
            for code, table in self._tables
            for row in _convert.summarize(table, code)
        ]

    def __repr__(self) -> str:
        lines = [
            f"<jhe.Observations: {self.source['observations']:,} observations, {self.layout} layout, "
            f"from {self.source['api'].upper()} ({self.source['generation']} API), {len(self.errors)} errors"
        ]
        for row in self.summary():
            lines.append(
                f"  {row['code']}: {_count(row['observations'])} observations, {_count(row['patients'])} patients, "
                f"{_day(row['first'])} to {_day(row['last'])}"
                + (f", {row['errors']} errors" if row["errors"] else "")
            )
        if self.deidentified is not None:
            lines.append(f"  de-identified: {self.deidentified['mode']}")
        if "empty_reason" in self.source:
            lines.append(f"  empty: {self.source['empty_reason']}")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>jhe.Observations</b>: {self.source['observations']:,} observations, {self.layout} layout, "
            f"from {html.escape(self.source['api'].upper())} ({html.escape(self.source['generation'])} API), "
            f"<b>{len(self.errors)}</b> errors</p>"
        )
        cells = "".join(
            f"<tr><td><code>{html.escape(str(r['code']))}</code></td><td>{_count(r['observations'])}</td>"
            f"<td>{_count(r['patients'])}</td><td>{_day(r['first'], '%Y-%m-%d %H:%M')}</td><td>{_day(r['last'], '%Y-%m-%d %H:%M')}</td>"
            f"<td>{r['errors']}</td></tr>"
            for r in self.summary()
        )
        table = (
            "<table><thead><tr><th>code</th><th>observations</th><th>patients</th><th>first</th>"
            f"<th>last</th><th>errors</th></tr></thead><tbody>{cells}</tbody></table>"
        )
        why = self.source.get("empty_reason")
        return head + table + (f"<p>Empty: {html.escape(why)}</p>" if why else "")


def _count(n: int | None) -> str:
    """A count, or ``?`` where ``columns=`` left its column out."""
    return "?" if n is None else f"{n:,}"


def _day(at: Any, format: str = "%Y-%m-%d") -> str:
    """A time, or ``?`` where ``columns=`` left ``effective_start`` out (or nothing had one);
    in Safe Harbor mode, the time since the patient's first observation."""
    if at is None:
        return "?"
    return f"{at:{format}}" if hasattr(at, "strftime") else str(at)
