"""jhe: get patient data out of a JupyterHealth Exchange and into pandas, fast.

>>> import jhe
>>> df = jhe.fetch_dataframe(study_id=30001, code="omh:blood-glucose:4.0")  # uses JHE_URL / JHE_TOKEN

Fetching, decoding of the base64 Open mHealth payloads and building of typed Arrow columns
all happen in Rust; Python only converts the finished table.
"""

from __future__ import annotations

from jhe._client import Client, fetch_dataframe
from jhe._jhe import (
    ArgumentError,
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
from jhe import quality
from jhe._convert import DecodeWarning
from jhe._deidentify import Deidentification
from jhe._empty import EmptyResultWarning
from jhe._encryption import Encryption, read_parquet
from jhe._mirror import SyncResult, read_mirror
from jhe._result import Observations
from jhe._typing import ClientOptions, Filters
from jhe.quality import QualityReport

__all__ = [
    "ArgumentError",
    "AuthenticationError",
    "BadRequest",
    "Client",
    "ClientOptions",
    "ConfigurationError",
    "DecodeError",
    "DecodeWarning",
    "Deidentification",
    "Encryption",
    "EmptyResultWarning",
    "Filters",
    "InconsistentResult",
    "JHEError",
    "NotFound",
    "Observations",
    "PermissionDenied",
    "ProtocolError",
    "QualityReport",
    "ServerError",
    "SyncResult",
    "TransportError",
    "__version__",
    "catalog",
    "fetch_dataframe",
    "quality",
    "read_mirror",
    "read_parquet",
]
