"""Type stubs for the native core ``jhe._jhe`` (Rust)."""

from collections.abc import Awaitable, Callable
from typing import Any, Unpack, final

from jhe._typing import (
    ArrowArrayExportable,
    ArrowSchemaExportable,
    ArrowStreamExportable,
    ClientOptions,
    Filters,
    NativeRequest,
)

__all__ = [
    "__version__",
    "NativeClient",
    "NativeFetchResult",
    "NativeFakeExchange",
    "catalog",
    "purging_at_once",
    "PurgingAtOnce",
    "JHEError",
    "ConfigurationError",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "BadRequest",
    "ServerError",
    "TransportError",
    "ProtocolError",
    "InconsistentResult",
    "DecodeError",
    "ArgumentError",
]
__version__: str

def catalog() -> list[dict[str, Any]]:
    """The codes jhe decodes into typed columns: for each, its measures with their wide
    column name, dotted path (the long layout's ``measure``), kind, whether required, allowed
    units (canonical first) and the stem of the stated ``_value``/``_unit`` columns."""

class JHEError(Exception):
    status: int | None
    url: str | None
    diagnostics: str | None

class ConfigurationError(JHEError): ...
class AuthenticationError(JHEError): ...
class PermissionDenied(JHEError): ...
class NotFound(JHEError): ...
class BadRequest(JHEError): ...
class ServerError(JHEError): ...
class TransportError(JHEError): ...
class ProtocolError(JHEError): ...

class DecodeError(JHEError): ...

class ArgumentError(ConfigurationError, TypeError):
    """An argument jhe does not take, or of the wrong type; nothing was sent."""

class InconsistentResult(JHEError):
    expected: int
    received: int

@final
class NativeFetchResult:
    @property
    def tables(self) -> list[tuple[str | None, ArrowStreamExportable]]: ...
    def take_tables(self) -> list[tuple[str | None, ArrowSchemaExportable, list[ArrowArrayExportable]]]: ...
    def delivered_since(self, at: int) -> list[tuple[int, int]]: ...
    @property
    def newest_last_updated(self) -> int | None: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> ArrowStreamExportable: ...
    @property
    def layout(self) -> str: ...
    @property
    def single_code(self) -> str | None: ...
    @property
    def server_total(self) -> int: ...
    @property
    def observations(self) -> int: ...
    @property
    def requests(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def duplicate_uuids(self) -> int: ...
    @property
    def api(self) -> str: ...
    @property
    def generation(self) -> str: ...

@final
class NativeClient:
    def __new__(cls, url: str | None = None, token: str | None = None, **options: Unpack[ClientOptions]) -> NativeClient: ...
    @property
    def url(self) -> str: ...
    @property
    def page_size(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def auth_method(self) -> str: ...
    def fetch(
        self,
        filters: Filters | None = None,
        /,
        *,
        progress: Callable[[int, int, int, int], object] | None = None,
        **request: Unpack[NativeRequest],
    ) -> NativeFetchResult:
        """``layout``: ``"wide"``, ``"long"`` or ``"flat"`` (FHIR only: one table with the
        common columns, ``resource`` (each resource's JSON as received), ``shape`` and
        ``flat``, a struct of the official client's ``tidy_observation`` columns whose
        ``jhe.shapes`` metadata lists each shape's columns in row order)."""
    def fetch_async(
        self, filters: Filters | None = None, /, **request: Unpack[NativeRequest]
    ) -> Awaitable[NativeFetchResult]: ...
    def count(self, filters: Filters | None = None, /, **request: Unpack[NativeRequest]) -> tuple[int, bool]: ...
    def newest_update(self, filters: Filters | None = None, /, **request: Unpack[NativeRequest]) -> int | None: ...
    def newest_update_async(
        self, filters: Filters | None = None, /, **request: Unpack[NativeRequest]
    ) -> Awaitable[int | None]: ...
    def list_json(self, path: str, params: list[tuple[str, str]] = ...) -> str: ...
    def get_json(self, path: str) -> str: ...

@final
class NativeFakeExchange:
    def __new__(
        cls,
        *,
        patients: int = 20,
        days: int = 14,
        seed: int = 0,
        legacy: bool | str | None = None,
        latency_ms: int = 0,
        error_rate: float = 0.0,
        error_status: int = 503,
        rate_limit_every: int = 0,
        rate_limit_above: int = 0,
        retry_after_s: int = 1,
        token_ttl_s: float | None = None,
        drop_connection_rate: float = 0.0,
        insert_during_fetch: int = 0,
        gzip: bool = False,
        damaged_every: int = 0,
        unknown_codes: bool = False,
        duplicate_uuid_every: int = 0,
        render_cache: bool = False,
        port: int = 0,
    ) -> NativeFakeExchange: ...
    @property
    def url(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def client_key(self) -> str: ...
    @property
    def refresh_token(self) -> str: ...
    @property
    def generation(self) -> str: ...
    def directory(self) -> dict[str, Any]: ...
    def expected_observations(
        self, study_id: int | None = None, patient_id: int | None = None, code: str | None = None
    ) -> list[dict[str, Any]]: ...
    def add_observations(
        self, count: int, patient_id: int | None = None, code: str | None = None, last_updated_offset_us: int = 0
    ) -> list[int]: ...
    def update_observations(self, ids: list[int]) -> None: ...
    def delete_observations(self, ids: list[int]) -> None: ...
    def damaged(self) -> list[tuple[int, str]]: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def clear_requests(self) -> None: ...
    @property
    def max_in_flight(self) -> int: ...
    def reset_max_in_flight(self) -> None: ...
    def stop(self) -> None: ...

@final
class PurgingAtOnce:
    def __enter__(self) -> PurgingAtOnce: ...
    def __exit__(self, *exception: object) -> bool: ...

def purging_at_once() -> PurgingAtOnce: ...
