"""Typing shared by the stubs and the package: the keyword arguments of a fetch and of the
client, written once, and the one signature of the client's fetch methods."""

# No `from __future__ import annotations`: TypedDict reads `Required` from real annotations.

import datetime as _dt
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, Required, TypedDict, TypeVar, Unpack, overload

if TYPE_CHECKING:
    from jhe._deidentify import Deidentification

Api = Literal["auto", "fhir", "rest"]
Layout = Literal["wide", "long"]
TimeLike = str | _dt.datetime | _dt.date


class ArrowStreamExportable(Protocol):
    """Any object exporting an Arrow C stream (pyarrow, polars, arro3, jhe.Observations)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


class ArrowSchemaExportable(Protocol):
    """Any object exporting an Arrow C schema."""

    def __arrow_c_schema__(self) -> object: ...


class ArrowArrayExportable(Protocol):
    """Any object exporting an Arrow C array (with its schema)."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...


class _Narrowing(TypedDict, total=False):
    """The filters but the layout (the overloads below tell layouts apart)."""

    api: Api
    since: TimeLike | None
    until: TimeLike | None
    updated_since: TimeLike | None
    patient_identifier: tuple[str, str] | None
    organization_id: int | None
    # The Exchange's own records (None), or those imported from EHRs: "imported", one FHIR
    # source (its id or URI), or "all" (both).
    source: str | int | None
    # Only these columns, in the table's order (minimum necessary).
    columns: Sequence[str] | None


class Filters(_Narrowing, total=False):
    """Keyword filters every fetch and export accepts (see :meth:`jhe.Client.fetch`)."""

    layout: Layout | None


class _OneTable(_Narrowing, total=False):
    """The long layout, or the default one: one table, whatever the codes."""

    layout: Literal["long"] | None


class _TablePerCode(_Narrowing, total=False):
    """The wide layout: without a code, one table per code found."""

    layout: Required[Literal["wide"]]


class NativeRequest(Filters, total=False):
    """The native fetch's keywords: what the client's positional arguments carry (``codes``
    is ``code``: one or several), and filters."""

    study_id: int | None
    patient_id: int | None
    codes: str | Sequence[str] | None
    # A reading of changes since ``updated_since`` (watch, sync): ``(id, last_updated µs)``
    # of rows delivered before, skipped if read again unchanged.
    delivered: list[tuple[int, int]]


class ClientOptions(TypedDict, total=False):
    """Keyword arguments of :class:`jhe.Client` beside ``url`` and ``token`` (see its docstring)."""

    client_key: str | None
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    timeout: float | None
    retries: int | None
    concurrency: int | None
    max_concurrency: int | None
    page_size: int | None
    max_response_bytes: int | None
    allow_insecure: bool


One = TypeVar("One", covariant=True)
Many = TypeVar("Many", covariant=True)


class Fetch(Protocol[One, Many]):
    """The signature of :meth:`jhe.Client.fetch` and its conversions: ``One`` for one table
    (one code, or the long layout, which is the default for none or several), ``Many`` for
    one table per code (the wide layout without a code), either when the call cannot tell."""

    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[_OneTable],
    ) -> One: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: None = None,
        *,
        progress: bool | None = None,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[_TablePerCode],
    ) -> Many: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        *,
        code: str,
        progress: bool | None = None,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[Filters],
    ) -> One: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[Filters],
    ) -> One | Many: ...


class FetchAsync(Protocol[One, Many]):
    """:class:`Fetch`, awaitable (and without progress bars)."""

    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[_OneTable],
    ) -> Coroutine[Any, Any, One]: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: None = None,
        *,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[_TablePerCode],
    ) -> Coroutine[Any, Any, Many]: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        *,
        code: str,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[Filters],
    ) -> Coroutine[Any, Any, One]: ...
    @overload
    def __call__(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | Sequence[str] | None = None,
        *,
        strict: bool = False,
        deidentify: "bool | Deidentification | None" = None,
        **filters: Unpack[Filters],
    ) -> Coroutine[Any, Any, One | Many]: ...
