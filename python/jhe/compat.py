"""Drop-in compatibility with the official ``jupyterhealth-client`` 0.5.

An existing notebook switches by changing one import::

    # from jupyterhealth_client import JupyterHealthClient, Code
    from jhe.compat import JupyterHealthClient, Code

    client = JupyterHealthClient()  # JHE_URL and JHE_TOKEN
    df = client.list_observations_df(patient_id=40001, code=Code.BLOOD_GLUCOSE)

The public names and signatures are those of ``jupyterhealth_client`` 0.5
(:class:`JupyterHealthClient`, :class:`Code`, :class:`RequestError`,
:func:`tidy_observation`), and :meth:`JupyterHealthClient.list_observations_df` returns the
official ``tidy_observation`` table (``resource_type``, ``code``, ``meta_lastUpdated``,
``id``, ..., ``blood_glucose_value``, ``effective_time_frame_date_time``, ``..._local``).
Underneath, :class:`jhe.Client` fetches every page concurrently and builds that table in
Rust (the engine's flat layout: each resource and its OMH document flattened by key path,
typed by column); :meth:`~JupyterHealthClient.list_observations` yields the server's
resources as received.

Differences from the official client (deliberate or unavoidable):

* **No silent 2000-row cut.** ``limit`` defaults to ``None``: every observation. Pass
  ``limit=N`` for the first (newest) N; ``limit=0`` means no limit, as in the official client.
* **IEEE codes are found.** A code without a system gets its own (``https://w3id.org/ieee1752``
  for ``ieee:*``); the official client always sends the Open mHealth system, so
  ``Code.SLEEP_STAGE_SUMMARY`` and ``Code.FOOD_ENTRY`` match nothing on current servers.
* **Damaged records are kept**, with what could be read, listed in
  ``df.attrs["jhe_errors"]`` with a :class:`jhe.DecodeWarning`; the official client raises on
  the first payload it cannot decode.
* **One type per column.** A column whose values mix numbers, text and booleans (the official
  client gives an ``object`` column of each value as written) is text, the numbers and
  booleans written as JSON.
* Observations are newest first (``meta.lastUpdated``, then id), whatever order pages
  arrive in. ``JHE_URL`` is read when the client is made (the official client reads it at
  import). Errors are :class:`jhe.JHEError` (``RequestError`` is an alias), not
  ``requests.HTTPError``. ``get_fhir``, ``get_fhir_capability_statement`` and non-GET
  ``api_request`` are not available.
* ``list_fhir`` reads every page before it yields the first resource (concurrently, checked
  complete), and refuses a ``fhir_source`` that names no source (the official client sends
  it, and the server answers with nothing), and one on a server whose CapabilityStatement
  does not list ``_source`` for the type.
* Works with both API generations (the official client needs ``/FHIR/R5``), retries
  transient failures, and accepts jhe's other options (``client_key``, ``timeout``, ...).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import warnings
from collections.abc import Generator
from enum import Enum
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from jhe import _convert
from jhe._client import Client
from jhe._convert import _require
from jhe._jhe import JHEError

if TYPE_CHECKING:
    import pandas as pd
    from pandas import DataFrame as _DataFrame

    from jhe._jhe import NativeFetchResult

__all__ = ["Code", "JupyterHealthClient", "RequestError", "tidy_observation"]

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
# The official table from the engine's flat layout: column selection and dtypes only.


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


def _column_order(table: Any) -> list[int]:
    """The flat columns in the order ``from_records`` meets them, row by row: each row's
    shape (its columns in its own order) is listed by the engine, so only the first row of
    each shape is looked at."""
    pd = _require("pandas", "pandas")
    shapes = json.loads(table.schema.field("flat").metadata[b"jhe.shapes"])
    firsts = pd.unique(table.column("shape").to_numpy())
    return list(dict.fromkeys(index for shape in firsts for index in shapes[shape]))


def _official_frame(table: Any) -> pd.DataFrame:
    """The flat columns as pandas, with the dtypes ``from_records`` gives the same values
    (missing text and booleans as NaN)."""
    pd = _require("pandas", "pandas")
    np = _require("numpy", "pandas")
    pa = _require("pyarrow", "pyarrow")
    if table.num_rows == 0:
        return cast("_DataFrame", pd.DataFrame())
    flat = pa.Table.from_struct_array(table.column("flat")).select(_column_order(table))
    frame = flat.to_pandas()
    dtypes = _reference_dtypes()
    for field, column in zip(flat.schema, flat.columns, strict=True):
        name, kind = field.name, field.type
        if pa.types.is_string(kind):
            frame[name] = frame[name].astype(dtypes["str"])
        elif pa.types.is_timestamp(kind):
            frame[name] = frame[name].astype(dtypes["utc" if kind.tz else "local"])
        if frame[name].dtype == object and column.null_count and not pa.types.is_null(kind):
            # A missing key: None from pyarrow, NaN from from_records.
            frame[name] = frame[name].where(frame[name].notna(), np.nan)
    return cast("_DataFrame", frame)


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
            ``page_size``, ``max_response_bytes``, ``allow_insecure``. With client credentials (as options or
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
                  params: dict[str, Any] | None = None) -> Generator[dict[str, Any]]:
        """Iterate over the resources of a FHIR type a search matches (a study's or patient's).

        ``fhir_source``: ``None`` (the server's default store for the type), ``"imported"``
        (every record imported from an EHR), or one FHIR source's id or URI. ``params`` are
        further search parameters, sent as given (``_count`` is jhe's: every page is read).
        The engine reads every page concurrently and checks the result complete; the
        resources are yielded newest first, each once.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None, 0 (no limit) or positive, not {limit}")
        # As the official client: its page size is a parameter; here the engine pages.
        extra = [(str(name), str(value)) for name, value in (params or {}).items() if name != "_count"]
        resources = self._client._native.search_resources(
            resource_type, study_id=study_id or None, patient_id=patient_id or None, source=fhir_source, params=extra
        )
        for resource in resources[:limit] if limit else resources:
            yield json.loads(resource)

    def list_fhir_resource_types(self) -> list[str]:
        """The resource types the server's CapabilityStatement lists."""
        return self._client._native.fhir_resource_types()

    def get_fhir_capability_statement(self) -> dict[str, Any]:
        """Not available in the compatibility layer (raises ``NotImplementedError``)."""
        raise self._not_available("get_fhir_capability_statement")

    # Observations.

    def _fetch_flat(self, patient_id: int | None, study_id: int | None, code: Any,
                    limit: int | None) -> tuple[Any, NativeFetchResult]:
        """The engine's flat layout (FHIR resources as received, and the official columns),
        newest first, cut to ``limit`` rows."""
        if not patient_id and not study_id:
            raise ValueError("Must specify at least one of patient_id or study_id")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None, 0 (no limit) or positive, not {limit}")
        # The flat layout is the engine's, for this module only: not among the public filters.
        filters = cast(Any, {"layout": "flat", "api": "fhir"})
        native = self._client._fetch_native(
            filters, self._progress, study_id=study_id or None, patient_id=patient_id or None,
            codes=_code_text(code) or None,
        )
        ((_, exported),) = native.tables
        table = _convert.to_pyarrow(exported)
        return (table.slice(0, limit) if limit else table), native

    def list_observations(self, patient_id: int | None = None, study_id: int | None = None,
                          code: Code | str | None = None, limit: int | None = None) -> Generator[dict[str, Any]]:
        """Fetch observations of a patient and/or study, optionally of one code, newest first.

        Yields the FHIR Observation resources as the server sent them (``valueAttachment.data``
        is the base64 of the OMH document). Every observation, unless ``limit`` is given (the
        official default is 2000). Entries that are not Observations, or of a code not asked
        for, are not yielded: one :class:`jhe.DecodeWarning` counts them with the damaged ones.
        """
        table, native = self._fetch_flat(patient_id, study_id, code, limit)
        _convert.reported_errors(native)
        for resource in table.column("resource").to_pylist():
            yield json.loads(resource)

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
        table, native = self._fetch_flat(patient_id, study_id, code, limit)
        errors = _convert.reported_errors(native)
        return _convert._with_attrs(_official_frame(table), errors, _convert.source_of(native))
