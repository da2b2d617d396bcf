"""jhe: get patient data out of a JupyterHealth Exchange and into pandas, fast.

>>> import jhe
>>> df = jhe.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # uses JHE_URL / JHE_TOKEN

Fetching, decoding of the base64 Open mHealth payloads and building of typed Arrow columns
all happen in Rust; Python only converts the finished table.
"""

from __future__ import annotations

from jhe._client import Client, Filters, fetch_dataframe
from jhe._jhe import (
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    DecodeError,
    InconsistentResult,
    JHEError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    ServerError,
    TransportError,
    __version__,
    catalog,
)
from jhe._convert import DecodeWarning
from jhe._result import Observations

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "Client",
    "ConfigurationError",
    "DecodeError",
    "DecodeWarning",
    "Filters",
    "InconsistentResult",
    "JHEError",
    "NotFound",
    "Observations",
    "PermissionDenied",
    "ProtocolError",
    "ServerError",
    "TransportError",
    "__version__",
    "catalog",
    "fetch_dataframe",
]
