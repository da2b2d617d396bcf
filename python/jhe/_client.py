"""The public client."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from jhe import _convert
from jhe._jhe import NativeClient

if TYPE_CHECKING:
    import pandas as pd

    from jhe._jhe import NativeFetchResult

Api = Literal["auto", "fhir", "rest"]
Layout = Literal["wide", "long"]
TimeLike = str | _dt.datetime | _dt.date


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

    @property
    def url(self) -> str:
        """The Exchange's address."""
        return self._native.url

    def __repr__(self) -> str:
        return f"jhe.Client(url={self.url!r}, auth={self._native.auth_method!r})"

    def _fetch(
        self,
        *,
        study_id: int | None,
        patient_id: int | None,
        code: str | Sequence[str] | None,
        api: Api,
        since: TimeLike | None,
        until: TimeLike | None,
        updated_since: TimeLike | None,
        patient_identifier: tuple[str, str] | None,
        organization_id: int | None,
        layout: Layout,
    ) -> NativeFetchResult:
        return self._native.fetch(
            study_id=study_id,
            patient_id=patient_id,
            organization_id=organization_id,
            codes=_codes(code),
            patient_identifier=_identifier(patient_identifier),
            since=_time_text("since", since),
            until=_time_text("until", until),
            updated_since=_time_text("updated_since", updated_since),
            api=api,
            layout=layout,
        )

    def fetch_dataframe(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        api: Api = "auto",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        updated_since: TimeLike | None = None,
        patient_identifier: tuple[str, str] | None = None,
        organization_id: int | None = None,
        layout: Layout | None = None,
        strict: bool = False,
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Fetch observations, every page, into pandas.

        Every filter is applied by the server (on older servers that ignore time filters,
        jhe applies them itself, so none is silently dropped).

        Args:
            study_id: Patients enrolled in this study, codes the study asks for.
            patient_id: One patient.
            code: One data type (``"omh:blood-glucose:4.0"``) or several.
            api: ``"fhir"``, ``"rest"`` (the admin API: no code or time filters), or
                ``"auto"``: FHIR when a filter needs it, otherwise REST.
            since: Effective time at or after this (a date, datetime or ISO text; naive means UTC).
            until: Effective time before this.
            updated_since: Stored or changed on the server at or after this.
            patient_identifier: ``(system, value)``, e.g. an MRN.
            organization_id: Patients of this organization.
            layout: ``"wide"``: one row per observation with the data type's typed columns;
                for several codes (or none), a dict of DataFrames keyed by code.
                ``"long"``: one tidy DataFrame for any mix, one row per observation and
                measure. Default: wide when one code is asked for, otherwise long.
            strict: Raise :class:`jhe.DecodeError` naming the first record that could not be
                decoded, instead of keeping it and warning.

        Returns:
            Newest first. Every layout has ``observation_id``, ``patient_id``, ``code``,
            ``effective_start``, ``effective_end`` (UTC), ``utc_offset`` (the payload's own
            offset), ``last_updated``, ``uuid``, ``duplicate_uuid``, ``modality``,
            ``source_name``, and ``patient_name`` / ``data_source`` where the API gives them.
            Wide adds ``timestamp`` (the guide's name for ``effective_start``) and the data
            type's columns, e.g. ``glucose_mg_dl`` and ``meal_context``; long adds
            ``measure``, ``value``, ``unit``, ``canonical_value``, ``canonical_unit`` and
            ``text``. Records that could not be decoded are kept and listed in
            ``df.attrs["jhe_errors"]``, with a :class:`jhe.DecodeWarning`.

        Raises:
            jhe.InconsistentResult: the rows received do not match the server's total even
                after re-reading what changed during the fetch.

        >>> df = client.fetch_dataframe(study_id=30001, code="omh:heart-rate:2.0", since="2025-06-01")  # doctest: +SKIP
        """
        codes = _codes(code)
        if layout is None:
            layout = "wide" if len(codes) == 1 else "long"
        result = self._fetch(
            study_id=study_id,
            patient_id=patient_id,
            code=codes,
            api=api,
            since=since,
            until=until,
            updated_since=updated_since,
            patient_identifier=patient_identifier,
            organization_id=organization_id,
            layout=layout,
        )
        # One code in the wide layout is one DataFrame; the key is the code without its system.
        single = codes[0].rsplit("|", 1)[-1].strip() if layout == "wide" and len(codes) == 1 else None
        return _convert.to_pandas(result, single_code=single, strict=strict)

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
        """The studies you may see: ``id``, ``name``, ``description``, ``organization``."""
        return self._list("studies", organization_id=organization_id)

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
    **filters: Any,
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """:meth:`Client.fetch_dataframe` with a client made from the environment."""
    return Client().fetch_dataframe(study_id=study_id, patient_id=patient_id, code=code, **filters)
