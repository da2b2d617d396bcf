"""Drop-in compatibility with the official ``jupyterhealth-client`` 0.5.

An existing notebook switches by changing one import::

    # from jupyterhealth_client import JupyterHealthClient, Code
    from jhe.compat import JupyterHealthClient, Code

    client = JupyterHealthClient()  # JHE_URL and JHE_TOKEN
    df = client.list_observations_df(patient_id=40001, code=Code.BLOOD_GLUCOSE)

The public names and signatures are those of ``jupyterhealth_client`` 0.5
(:class:`JupyterHealthClient`, :class:`Code`, :class:`RequestError`,
:func:`tidy_observation`), and :meth:`JupyterHealthClient.list_observations_df` returns the
official ``tidy_observation`` column layout (``resource_type``, ``code``,
``meta_lastUpdated``, ``id``, ..., ``blood_glucose_value``,
``effective_time_frame_date_time``, ``..._local``). Underneath, :class:`jhe.Client` fetches
every page concurrently and decodes the payloads in Rust; the layout is built from its
result with column operations, not one Python dict per observation.

Differences from the official client (deliberate or unavoidable):

* **No silent 2000-row cut.** ``limit`` defaults to ``None``: every observation. Pass
  ``limit=N`` for the first (newest) N; ``limit=0`` means no limit, as in the official client.
* **IEEE codes are found.** A code without a system gets its own (``https://w3id.org/ieee1752``
  for ``ieee:*``); the official client always sends the Open mHealth system, so
  ``Code.SLEEP_STAGE_SUMMARY`` and ``Code.FOOD_ENTRY`` match nothing on current servers.
* **Every official column.** The resource's ``meta.source`` and ``identifier``, the whole
  OMH header (``schema_id``, ``creation_date_time``, ``source_creation_date_time``,
  ``external_datasheets``, ...) and the body's ``effective_time_frame`` as the payload wrote
  it (a date-time, or an interval as start and end, start or end plus ``duration``, or
  ``date`` + ``part_of_day``) come from the engine's opt-in extras (``NativeClient.fetch(...,
  extras=True)``: flattened by key path and typed in Rust, date-times as UTC timestamps with
  wall-time twins); jhe's own layouts do not carry them.
  ``code_coding_0_display`` and ``code_coding_0_system`` come from the Exchange's data-source
  scopes and ``subject_identifier_value`` from the patient's ``jheUserId`` (one small REST
  listing each, cached per client).
* **Integer or float.** A numeric column is ``int64`` when every value is present and
  integral, otherwise ``float64``; the official client follows how the JSON wrote each number
  (``3828`` vs ``3828.0``), which the engine does not keep.
* **Damaged records are kept**, with what could be read, listed in
  ``df.attrs["jhe_errors"]`` with a :class:`jhe.DecodeWarning`; the official client raises on
  the first payload it cannot decode.
* :meth:`~JupyterHealthClient.list_observations` yields Observation resources rebuilt from
  the decoded data (the fields above, ``meta.source`` and ``identifier``; the
  ``valueAttachment`` holds the decoded OMH header and body, keys in the server's order), so ``tidy_observation`` on them gives the rows of
  ``list_observations_df``. Listing calls yield the same dicts as the official client (keys
  in alphabetical order). ``JHE_URL`` is read when the client is made (the official client
  reads it at import). Errors are :class:`jhe.JHEError` (``RequestError`` is an alias), not
  ``requests.HTTPError``. The raw FHIR helpers (``get_fhir``, ``list_fhir``, ...) and
  non-GET ``api_request`` are not available.
* Works with both API generations (the official client needs ``/FHIR/R5``), retries
  transient failures, and accepts jhe's other options (``client_key``, ``timeout``, ...).
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import logging
import os
import warnings
from collections.abc import Generator, Iterable, Iterator, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from jhe._client import Client
from jhe._result import Observations
from jhe._convert import _require
from jhe._jhe import JHEError

if TYPE_CHECKING:
    import pandas as pd
    from pandas import DataFrame as _DataFrame
    from pandas import Series as _Series

__all__ = ["Code", "JupyterHealthClient", "RequestError", "tidy_observation"]

_log = logging.getLogger("jhe")

OMH_SYSTEM = "https://w3id.org/openmhealth"
IEEE_SYSTEM = "https://w3id.org/ieee1752"
JHE_USER_ID_SYSTEM = "https://jupyterhealth.org/fhir/identifier/jhe-user-id"

#: Errors of this client. The official ``RequestError`` wraps ``requests.HTTPError``; here
#: every error is a :class:`jhe.JHEError` (with ``status``, ``url`` and ``diagnostics``).
RequestError = JHEError


class Code(Enum):
    """Enum of recognized coding values (the same members and values as
    ``jupyterhealth_client.Code``).

    Can be used to filter Observations on a given record type, e.g. with
    :meth:`JupyterHealthClient.list_observations`. Any code string works too.
    """

    BLOOD_PRESSURE = "omh:blood-pressure:4.0"
    BLOOD_GLUCOSE = "omh:blood-glucose:4.0"
    HEART_RATE = "omh:heart-rate:2.0"
    SLEEP_STAGE_SUMMARY = "ieee:sleep-stage-summary:1.0"
    FOOD_ENTRY = "ieee:food-entry:0.1"


# ---------------------------------------------------------------------------------------
# tidy_observation: the official per-observation flattening, for code that calls it itself.


def _flatten(d: dict[Any, Any] | list[Any], prefix: str = "") -> dict[str, Any]:
    """Nested keys joined with ``_``; lists as dicts with integer keys."""
    items = enumerate(d) if isinstance(d, list) else d.items()
    flat: dict[str, Any] = {}
    for key, value in items:
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, dict | list):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def tidy_observation(observation: dict[str, Any]) -> dict[str, Any]:
    """Flatten one Observation resource (as yielded by ``list_observations``, of this client
    or the official one) into one level, exactly as ``jupyterhealth_client.tidy_observation``:
    ``resource_type`` and ``code``, then the resource's fields, the OMH header's and the
    body's, nested keys joined with ``_``; every ``*date_time`` field becomes a UTC
    timestamp and gains a ``*_date_time_local`` twin (wall time in the payload's offset, no
    timezone); ``meta_lastUpdated`` becomes a UTC timestamp.

    For many observations, :meth:`JupyterHealthClient.list_observations_df` builds the same
    columns without a Python call per observation.
    """
    pd = _require("pandas", "pandas")
    attachment = observation["valueAttachment"]
    if "json" not in attachment["contentType"]:
        raise ValueError(
            f"Unrecognized contentType={attachment['contentType']} in observation {observation['id']}"
        )
    record = json.loads(base64.b64decode(attachment["data"]))
    header, body = (record.get("header", {}), record["body"]) if "body" in record else ({}, record)
    code = observation["code"]["coding"][0]["code"]
    data: dict[str, Any] = {"resource_type": code, "code": code}
    data.update(_flatten({k: v for k, v in observation.items() if k != "valueAttachment"}))
    data.update(_flatten(header))
    data.update(_flatten(body))
    for key in list(data):
        if key.endswith("date_time"):
            text = data[key]
            data[key] = pd.to_datetime(text, utc=True)
            data[key + "_local"] = pd.to_datetime(text).tz_localize(None)
    if "meta_lastUpdated" in data:
        data["meta_lastUpdated"] = pd.to_datetime(data["meta_lastUpdated"], utc=True)
    return data


# ---------------------------------------------------------------------------------------
# The official layout, built from jhe's long table with column operations: numpy scatter
# by observation, category codes and Arrow casts for text; Python loops only over distinct
# codes, measures, patients and presence patterns, never over observations.

# Resource fields in the order each API generation writes them (see API.md); the
# official client flattens them in this order, before the OMH header and body.
_FHIR_ORDER = {
    "current": (
        "meta_lastUpdated", "meta_source", "id", "identifier_0_system", "identifier_0_value",
        "status", "code_coding_0_system", "code_coding_0_code", "code_coding_0_display",
        "effectiveDateTime", "effectivePeriod_start", "effectivePeriod_end",
        "subject_reference", "subject_identifier_system", "subject_identifier_value",
        "resourceType",
    ),
    "legacy": (
        "resourceType", "id", "meta_lastUpdated", "status", "subject_reference",
        "code_coding_0_code", "code_coding_0_system",
    ),
}
_HEAD, _FHIR, _HEADER, _BODY, _LOCAL = range(5)


def _modules() -> tuple[Any, Any, Any, Any]:
    pd = _require("pandas", "pandas")
    np = _require("numpy", "pandas")
    pa = _require("pyarrow", "pyarrow")
    pc = importlib.import_module("pyarrow.compute")
    return pd, np, pa, pc


def _jsonb_key(name: str | int) -> tuple[int, bytes]:
    """Where PostgreSQL JSONB (the Exchange's storage) puts a key: shorter keys first, then
    bytewise. Servers return OMH documents in that order, so the official columns follow it."""
    if isinstance(name, int):
        return (name, b"")
    raw = name.encode()
    return (len(raw), raw)


def _path_key(section: int, path: Iterable[str | int]) -> tuple[Any, ...]:
    return (section, *(_jsonb_key(p) for p in path))


def _flatten_paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    """Leaves of a JSON value with their key paths (list items by index)."""
    if isinstance(node, dict | list):
        items = enumerate(node) if isinstance(node, list) else node.items()
        return [leaf for key, value in items for leaf in _flatten_paths(value, (*path, key))]
    return [(path, node)]


@functools.cache
def _reference_dtypes() -> dict[str, Any]:
    """The dtypes pandas gives the official ``DataFrame.from_records`` of tidy dicts
    (``str`` and ``datetime64[us]`` on pandas 3, ``object`` and ``[ns]`` on pandas 2)."""
    pd = _require("pandas", "pandas")
    stamp = pd.to_datetime("2020-01-01T00:00:00Z", utc=True)
    ref = pd.DataFrame.from_records(
        [{"s": "x", "u": stamp, "l": pd.to_datetime("2020-01-01T00:00:00+01:00").tz_localize(None)}]
    )
    return {"str": ref.dtypes["s"], "utc": ref.dtypes["u"], "local": ref.dtypes["l"]}


def _to_str(array: Any) -> pd.Series:
    """An Arrow string array as a column of the official string dtype (missing: NaN)."""
    pd, np, _, _ = _modules()
    series = pd.Series(array.to_pandas()).astype(_reference_dtypes()["str"])
    if series.dtype == object:
        series = series.where(series.notna(), np.nan)
    return cast("_Series", series)


def _str_codes(codes: Any, categories: list[str]) -> pd.Series:
    """A text column from category codes (-1: missing)."""
    _, np, pa, _ = _modules()
    codes = np.asarray(codes, dtype=np.int32)
    if not categories:
        return _to_str(pa.nulls(len(codes), pa.string()))
    indices = pa.array(codes, mask=codes < 0)
    return _to_str(pa.DictionaryArray.from_arrays(indices, pa.array(categories, pa.string())).dictionary_decode())


def _str_lookup(codes: Any, values: Sequence[str | None]) -> pd.Series:
    """A text column ``values[codes[i]]`` (a ``None`` value and code -1: missing)."""
    _, np, _, _ = _modules()
    categories = list(dict.fromkeys(v for v in values if v is not None))
    where = {v: i for i, v in enumerate(categories)}
    lut = np.array([where[v] if v is not None else -1 for v in values] + [-1], dtype=np.int32)
    return _str_codes(lut[np.asarray(codes)], categories)


def _categorical(series: pd.Series) -> Any:
    pd = _require("pandas", "pandas")
    return series.array if isinstance(series.dtype, pd.CategoricalDtype) else pd.Categorical(series)


def _iso(stamps: pd.Series, suffix: Any = "Z") -> pd.Series:
    """Instants as ISO text, ``2025-12-31T23:54:40`` (a fraction only where there is one) and
    ``suffix`` (``Z``, or per row an Arrow array of offsets like ``+05:30``)."""
    _, np, pa, pc = _modules()
    naive = stamps.dt.tz_localize(None) if stamps.dt.tz is not None else stamps
    naive = naive.astype("datetime64[us]")
    missing = naive.isna().to_numpy()
    micros = pa.array(naive.to_numpy(), type=pa.timestamp("us"), mask=missing)
    text = pc.cast(pc.cast(micros, pa.timestamp("s"), safe=False), pa.string())
    fractional = ~missing & (naive.dt.microsecond.fillna(0).to_numpy() != 0)
    if fractional.any():
        text = pc.if_else(pa.array(fractional), pc.cast(micros, pa.string()), text)
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    if not isinstance(suffix, pa.Array):
        suffix = pa.scalar(suffix, pa.string())
    return _to_str(pc.binary_join_element_wise(text, suffix, ""))


def _offset_suffixes(offsets: pd.Series) -> Any:
    """Per row, a payload's UTC offset as ISO text: ``+05:30``, ``-05:00``, or ``Z`` for none."""
    pd, np, pa, _ = _modules()
    codes, uniques = pd.factorize(offsets)
    texts = []
    for offset in uniques:
        seconds = int(pd.Timedelta(offset).total_seconds())
        sign, seconds = ("+" if seconds >= 0 else "-"), abs(seconds)
        texts.append(f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}")
    return pa.array(np.array([*texts, "Z"], dtype=object)[codes])


def _observations(long: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """One row per observation (in order) and, per long row, its observation's position."""
    pd = _require("pandas", "pandas")
    positions, _ = pd.factorize(long["observation_id"])
    obs = long.loc[~long["observation_id"].duplicated().to_numpy()].reset_index(drop=True)
    return obs, positions


def _system(code: str, scopes: dict[str, tuple[str | None, str | None]], systems: dict[str, str]) -> str:
    """A code's coding system: as asked for, as the Exchange's scopes say, else by namespace."""
    return systems.get(code) or (scopes.get(code) or (None, None))[0] or (
        IEEE_SYSTEM if code.startswith("ieee:") else OMH_SYSTEM
    )


class _Columns:
    """Columns of the tidy table, each with its place in an observation's flattened dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.keys: dict[str, tuple[Any, ...]] = {}

    def add(self, name: str, key: tuple[Any, ...], values: Any) -> None:
        if name in self.values:
            # The same flattened name from two places (e.g. a number in one payload and text
            # in another): one column, first value wins, as dict.update would leave it.
            pd = _require("pandas", "pandas")
            old = self.values[name].astype(object)
            values = pd.Series(old.where(old.notna(), values.astype(object)).tolist())
            key = min(key, self.keys[name])
        self.values[name] = values
        self.keys[name] = key


def _body_columns(long: pd.DataFrame, positions: Any, n: int, cols: _Columns) -> None:
    """jhe's long rows (one per observation and measure) as the official body columns: a
    quantity ``{path}_unit`` and ``{path}_value``, a category or text ``{path}``, a flag
    ``{path}`` (bool), a bare number ``{path}``; JSON arrays (unknown codes) by index."""
    pd, np, _, _ = _modules()
    measure, unit, text = (_categorical(long[c]) for c in ("measure", "unit", "text"))
    m_codes, u_codes, t_codes = (np.asarray(c.codes) for c in (measure, unit, text))
    m_names = [str(c).split(".") for c in measure.categories]
    u_cats, t_cats = [str(c) for c in unit.categories], [str(c) for c in text.categories]
    value = long["value"].to_numpy(dtype="float64", na_value=np.nan)
    has, unit_ok, text_ok, value_ok = m_codes >= 0, u_codes >= 0, t_codes >= 0, ~np.isnan(value)

    boolean = np.array([c in ("true", "false") for c in t_cats] + [False], dtype=bool)[t_codes]
    is_true = np.array([c == "true" for c in t_cats] + [False], dtype=bool)[t_codes]
    arrays: dict[int, list[tuple[tuple[str | int, ...], Any]]] = {}
    for i, category in enumerate(t_cats):
        if category.startswith("["):
            try:
                parsed = json.loads(category)
            except ValueError:
                continue
            if isinstance(parsed, list):
                arrays[i] = _flatten_paths(parsed)
    is_array = np.array([i in arrays for i in range(len(t_cats))] + [False], dtype=bool)[t_codes]
    scalar = has & ~unit_ok
    specs = [
        ("unit", has & unit_ok, "str", (u_codes, u_cats)),
        ("value", has & unit_ok & value_ok, "num", value),
        (None, scalar & value_ok & ~text_ok, "num", value),
        (None, scalar & value_ok & boolean, "bool", is_true),
        (None, scalar & ~value_ok & text_ok & ~is_array, "str", (t_codes, t_cats)),
    ]
    for leaf, mask, kind, source in specs:
        rows = np.flatnonzero(mask)
        rows = rows[np.argsort(m_codes[rows], kind="stable")]
        for group in np.split(rows, np.flatnonzero(np.diff(m_codes[rows])) + 1) if len(rows) else []:
            path = (*m_names[m_codes[group[0]]], *((leaf,) if leaf else ()))
            at = positions[group]
            if kind == "num":
                column = np.full(n, np.nan)
                column[at] = source[group]
                series = pd.Series(column)
                if len(at) == n and np.array_equal(column, np.round(column)):
                    series = series.astype("int64")  # every value integral: as JSON integers would be
            elif kind == "bool":
                column = np.zeros(n, dtype=bool) if len(at) == n else np.full(n, np.nan, dtype=object)
                column[at] = source[group]
                series = pd.Series(column)
            else:
                codes, categories = source
                column = np.full(n, -1, dtype=np.int32)
                column[at] = codes[group]
                series = _str_codes(column, categories)
            cols.add("_".join(map(str, path)), _path_key(_BODY, path), series)
    # JSON arrays (only unknown codes have them): one step per such row.
    cells: dict[tuple[str | int, ...], list[Any]] = {}
    for row in np.flatnonzero(scalar & ~value_ok & is_array):
        for sub, item in arrays[t_codes[row]]:
            cells.setdefault((*m_names[m_codes[row]], *sub), [np.nan] * n)[positions[row]] = item
    for path, items in cells.items():
        cols.add("_".join(map(str, path)), _path_key(_BODY, path), pd.Series(items))  # inferred, as from_records


def _extras_path(column: str) -> tuple[str, tuple[str | int, ...]]:
    """An extras column's section and key path: ``header.schema_id.name`` →
    ``("header", ("schema_id", "name"))``; list indices as integers."""
    section, *path = column.split(".")
    return section, tuple(int(p) if p.isdigit() else p for p in path)


def _extras(obs: pd.DataFrame) -> list[str]:
    """The engine's extras columns (``fetch(extras=True)``), without the local twins."""
    return [c for c in obs.columns if "." in c and not c.endswith(":local")]


def _extras_columns(obs: pd.DataFrame, fhir: dict[str, int], cols: _Columns) -> None:
    """The resource's ``meta_source`` and ``identifier_*``, the OMH header's fields
    (``schema_id_*``, ``*creation_date_time`` and twins, ``external_datasheets_*``, ...) and
    the body's ``effective_time_frame_*`` as written (``..._date_time``, or the interval's
    ``start_date_time`` / ``end_date_time`` / ``duration_*`` / ``date`` / ``part_of_day``),
    from the engine's extras columns: typed in Rust, converted here per column."""
    pd, np, _, _ = _modules()
    dtypes = _reference_dtypes()
    n = len(obs)
    for column in _extras(obs):
        section, path = _extras_path(column)
        name = "_".join(map(str, (section, *path) if section not in ("header", "body") else path))
        if section == "header":
            key = _path_key(_HEADER, path)
        elif section == "body":
            key = _path_key(_BODY, path)  # effective_time_frame as written
        elif name in fhir:
            key = (_FHIR, fhir[name])
        elif section == "identifier" and "identifier_0_value" in fhir:
            key = (_FHIR, fhir["identifier_0_value"], *(_jsonb_key(p) for p in path))
        else:
            continue  # a field the official layout of this API generation does not have
        if name in cols.values:
            continue  # uuid, modality, source_name: already there
        values = obs[column]
        kind = str(values.dtype)
        if f"{column}:local" in obs.columns:
            cols.add(name, key, values.astype(dtypes["utc"]))
            cols.add(name + "_local", (_LOCAL, key), obs[f"{column}:local"].astype(dtypes["local"]))
            continue
        present = values.notna().to_numpy()
        if kind in ("int64", "Int64", "float64"):
            numbers = values.astype("float64").to_numpy(na_value=np.nan) if kind == "Int64" else values.to_numpy(dtype="float64")
            series = pd.Series(numbers)
            if kind != "float64" and present.all():
                series = series.astype("int64")
        elif kind in ("bool", "boolean"):
            flags = values.astype(object).where(present, np.nan).to_numpy()
            series = pd.Series(flags.astype(bool) if present.all() else flags)
        else:
            codes, uniques = pd.factorize(values)
            series = _str_codes(codes, [str(u) for u in uniques])
        if n and not present.any():
            continue
        cols.add(name, key, series)


def _tidy_frame(
    long: pd.DataFrame,
    *,
    generation: str,
    scopes: dict[str, tuple[str | None, str | None]],
    user_ids: dict[int, int],
    systems: dict[str, str],
) -> pd.DataFrame:
    """The official ``list_observations_df`` table from jhe's long layout."""
    pd, np, pa, _ = _modules()
    if long.empty:
        return cast("_DataFrame", pd.DataFrame())
    dtypes = _reference_dtypes()
    obs, positions = _observations(long)
    n = len(obs)
    cols = _Columns()
    fhir = {name: i for i, name in enumerate(_FHIR_ORDER["current" if generation == "current" else "legacy"])}

    def fhir_col(name: str, make: Any) -> None:
        if name in fhir:
            cols.add(name, (_FHIR, fhir[name]), make())

    c_codes, c_uniques = pd.factorize(obs["code"])
    codes = [str(c) for c in c_uniques]
    cols.add("resource_type", (_HEAD, 0), _str_lookup(c_codes, codes))
    cols.add("code", (_HEAD, 1), _str_lookup(c_codes, codes))
    fhir_col("meta_lastUpdated", lambda: obs["last_updated"].astype(dtypes["utc"]))
    fhir_col("id", lambda: _to_str(pa.array(obs["observation_id"].to_numpy()).cast(pa.string())))
    fhir_col("status", lambda: _str_codes(np.zeros(n), ["final"]))
    fhir_col("code_coding_0_system", lambda: _str_lookup(c_codes, [_system(c, scopes, systems) for c in codes]))
    fhir_col("code_coding_0_code", lambda: _str_lookup(c_codes, codes))
    fhir_col("code_coding_0_display", lambda: _str_lookup(c_codes, [(scopes.get(c) or (None, None))[1] for c in codes]))
    start, end = obs["effective_start"], obs["effective_end"]
    point = (start.notna() & end.isna()).to_numpy()
    interval = (start.notna() & end.notna()).to_numpy()
    fhir_col("effectiveDateTime", lambda: _iso(start.where(point)))
    fhir_col("effectivePeriod_start", lambda: _iso(start.where(interval)))
    fhir_col("effectivePeriod_end", lambda: _iso(end.where(interval)))
    p_codes, p_uniques = pd.factorize(obs["patient_id"])
    patients = [int(p) for p in p_uniques]
    fhir_col("subject_reference", lambda: _str_lookup(p_codes, [f"Patient/{p}" for p in patients]))
    fhir_col("subject_identifier_system",
             lambda: _str_lookup(p_codes, [JHE_USER_ID_SYSTEM if p in user_ids else None for p in patients]))
    fhir_col("subject_identifier_value",
             lambda: _str_lookup(p_codes, [str(user_ids[p]) if p in user_ids else None for p in patients]))
    fhir_col("resourceType", lambda: _str_codes(np.zeros(n), ["Observation"]))

    _extras_columns(obs, fhir, cols)
    cols.add("uuid", _path_key(_HEADER, ["uuid"]), obs["uuid"].astype(object).astype(dtypes["str"]))
    header: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("modality", ("modality",)), ("source_name", ("acquisition_provenance", "source_name"))
    )
    for name, path in header:
        category = _categorical(obs[name])
        cols.add("_".join(path), _path_key(_HEADER, path),
                 _str_codes(category.codes, [str(c) for c in category.categories]))

    _body_columns(long, positions, n, cols)

    # Each official row is a dict whose keys follow the order above; from_records puts the
    # columns in the order they are first met, row by row. The distinct presence patterns,
    # in order of first appearance, give that order without visiting every row.
    ordered = sorted(cols.values, key=cols.keys.__getitem__)
    present = np.column_stack([pd.notna(cols.values[name]).to_numpy() for name in ordered])
    packed = np.ascontiguousarray(np.packbits(present, axis=1))
    _, firsts = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_index=True)
    order: dict[str, None] = {}
    for row in np.sort(firsts):
        order.update((ordered[j], None) for j in np.flatnonzero(present[row]) if ordered[j] not in order)
    table = pd.DataFrame({name: cols.values[name] for name in order})
    table.attrs.update(long.attrs)
    return cast("_DataFrame", table)


# ---------------------------------------------------------------------------------------
# Observation resources rebuilt from jhe's long table, for list_observations.


def _jsonb_sorted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _jsonb_sorted(node[k]) for k in sorted(node, key=_jsonb_key)}
    if isinstance(node, list):
        return [_jsonb_sorted(v) for v in node]
    return node


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _set_path(body: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        body = body.setdefault(part, {})
    body[path[-1]] = value


def _pylist(series: pd.Series) -> list[Any]:
    return series.astype(object).where(series.notna(), None).tolist()


def _set_nested(root: dict[Any, Any], path: Sequence[str | int], value: Any) -> None:
    for part in path[:-1]:
        root = root.setdefault(part, {})
    root[path[-1]] = value


def _listify(node: Any) -> Any:
    """Nested dicts whose keys are all list indices back into lists."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_listify(node[k]) for k in sorted(node)]
    return {k: _listify(v) for k, v in node.items()}


def _extras_values(obs: pd.DataFrame) -> list[tuple[str, tuple[str | int, ...], list[Any]]]:
    """Per extras column: section, key path and the values as JSON would hold them
    (date-times as ISO text in the offset they were written in)."""
    pd, np, _, _ = _modules()
    out = []
    for column in _extras(obs):
        section, path = _extras_path(column)
        values = obs[column]
        if f"{column}:local" in obs.columns:
            utc = values
            local = obs[f"{column}:local"]
            offset = local - utc.dt.tz_localize(None)
            texts = _pylist(_iso(local, _offset_suffixes(offset.where(offset.notna(), pd.NaT))))
        elif str(values.dtype) in ("int64", "Int64"):
            texts = [int(v) if v is not None else None for v in _pylist(values)]
        elif str(values.dtype) in ("bool", "boolean"):
            texts = [bool(v) if v is not None else None for v in _pylist(values)]
        else:
            texts = _pylist(values)
        out.append((section, path, texts))
    return out


def _resources(
    long: pd.DataFrame,
    *,
    generation: str,
    scopes: dict[str, tuple[str | None, str | None]],
    user_ids: dict[int, int],
    systems: dict[str, str],
) -> Iterator[dict[str, Any]]:
    """FHIR Observation dicts (the official client's ``list_observations`` items) rebuilt
    from jhe's long layout; the texts are made per column, the dicts per observation."""
    pd, np, _, _ = _modules()
    if long.empty:
        return
    obs, positions = _observations(long)
    start, end, offset = obs["effective_start"], obs["effective_end"], obs["utc_offset"]
    point = (start.notna() & end.isna()).to_numpy()
    interval = (start.notna() & end.notna()).to_numpy()
    suffix = _offset_suffixes(offset)
    zero = offset.fillna(pd.Timedelta(0))
    local_start = _pylist(_iso(start.dt.tz_localize(None) + zero, suffix))
    local_end = _pylist(_iso(end.dt.tz_localize(None) + zero, suffix))
    utc_start, utc_end, updated = _pylist(_iso(start)), _pylist(_iso(end)), _pylist(_iso(obs["last_updated"]))
    current = generation == "current"
    extras = _extras_values(obs)

    # Bodies: one pass over the measure rows.
    bodies: list[dict[str, Any]] = [{} for _ in range(len(obs))]
    rows = long["measure"].notna().to_numpy()
    fields = zip(positions[rows].tolist(), *(_pylist(long[c][rows]) for c in ("measure", "value", "unit", "text")),
                 strict=True)
    for at, measure, value, unit, text in fields:
        path = str(measure).split(".")
        if unit is not None:
            _set_path(bodies[at], path, {"unit": unit, **({"value": _number(value)} if value is not None else {})})
        elif value is not None and text in ("true", "false"):
            _set_path(bodies[at], path, text == "true")
        elif value is not None:
            _set_path(bodies[at], path, _number(value))
        elif text is not None:
            parsed: Any = None
            if text.startswith("["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            _set_path(bodies[at], path, parsed if isinstance(parsed, list) else text)

    columns = zip(obs["observation_id"].tolist(), obs["patient_id"].tolist(), _pylist(obs["code"]),
                  _pylist(obs["uuid"]), _pylist(obs["modality"]), _pylist(obs["source_name"]), strict=True)
    for i, (oid, pid, code, uuid, modality, source) in enumerate(columns):
        body = bodies[i]
        header: dict[Any, Any] = {}
        if uuid is not None:
            header["uuid"] = uuid
        if modality is not None:
            header["modality"] = modality
        if source is not None:
            header["acquisition_provenance"] = {"source_name": source}
        resource_fields: dict[Any, Any] = {}
        frame: dict[Any, Any] = {}
        for section, key_path, cells in extras:
            if cells[i] is not None:
                if section == "body":  # effective_time_frame as written
                    _set_nested(frame, key_path, cells[i])
                    continue
                target = header if section == "header" else resource_fields
                _set_nested(target, key_path if section == "header" else (section, *key_path), cells[i])
        if frame:
            body.update(_listify(frame))
        elif point[i]:
            body["effective_time_frame"] = {"date_time": local_start[i]}
        elif interval[i]:
            body["effective_time_frame"] = {
                "time_interval": {"start_date_time": local_start[i], "end_date_time": local_end[i]}
            }
        header = _listify(header)
        resource_fields = _listify(resource_fields)
        document = json.dumps(_jsonb_sorted({"body": body, "header": header}))
        attachment = {"contentType": "application/json", "data": base64.b64encode(document.encode()).decode()}
        system = _system(code, scopes, systems)
        if not current:
            yield {
                "resourceType": "Observation", "id": str(oid), "meta": {"lastUpdated": updated[i]},
                "status": "final", "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"code": code, "system": system}]}, "valueAttachment": attachment,
            }
            continue
        coding = {"system": system, "code": code}
        display = (scopes.get(code) or (None, None))[1]
        if display is not None:
            coding["display"] = display
        meta = {"lastUpdated": updated[i]}
        if "source" in resource_fields.get("meta", {}):
            meta["source"] = resource_fields["meta"]["source"]
        resource: dict[str, Any] = {"meta": meta, "id": str(oid)}
        if "identifier" in resource_fields:
            resource["identifier"] = resource_fields["identifier"]
        resource.update({"status": "final", "code": {"coding": [coding]}})
        if point[i]:
            resource["effectiveDateTime"] = utc_start[i]
        elif interval[i]:
            resource["effectivePeriod"] = {"start": utc_start[i], "end": utc_end[i]}
        subject: dict[str, Any] = {"reference": f"Patient/{pid}"}
        if pid in user_ids:
            subject["identifier"] = {"system": JHE_USER_ID_SYSTEM, "value": str(user_ids[pid])}
        resource["subject"] = subject
        resource["valueAttachment"] = attachment
        resource["resourceType"] = "Observation"
        yield resource


# ---------------------------------------------------------------------------------------


def _code_text(code: Any) -> str | None:
    """A code as text: a :class:`Code` (this module's or the official one) or a string."""
    if code is None:
        return None
    if isinstance(code, Enum):
        code = code.value
    return str(code)


class JupyterHealthClient:
    """Client for a JupyterHealth Exchange with the public API of ``jupyterhealth_client``
    0.5's ``JupyterHealthClient``, running on :class:`jhe.Client`.

    Args:
        url: The Exchange's address. Defaults to ``JHE_URL`` (read now, not at import).
        token: An OAuth access token. Defaults to ``JHE_TOKEN``.
        progress: Show jhe's progress bars while observations are fetched (off by default,
            as the official client shows none; ``None``: on in a notebook or terminal).
        **options: Passed to :class:`jhe.Client`: ``client_key``, ``client_id``,
            ``client_secret``, ``refresh_token``, ``timeout``, ``retries``, ``concurrency``,
            ``page_size``, ``allow_insecure``. With client credentials (as options or
            ``JHE_CLIENT_ID``/``JHE_CLIENT_SECRET``) no token is needed.

    Raises:
        ValueError: no URL, or no token (as the official client).

    See the module docstring for how results differ from the official client's; above all,
    ``list_observations`` and ``list_observations_df`` return every observation unless you
    pass ``limit``.
    """

    _CREDENTIAL_OPTIONS = ("client_key", "client_id", "client_secret", "refresh_token")

    def __init__(self, url: str | None = None, *, token: str | None = None, progress: bool | None = False,
                 **options: Any) -> None:
        if url is None:
            url = os.environ.get("JHE_URL")
        if not url:
            raise ValueError("When $JHE_URL not defined, `url` argument is required")
        if token is None:
            token = os.environ.get("JHE_TOKEN")
        has_other = any(options.get(k) for k in self._CREDENTIAL_OPTIONS) or (
            os.environ.get("JHE_CLIENT_ID") and os.environ.get("JHE_CLIENT_SECRET")
        )
        if token is None and not has_other:
            raise ValueError("Set $JHE_TOKEN environment variable or pass via `token=` argument")
        self._client = Client(url, token, **options)
        self._progress = progress
        self.url: str = self._client.url
        self._scopes: dict[str, tuple[str | None, str | None]] | None = None

    def __repr__(self) -> str:
        return f"jhe.compat.JupyterHealthClient(url={self.url!r})"

    @property
    def client(self) -> Client:
        """The underlying :class:`jhe.Client` (for ``fetch_dataframe`` and jhe's layouts)."""
        return self._client

    # REST through jhe's engine (retries, token renewal, every page).

    def _rest_get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if params:
            path = f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"
        return json.loads(self._client._native.get_json(path))

    def _rest_list(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        pairs = [(k, str(v)) for k, v in (params or {}).items() if v is not None]
        items: list[dict[str, Any]] = json.loads(self._client._native.list_json(path, pairs))
        return items

    def api_request(self, path: str, *, method: str = "GET", check: bool = True, return_response: bool = False,
                    fhir: bool = False, **kwargs: Any) -> dict[str, Any] | None:
        """Make a single ``GET`` request to ``/api/v1/{path}`` and return the parsed JSON.

        Only REST ``GET`` with ``params=`` is supported: FHIR requests, other methods, full
        URLs, ``return_response=True`` and ``check=False`` raise ``NotImplementedError``.
        """
        unsupported = [
            what for what, bad in (
                (f"method={method!r}", method.upper() != "GET"), ("fhir=True", fhir),
                ("return_response=True", return_response), ("check=False", not check),
                ("a full URL", "://" in path), (f"{sorted(set(kwargs) - {'params'})}", bool(set(kwargs) - {"params"})),
            ) if bad
        ]
        if unsupported:
            raise NotImplementedError(f"jhe.compat.api_request supports REST GET only, not {', '.join(unsupported)}")
        result: dict[str, Any] | None = self._rest_get(path, kwargs.get("params"))
        return result

    _api_request = api_request

    def get_user(self) -> dict[str, Any]:
        """The current user (``GET users/profile``)."""
        return self._client.profile()

    def get_patient(self, id: int) -> dict[str, Any]:
        """A single patient by id."""
        return self._client.get_patient(id)

    def lookup_patient(self, *, email: str | None = None, external_id: str | None = None,
                       system: str | None = None) -> dict[str, Any] | None:
        """Look up a patient by email or external id (optionally of one identifier ``system``).

        Raises:
            KeyError: no patient is found.
        """
        if email is None and external_id is None:
            raise TypeError("Specify one of `email` or `external_id` to lookup a patient")
        if email:
            found = self._rest_get("patients/global_lookup", {"email": email})
            for patient in found or []:
                return dict(patient)
            raise KeyError(f"No patient found with email: {email!r}")
        for patient in self.list_patients():
            for identifier in patient.get("identifiers") or []:
                if external_id == identifier["value"] and (system is None or system == identifier["system"]):
                    return patient
        raise KeyError(f"No patient found with external identifier: {f'{system}::{external_id}' if system else external_id!r}")

    def get_patient_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """Deprecated: use ``lookup_patient(external_id=...)``."""
        warnings.warn(
            f"get_patient_by_external_id is deprecated, use lookup_patient(external_id={external_id!r})",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.lookup_patient(external_id=external_id)

    def list_patients(self, organization_id: int | None = None, study_id: int | None = None) -> Generator[dict[str, Any]]:
        """Iterate over all patients, optionally of one organization or study."""
        yield from self._rest_list("patients", {"organization_id": organization_id, "study_id": study_id})

    def get_patient_consents(self, patient_id: int) -> dict[str, Any]:
        """A patient's consent status: consolidated scopes, studies pending, per-study consents."""
        return self._client.get_consents(patient_id)

    def get_study(self, id: int) -> dict[str, Any]:
        """A single study by id."""
        study: dict[str, Any] = self._rest_get(f"studies/{int(id)}")
        return study

    def list_studies(self, *, organization_id: int | None = None) -> Generator[dict[str, Any]]:
        """Iterate over the studies you may see."""
        yield from self._rest_list("studies", {"organization_id": organization_id})

    def get_organization(self, id: int) -> dict[str, Any]:
        """A single organization by id (the ROOT organization has ``id=0``)."""
        organization: dict[str, Any] = self._rest_get(f"organizations/{int(id)}")
        return organization

    def list_organizations(self) -> Generator[dict[str, Any]]:
        """Iterate over all organizations."""
        yield from self._rest_list("organizations")

    def list_data_sources(self) -> Generator[dict[str, Any]]:
        """Iterate over the registered data sources."""
        yield from self._rest_list("data_sources")

    def _not_available(self, name: str) -> NotImplementedError:
        return NotImplementedError(
            f"{name} returns raw FHIR resources, which jhe's engine does not expose; "
            "use list_observations / list_observations_df, or jhe.Client.fetch_dataframe"
        )

    def get_fhir(self, resource_type: str, id: Any = None, *, patient_id: int | None = None,
                 study_id: int | None = None, fhir_source: str | None = None,
                 params: dict[str, Any] | None = None) -> Any:
        """Not available in the compatibility layer (raises ``NotImplementedError``)."""
        raise self._not_available("get_fhir")

    def list_fhir(self, resource_type: str, *, patient_id: int | None = None, study_id: int | None = None,
                  fhir_source: str | None = None, limit: int | None = None,
                  params: dict[str, Any] | None = None) -> Any:
        """Not available in the compatibility layer (raises ``NotImplementedError``)."""
        raise self._not_available("list_fhir")

    def list_fhir_resource_types(self) -> list[str]:
        """Not available in the compatibility layer (raises ``NotImplementedError``)."""
        raise self._not_available("list_fhir_resource_types")

    def get_fhir_capability_statement(self) -> dict[str, Any]:
        """Not available in the compatibility layer (raises ``NotImplementedError``)."""
        raise self._not_available("get_fhir_capability_statement")

    # Observations.

    def _scope_table(self) -> dict[str, tuple[str | None, str | None]]:
        """code -> (coding system, display text), from the data sources' scopes (cached)."""
        if self._scopes is None:
            table: dict[str, tuple[str | None, str | None]] = {}
            try:
                for source in self.list_data_sources():
                    for scope in source.get("supportedScopes") or []:
                        if scope.get("codingCode"):
                            table.setdefault(scope["codingCode"], (scope.get("codingSystem"), scope.get("text")))
            except JHEError as error:
                _log.warning("jhe.compat: no code display texts (data_sources failed: %s)", error)
            self._scopes = table
        return self._scopes

    def _user_ids(self, patient_id: int | None, study_id: int | None, patients: Any) -> dict[int, int]:
        """patient id -> jheUserId of the fetched patients (for ``subject.identifier``)."""
        try:
            if patient_id:
                found = [self.get_patient(patient_id)]
            else:
                found = self._rest_list("patients", {"study_id": study_id})
        except JHEError as error:
            _log.warning("jhe.compat: no subject identifiers (patients failed: %s)", error)
            return {}
        wanted = set(int(p) for p in patients)
        return {int(p["id"]): int(p["jheUserId"]) for p in found
                if p.get("jheUserId") is not None and int(p["id"]) in wanted}

    def _fetch_long(self, patient_id: int | None, study_id: int | None, code: Any,
                    limit: int | None) -> tuple[pd.DataFrame, dict[str, Any]]:
        if not patient_id and not study_id:
            raise ValueError("Must specify at least one of patient_id or study_id")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None, 0 (no limit) or positive, not {limit}")
        text = _code_text(code) or None
        # The engine's fetch with extras: the resource's meta.source and identifier and the
        # whole OMH header and the body's effective_time_frame as written, as typed columns,
        # for the official layout's columns made from them.
        native = self._client._fetch_native(
            {"layout": "long"}, self._progress, study_id=study_id or None, patient_id=patient_id or None, codes=text,
            extras=True,
        )
        long = Observations(native).to_pandas()
        assert not isinstance(long, dict)
        if limit:
            pd = _require("pandas", "pandas")
            positions, _ = pd.factorize(long["observation_id"])
            attrs = dict(long.attrs)
            long = long.loc[positions < limit].reset_index(drop=True)
            long.attrs.update(attrs)
        generation = long.attrs.get("jhe_source", {}).get("generation", "current")
        systems: dict[str, str] = {}
        if text and "|" in text:
            system, bare = (part.strip() for part in text.rsplit("|", 1))
            systems[bare] = system
        context: dict[str, Any] = {"generation": generation, "systems": systems, "scopes": {}, "user_ids": {}}
        if not long.empty:
            context["scopes"] = self._scope_table()
            if generation == "current":
                context["user_ids"] = self._user_ids(patient_id, study_id, long["patient_id"].unique())
        return long, context

    def list_observations(self, patient_id: int | None = None, study_id: int | None = None,
                          code: Code | str | None = None, limit: int | None = None) -> Generator[dict[str, Any]]:
        """Fetch observations of a patient and/or study, optionally of one code, newest first.

        Yields FHIR Observation dicts as the official client does, rebuilt from what jhe
        decoded (see the module docstring): ``valueAttachment.data`` is the base64 of the OMH
        ``{"body", "header"}`` document. Every observation, unless ``limit`` is given (the
        official default is 2000).
        """
        long, context = self._fetch_long(patient_id, study_id, code, limit)
        yield from _resources(long, **context)

    def list_observations_df(self, patient_id: int | None = None, study_id: int | None = None,
                             code: Code | str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Observations as a DataFrame in the official ``tidy_observation`` layout.

        Key columns: ``effective_time_frame_date_time`` (or ``..._time_interval_start_date_time``
        and ``..._end_date_time``) in UTC with ``*_local`` wall-clock twins,
        ``{measure}_value`` / ``{measure}_unit`` (e.g. ``systolic_blood_pressure_value``),
        ``subject_reference`` (``Patient/1234``) and ``code_coding_0_code``. Every
        observation, unless ``limit`` is given (the official default is 2000). ``df.attrs``
        holds jhe's ``jhe_source`` and ``jhe_errors``.
        """
        long, context = self._fetch_long(patient_id, study_id, code, limit)
        return _tidy_frame(long, **context)
