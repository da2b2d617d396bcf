"""The public client."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jhe import _convert
from jhe._jhe import NativeClient

if TYPE_CHECKING:
    import pandas as pd

    from jhe._jhe import NativeFetchResult


def _codes(code: str | Sequence[str] | None) -> list[str]:
    if code is None:
        return []
    if isinstance(code, str):
        return [code]
    return list(code)


class Client:
    """A connection to one JupyterHealth Exchange.

    Args:
        url: The Exchange's address, e.g. ``https://jhe.example.org``. Defaults to ``JHE_URL``.
        token: An OAuth access token. Defaults to ``JHE_TOKEN`` (JupyterHub injects it).
        timeout: Seconds to wait for the server before giving up on a request.
        page_size: Rows per page (1-1000; the server's maximum is the fastest).
        allow_insecure: Allow plain ``http://`` to a host other than this machine.

    The environment is read when the client is made. The token is never shown in a repr,
    a message or an exception.

    >>> client = jhe.Client()  # doctest: +SKIP
    >>> df = client.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        page_size: int | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self._native = NativeClient(
            url, token, timeout=timeout, page_size=page_size, allow_insecure=allow_insecure
        )

    @property
    def url(self) -> str:
        """The Exchange's address."""
        return self._native.url

    def __repr__(self) -> str:
        return f"jhe.Client(url={self.url!r})"

    def _fetch(
        self,
        study_id: int | None,
        patient_id: int | None,
        code: str | Sequence[str] | None,
    ) -> NativeFetchResult:
        return self._native.fetch(study_id=study_id, patient_id=patient_id, codes=_codes(code))

    def fetch_dataframe(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Fetch observations through the FHIR API, every page, into a pandas DataFrame.

        Args:
            study_id: Only observations of patients in this study, of codes the study asks for.
            patient_id: Only this patient's observations.
            code: One data type (``"omh:blood-glucose:4.0"``) or several.

        Returns:
            One row per observation: ``observation_id``, ``patient_id``, ``code``,
            ``timestamp`` (UTC; the start of an interval), ``effective_end``, ``last_updated``,
            ``uuid``, ``modality``, ``source_name``, then typed columns per data type, e.g.
            ``glucose_mg_dl`` and ``meal_context``, ``systolic_mmhg`` and ``diastolic_mmhg``,
            ``heart_rate_bpm``. Records that could not be decoded are kept and listed in
            ``df.attrs["jhe_errors"]``, with a :class:`jhe.DecodeWarning`.

        >>> df = client.fetch_dataframe(study_id=30001, code="omh:heart-rate:2.0")  # doctest: +SKIP
        """
        return _convert.to_pandas(self._fetch(study_id, patient_id, code))

    def list_patients(
        self, organization_id: int | None = None, study_id: int | None = None
    ) -> pd.DataFrame:
        """The patients you may see, optionally only those of an organization or study.

        One row per patient with the REST API's fields (``id``, ``nameFamily``,
        ``nameGiven``, ``birthDate``, ``identifiers``, ...).
        """
        params = [
            (name, str(value))
            for name, value in (("organization_id", organization_id), ("study_id", study_id))
            if value is not None
        ]
        pandas = _convert._require("pandas", "pandas")
        return pandas.DataFrame(json.loads(self._native.list_json("patients", params)))


def fetch_dataframe(
    study_id: int | None = None,
    patient_id: int | None = None,
    code: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """:meth:`Client.fetch_dataframe` with a client made from ``JHE_URL`` and ``JHE_TOKEN``."""
    return Client().fetch_dataframe(study_id=study_id, patient_id=patient_id, code=code)
