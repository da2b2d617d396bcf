"""The public client."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from jhe import _convert, _export, _progress
from jhe._jhe import NativeClient
from jhe._result import Observations

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from jhe._jhe import NativeFetchResult

Api = Literal["auto", "fhir", "rest"]
Layout = Literal["wide", "long"]
TimeLike = str | _dt.datetime | _dt.date


class Filters(TypedDict, total=False):
    """Keyword filters every fetch and export accepts (see :meth:`Client.fetch`)."""

    api: Api
    since: TimeLike | None
    until: TimeLike | None
    updated_since: TimeLike | None
    patient_identifier: tuple[str, str] | None
    organization_id: int | None
    layout: Layout | None


def _codes(code: str | Sequence[str] | None) -> list[str]:
    if code is None:
        return []
    if isinstance(code, str):
        return [code]
    return list(code)


def _time_text(name: str, value: TimeLike | None) -> str | None:
    """ISO 8601 text for Rust to parse; a naive datetime means UTC, like OMH payloads."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    raise TypeError(f"{name} must be a str, datetime or date, not {type(value).__name__}")


def _identifier(value: tuple[str, str] | None) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str) or len(value) != 2:
        raise TypeError(
            'patient_identifier must be a (system, value) pair, e.g. ("http://hospital.example/mrn", "MRN-12345")'
        )
    return (str(value[0]), str(value[1]))


class Client:
    """A connection to one JupyterHealth Exchange.

    Args:
        url: The Exchange's address, e.g. ``https://jhe.example.org``. Defaults to ``JHE_URL``.
        token: An OAuth access token. Defaults to ``JHE_TOKEN`` (JupyterHub injects it).
        client_key: The key JHE issues for scripts (``practitioner_clients``): base64 of
            ``client_id:client_secret``. Tokens are then minted and renewed automatically.
        client_id, client_secret: The same as a pair (also ``JHE_CLIENT_ID`` and
            ``JHE_CLIENT_SECRET`` when no token is set).
        refresh_token: An OAuth refresh token (from the interactive login); each refresh
            returns the next one.
        timeout: Seconds to wait for the server per request (default 60).
        retries: Retries of a request that failed transiently: connection errors, timeouts,
            429, 500, 502, 503, 504 (default 5), with exponential backoff and jitter, honouring
            ``Retry-After``.
        concurrency: Pages fetched at once (default 8).
        page_size: Rows per page (1-1000; default 1000, the server's maximum).
        allow_insecure: Allow plain ``http://`` to a host other than this machine.

    The environment is read when the client is made. No token or secret ever appears in a
    repr, a log line or an exception.

    >>> client = jhe.Client()  # doctest: +SKIP
    >>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        client_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        concurrency: int | None = None,
        page_size: int | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self._native = NativeClient(
            url,
            token,
            client_key=client_key,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            timeout=timeout,
            retries=retries,
            concurrency=concurrency,
            page_size=page_size,
            allow_insecure=allow_insecure,
        )
        self._profile: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The Exchange's address."""
        return self._native.url

    def __repr__(self) -> str:
        return f"jhe.Client(url={self.url!r}, auth={self._native.auth_method!r})"

    def _request(
        self, study_id: int | None, patient_id: int | None, code: str | Sequence[str] | None, filters: Filters
    ) -> tuple[dict[str, Any], str | None]:
        """Arguments for the native fetch, and the one code of a wide single-table result."""
        unknown = set(filters) - set(Filters.__annotations__)
        if unknown:
            raise TypeError(f"unexpected filter(s): {', '.join(sorted(unknown))}")
        codes = _codes(code)
        layout = filters.get("layout") or ("wide" if len(codes) == 1 else "long")
        arguments = {
            "study_id": study_id,
            "patient_id": patient_id,
            "organization_id": filters.get("organization_id"),
            "codes": codes,
            "patient_identifier": _identifier(filters.get("patient_identifier")),
            "since": _time_text("since", filters.get("since")),
            "until": _time_text("until", filters.get("until")),
            "updated_since": _time_text("updated_since", filters.get("updated_since")),
            "api": filters.get("api", "auto"),
            "layout": layout,
        }
        # One code in the wide layout is one table; its key is the code without its system.
        single = codes[0].rsplit("|", 1)[-1].strip() if layout == "wide" and len(codes) == 1 else None
        return arguments, single

    def fetch(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> Observations:
        """Fetch observations, every page, into Arrow tables (see :class:`jhe.Observations`).

        Every filter is applied by the server (on older servers that ignore time filters,
        jhe applies them itself, so none is silently dropped).

        Args:
            study_id: Patients enrolled in this study, codes the study asks for.
            patient_id: One patient.
            code: One data type (``"omh:blood-glucose:4.0"``) or several.
            progress: Progress bars for pages and observations; default: on in a notebook
                or a terminal, off otherwise.
            api: ``"fhir"``, ``"rest"`` (the admin API: no code or time filters), or
                ``"auto"`` (default): FHIR, unless an older server's FHIR cannot take the
                query and REST can.
            since: Effective time at or after this (a date, datetime or ISO text; naive means UTC).
            until: Effective time before this.
            updated_since: Stored or changed on the server at or after this.
            patient_identifier: ``(system, value)``, e.g. an MRN.
            organization_id: Patients of this organization.
            layout: ``"wide"``: one row per observation with the data type's typed columns,
                one table per code. ``"long"``: one tidy table for any mix, one row per
                observation and measure. Default: wide when one code is asked for, else long.

        Raises:
            jhe.InconsistentResult: the rows received do not match the server's total even
                after re-reading what changed during the fetch.

        >>> obs = client.fetch(study_id=30001, code="omh:heart-rate:2.0", since="2025-06-01")  # doctest: +SKIP
        >>> obs.to_pandas()  # doctest: +SKIP
        """
        arguments, single = self._request(study_id, patient_id, code, filters)
        bars = _progress.Bars() if _progress.wanted(progress) else None
        try:
            native = self._native.fetch(**arguments, progress=bars)
        finally:
            if bars is not None:
                bars.close()
        return Observations(native, single_code=single)

    def fetch_dataframe(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        strict: bool = False,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """:meth:`fetch` into pandas: one DataFrame, or a dict keyed by code (wide layout,
        several codes).

        Every layout has ``observation_id``, ``patient_id``, ``code``, ``effective_start``,
        ``effective_end`` (UTC), ``utc_offset`` (the payload's own offset), ``last_updated``,
        ``uuid``, ``duplicate_uuid``, ``modality``, ``source_name``, and ``patient_name`` /
        ``data_source`` where the API gives them. Wide adds ``timestamp`` (the guide's name
        for ``effective_start``) and the data type's columns, e.g. ``glucose_mg_dl`` and
        ``meal_context``; long adds ``measure``, ``value``, ``unit``, ``canonical_value``,
        ``canonical_unit`` and ``text``. Records that could not be decoded are kept and listed
        in ``df.attrs["jhe_errors"]`` with a :class:`jhe.DecodeWarning`, or raise
        :class:`jhe.DecodeError` with ``strict=True``.

        >>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # doctest: +SKIP
        >>> df[["patient_id", "timestamp", "glucose_mg_dl"]].head()  # doctest: +SKIP
        """
        return self.fetch(study_id, patient_id, code, progress=progress, **filters).to_pandas(strict=strict)

    def fetch_arrow(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> pa.Table | dict[str, pa.Table]:
        """:meth:`fetch` as pyarrow Tables (one, or a dict keyed by code)."""
        return self.fetch(study_id, patient_id, code, progress=progress, **filters).to_arrow()

    def fetch_polars(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """:meth:`fetch` as polars DataFrames (one, or a dict keyed by code)."""
        return self.fetch(study_id, patient_id, code, progress=progress, **filters).to_polars()

    async def fetch_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        **filters: Unpack[Filters],
    ) -> Observations:
        """:meth:`fetch`, awaitable: runs on jhe's Rust runtime, so it works inside Jupyter's
        running event loop, and several awaited fetches run at once.

        >>> obs = await client.fetch_async(study_id=30001)  # doctest: +SKIP
        """
        arguments, single = self._request(study_id, patient_id, code, filters)
        return Observations(await self._native.fetch_async(**arguments), single_code=single)

    async def fetch_dataframe_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        strict: bool = False,
        **filters: Unpack[Filters],
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """:meth:`fetch_dataframe`, awaitable."""
        return (await self.fetch_async(study_id, patient_id, code, **filters)).to_pandas(strict=strict)

    async def fetch_arrow_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        **filters: Unpack[Filters],
    ) -> pa.Table | dict[str, pa.Table]:
        """:meth:`fetch_arrow`, awaitable."""
        return (await self.fetch_async(study_id, patient_id, code, **filters)).to_arrow()

    async def fetch_polars_async(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        **filters: Unpack[Filters],
    ) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """:meth:`fetch_polars`, awaitable."""
        return (await self.fetch_async(study_id, patient_id, code, **filters)).to_polars()

    # Exports: written from Arrow (no pandas round trip), atomically.

    def export_csv(
        self,
        path: str | os.PathLike[str],
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        preset: Literal["guide"] | None = None,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> Path:
        """Fetch and write one CSV file (the long layout unless one code is asked for).

        ``preset="guide"`` writes the guide's blood glucose CSV: ``Observation ID``,
        ``Patient Name``, ``Date/Time``, ``Glucose (mg/dL)``, ``Meal Context`` (``N/A`` when
        absent), ``Data Source`` (the OMH ``source_name``) and ``Created`` (the server's
        ``lastUpdated``); it fetches ``omh:blood-glucose:4.0`` unless ``code`` says otherwise.

        The file is written under a temporary name and renamed when complete, so an
        interrupted export leaves no half file. Returns the path written.
        """
        if preset == "guide":
            code = code or _export.GUIDE_GLUCOSE_CODE
            filters.setdefault("layout", "wide")
        observations = self.fetch(study_id, patient_id, code, progress=progress, **filters)
        if preset == "guide":
            table = _export.guide_glucose_table(observations, self.list_patients(study_id=study_id))
        elif preset is None:
            table = _export.single_table(observations)
        else:
            raise ValueError(f'preset must be "guide" or None, got {preset!r}')
        return _export.write_csv(table, Path(path))

    def export_parquet(
        self,
        path: str | os.PathLike[str],
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        partition_by: Sequence[str] | None = None,
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> Path:
        """Fetch and write Parquet: one file, or with ``partition_by=["code"]`` or
        ``["patient_id"]`` a directory of Hive partitions (``code=<value>/part-0.parquet``,
        the value URL-escaped as pyarrow writes it: ``code=omh%3Aheart-rate%3A2.0``).

        Several codes in the wide layout need ``partition_by=["code"]`` (one schema per code).
        Written to a temporary name and renamed when complete. Returns the path written.
        """
        observations = self.fetch(study_id, patient_id, code, progress=progress, **filters)
        return _export.write_parquet(observations, Path(path), partition_by)

    def export_study(
        self,
        organization_id: int,
        study_id: int,
        codes: Sequence[str] | None = None,
        *,
        path: str | os.PathLike[str] = ".",
        format: Literal["parquet", "csv"] = "parquet",
        progress: bool | None = None,
        **filters: Unpack[Filters],
    ) -> dict[str, Path]:
        """Export every patient of a study: one study-level fetch (pages in parallel), then
        one file per code (``<code>.csv`` or ``<code>.parquet`` in ``path``, with ``:``
        written as ``_``), each in the wide layout and written atomically.

        The study must belong to ``organization_id``. Returns ``{code: file}``.
        """
        study = self._get(f"studies/{int(study_id)}")
        owner = (study.get("organization") or {}).get("id")
        if owner != organization_id:
            from jhe._jhe import ConfigurationError

            raise ConfigurationError(f"study {study_id} belongs to organization {owner}, not {organization_id}")
        filters["layout"] = "wide"
        observations = self.fetch(study_id, None, list(codes) if codes else None, progress=progress, **filters)
        return _export.write_per_code(observations, Path(path), format)

    def _repr_html_(self) -> str:
        """The Exchange and who you are on it (asked once), never a credential."""
        import html as _html

        if self._profile is None:
            try:
                self._profile = self.profile()
            except Exception as exc:  # shown, not raised: this is a display
                self._profile = {"error": str(exc)}
        profile = self._profile
        who = (
            f"{_html.escape(str(profile.get('firstName', '')))} {_html.escape(str(profile.get('lastName', '')))} "
            f"&lt;{_html.escape(str(profile.get('email', '')))}&gt; ({_html.escape(str(profile.get('userType', '')))})"
            if "error" not in profile
            else f"<i>{_html.escape(profile['error'])}</i>"
        )
        return (
            f"<p><b>jhe.Client</b> for <code>{_html.escape(self.url)}</code><br>"
            f"signed in as {who}, by {_html.escape(self._native.auth_method)}</p>"
        )

    # Listing calls: small, so they come back as JSON and become DataFrames or dicts.

    def _list(self, path: str, **params: int | None) -> pd.DataFrame:
        pairs = [(name, str(value)) for name, value in params.items() if value is not None]
        pandas = _convert._require("pandas", "pandas")
        return pandas.DataFrame(json.loads(self._native.list_json(path, pairs)))

    def _get(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._native.get_json(path))
        return document

    def list_patients(self, organization_id: int | None = None, study_id: int | None = None) -> pd.DataFrame:
        """The patients you may see, optionally of one organization or study: ``id``,
        ``nameFamily``, ``nameGiven``, ``birthDate``, ``identifiers``, ..."""
        return self._list("patients", organization_id=organization_id, study_id=study_id)

    def list_studies(self, organization_id: int | None = None) -> pd.DataFrame:
        """The studies you may see: ``id``, ``name``, ``description``, ``organization`` (a
        dict) and ``organizationId`` (its id, for :meth:`export_study`)."""
        studies = self._list("studies", organization_id=organization_id)
        if "organization" in studies.columns:
            studies["organizationId"] = [(o or {}).get("id") for o in studies["organization"]]
        return studies

    def list_organizations(self) -> pd.DataFrame:
        """The organizations: ``id``, ``name``, ``type``, ``partOf``, ``currentUserRole``."""
        return self._list("organizations")

    def get_patient(self, patient_id: int) -> dict[str, Any]:
        """One patient's record."""
        return self._get(f"patients/{int(patient_id)}")

    def get_consents(self, patient_id: int) -> dict[str, Any]:
        """A patient's consents: consolidated scopes, and per study what was consented."""
        return self._get(f"patients/{int(patient_id)}/consents")

    def profile(self) -> dict[str, Any]:
        """Who you are on this Exchange."""
        return self._get("users/profile")


def fetch_dataframe(
    study_id: int | None = None,
    patient_id: int | None = None,
    code: str | Sequence[str] | None = None,
    *,
    strict: bool = False,
    progress: bool | None = None,
    **filters: Unpack[Filters],
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """:meth:`Client.fetch_dataframe` with a client made from the environment."""
    return Client().fetch_dataframe(study_id, patient_id, code, strict=strict, progress=progress, **filters)
