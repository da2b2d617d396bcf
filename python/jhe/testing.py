"""An embedded fake JupyterHealth Exchange, for notebooks and tests that must run offline.

>>> from jhe.testing import FakeExchange
>>> with FakeExchange(patients=20, days=14, seed=0) as fx:  # doctest: +SKIP
...     df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)

The server is written in Rust and runs in this process on 127.0.0.1 with a free port. Its
data is generated from ``seed``: the same arguments always give the same data. It can
speak the older API generation (``legacy=True``), inject faults (errors, rate limits,
expiring tokens, dropped connections, rows written during a fetch) for resilience tests, and
serve data-quality problems (damaged payloads, a code no catalogue knows, repeated uuids) for
tests that nothing is lost. Its data can change while it runs (``add_observations``,
``update_observations``, ``delete_observations``), for tests of what a client sees when an
Exchange's data changes between fetches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from jhe._jhe import NativeFakeExchange


class FakeExchange:
    """A fake Exchange with generated organizations, studies, patients and observations.

    By default it serves the current JHE API (v0.0.13: REST under ``/api/v1/``, FHIR under
    ``/FHIR/R5/``). ``legacy=True`` serves the older generation (v0.0.11) as real servers
    of that version behave: FHIR only under ``/fhir/r5/``, no ``metadata``, a study,
    ``patient`` or ``patient.identifier`` filter required, ``date``/``_lastUpdated``/
    ``_sort``/``_summary``/``_id`` silently ignored, ``code`` matched with SQL LIKE, 406 for
    ``Accept: application/fhir+json``, base64 wrapped every 76 characters, DRF error bodies
    and REST rows with ``valueAttachmentData``. ``legacy="guide"`` is that plus what the user
    guide documents and no released server does: REST rows with the guide's field names
    (``subjectPatient``, ``patientNameDisplay``, ``dataSourceName``, ``created``, ...) and
    REST lists paged by ``limit``/``offset``.

    Faults (all off by default) hit the API routes (REST and FHIR; latency and errors also
    ``/o/token/``), never ``expected_observations``. Random choices depend on ``seed`` and
    the order requests arrive in, so a sequential client meets the same faults every run.

    Changes over time: while the server runs (and from any thread), ``add_observations``
    adds rows, ``update_observations`` gives rows a new value and ``delete_observations``
    removes them, in every generation and both APIs; ``expected_observations`` follows.
    Changes are dated by the fake's own clock, "now": one second after the newest
    ``lastUpdated`` ever stored, so each change sorts after every row already there (newest
    first by default, ``_sort=-_lastUpdated``, REST's ``-last_updated``) and
    ``_lastUpdated=gt<the newest lastUpdated before the change>`` finds exactly the changed
    rows on the current generation (the legacy ones ignore ``_lastUpdated`` and ``_sort``, as
    real ones do, and serve newest first). ``add_observations(...,
    last_updated_offset=timedelta(seconds=-3))`` dates new rows before rows already there, as
    a server committing out of order does.

    >>> with FakeExchange(patients=2, days=1) as fx:  # doctest: +SKIP
    ...     rows = fx.expected_observations()  # newest first
    ...     new = fx.add_observations(3)
    ...     fx.update_observations([rows[-1]["id"]])
    ...     fx.delete_observations([rows[1]["id"]])
    ...     # _lastUpdated=gt{rows[0]["last_updated"]}: the three new rows and the updated one;
    ...     # the deleted one is gone from every search, count, read and list.

    Args:
        patients: Visible patients (all in the main study).
        days: Days of data per patient (CGM glucose every 15 minutes plus daily wearables).
        seed: Seed of the generator, the tokens and the fault decisions.
        legacy: ``False`` (current API), ``True`` (v0.0.11) or ``"guide"``.
        latency_ms: Delay every API response by this many milliseconds.
        error_rate: Share (0 to 1) of API requests answered with ``error_status`` and a
            proxy's short HTML page.
        error_status: The status of those errors, 4xx or 5xx (default 503).
        rate_limit_every: Every Nth API request is 429 with ``Retry-After`` (0: off).
        rate_limit_above: An API request that arrives while more than this many API
            requests are in flight (itself included) is 429 with ``Retry-After``, as a
            connection limit in front of a small server answers (0: off).
        retry_after_s: The ``Retry-After`` of those 429s, in seconds.
        token_ttl_s: Lifetime in seconds of ``token`` and of every token ``/o/token/``
            issues (``None``: 14 days). An expired token gets 401 like a missing one.
        drop_connection_rate: Share (0 to 1) of API requests whose connection is dropped
            mid-response (headers and part of the body, then the connection closes).
        insert_during_fetch: Once, right after the first page of an observation search or
            list has been served (FHIR or REST; not ``_summary=count``), append this many
            new observations (newest, new ids, main study), so a running fetch sees the total
            change and rows shift between pages.
        gzip: Compress responses for clients that accept gzip (off by default: it costs
            the server's CPU, which benchmarks share with the client).
        damaged_every: Every Nth generated visible observation (in id order; N >= 2, 0: off)
            is served damaged, the same in every generation and both APIs, the kinds in
            rotation (see ``damaged()``): ``"not_base64"`` (FHIR ``valueAttachment.data`` is
            the payload's JSON text unencoded and cut off halfway; REST ``omhData`` is that
            text as a JSON string), ``"not_json"`` (``data`` is the base64 of ``not json``;
            REST ``omhData`` is ``"not json"``), ``"missing_measure"`` (the body lacks its
            required measure, e.g. ``blood_glucose``), ``"bad_unit"`` (a unit the schema does
            not allow, e.g. ``g/L`` for glucose, ``stone`` for weight), ``"no_time_frame"``
            (no ``effective_time_frame``) and ``"bad_date_time"`` (every date-time in
            ``effective_time_frame`` is ``"yesterday"``). A kind that cannot break an
            observation's code (sleep-episode requires no measure, rr-interval and
            physical-activity no time frame, the unknown code has no schema) is skipped for
            the next one.
        unknown_codes: Add ``omh:ambient-sound:1.0``, a code no client catalogue knows: the
            main study requests it (scope 50017, consents, data source ``"Soundscape"``) and
            each patient has two to four readings a day, with bodies like ``{"sound_level":
            {"unit": "dB", "value": 55.2}, "environment": {"label": "office", "indoor":
            true}, "tags": ["conversation", "a-weighted"], "effective_time_frame":
            {"date_time": ...}}``.
        duplicate_uuid_every: Every Nth generated visible observation (in id order; N >= 2,
            0: off) reuses the OMH header ``uuid`` of the visible observation before it, as
            when a device uploads a reading twice.
        render_cache: Keep each FHIR Observation resource once rendered and serve it from
            memory afterwards (about 1.1 KB per observation served). The benchmarks use it
            so that the server's share of the CPU is small and the same for every client.
        port: The port to serve on (0, the default: a free one). A port in use raises
            ``ValueError``.

    Attributes:
        url: The server's address, e.g. ``http://127.0.0.1:53211``.
        token: A valid Bearer access token (until it expires or is refreshed).
        directory: Ids of the generated data (studies, patients, codes per study, ...).

    ``POST /o/token/`` issues tokens: ``grant_type=client_credentials`` with HTTP Basic
    ``client_key`` (or form fields ``client_id``/``client_secret``; refused by the legacy
    generations), and ``grant_type=refresh_token`` with ``refresh_token`` (a new access and
    refresh token; the previous access token is revoked).

    Raises:
        ValueError: an argument is out of range (naming it), e.g. ``error_rate=1.5`` or
            ``damaged_every=1``.
    """

    def __init__(
        self,
        patients: int = 20,
        days: int = 14,
        seed: int = 0,
        *,
        legacy: bool | str = False,
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
    ) -> None:
        self._native = NativeFakeExchange(
            patients=patients,
            days=days,
            seed=seed,
            legacy=legacy,
            latency_ms=latency_ms,
            error_rate=error_rate,
            error_status=error_status,
            rate_limit_every=rate_limit_every,
            rate_limit_above=rate_limit_above,
            retry_after_s=retry_after_s,
            token_ttl_s=token_ttl_s,
            drop_connection_rate=drop_connection_rate,
            insert_during_fetch=insert_during_fetch,
            gzip=gzip,
            damaged_every=damaged_every,
            unknown_codes=unknown_codes,
            duplicate_uuid_every=duplicate_uuid_every,
            render_cache=render_cache,
            port=port,
        )
        self.url: str = self._native.url
        self.token: str = self._native.token
        self.directory: dict[str, Any] = self._native.directory()

    @property
    def generation(self) -> str:
        """``"current"``, ``"legacy"`` or ``"guide"``."""
        return self._native.generation

    @property
    def fhir_url(self) -> str:
        """The FHIR base: ``{url}/FHIR/R5``, or ``{url}/fhir/r5`` for the legacy generations."""
        return self.url + ("/FHIR/R5" if self.generation == "current" else "/fhir/r5")

    @property
    def client_id(self) -> str:
        """The OAuth client id of the practitioner's key."""
        return self._native.client_id

    @property
    def client_secret(self) -> str:
        """The OAuth client secret of the practitioner's key."""
        return self._native.client_secret

    @property
    def client_key(self) -> str:
        """``base64(client_id:client_secret)``, as JHE's ``practitioner_clients`` hands it out:
        send ``Authorization: Basic <client_key>`` with ``grant_type=client_credentials``."""
        return self._native.client_key

    @property
    def refresh_token(self) -> str:
        """The refresh token issued with ``token``; using it revokes ``token`` (once only)."""
        return self._native.refresh_token

    @property
    def main_study_id(self) -> int:
        """A visible study that asks for every data type."""
        return int(self.directory["main_study_id"])

    @property
    def hidden_study_id(self) -> int:
        """A study the token's user may not see (403)."""
        return int(self.directory["hidden_study_id"])

    def expected_observations(
        self,
        study_id: int | None = None,
        patient_id: int | None = None,
        code: str | None = None,
    ) -> list[dict[str, Any]]:
        """The generator's ground truth for an Observation search with these filters, newest
        first: dicts with ``id``, ``patient_id``, ``code``, ``last_updated``, ``omh`` (the
        payload as served, as a dict; ``None`` when it is not JSON), ``damage`` (``None``, or
        the kind of damage, see ``damaged()``) and ``omh_text`` (``None``, or for
        ``"not_base64"`` and ``"not_json"`` the text FHIR ``valueAttachment.data`` holds,
        unencoded or base64-encoded). Reads the data as it is now: rows added by
        ``insert_during_fetch`` or ``add_observations`` included, updated rows with their new
        value and ``last_updated`` (ordered by it), deleted rows left out. Sends no request
        and meets no fault."""
        rows = self._native.expected_observations(study_id, patient_id, code)
        for row in rows:
            text = row.pop("omh_json")
            if row["damage"] in ("not_base64", "not_json"):
                row["omh"], row["omh_text"] = None, text
            else:
                row["omh"], row["omh_text"] = json.loads(text), None
        return rows

    def add_observations(
        self,
        n: int,
        patient_id: int | None = None,
        code: str | None = None,
        *,
        last_updated_offset: timedelta | None = None,
    ) -> list[int]:
        """Add ``n`` observations, written now, while the server runs; returns their ids (new,
        ascending; an id is never reused).

        Args:
            n: How many.
            patient_id: Whose (any patient, hidden ones too); default: spread round robin
                over the main study's visible patients.
            code: Which data type (``"omh:heart-rate:2.0"`` or ``"system|code"``); default:
                spread round robin over the codes the main study requests.
            last_updated_offset: Date them this far from now: ``None`` (or zero) puts them
                after every stored row; a negative offset, e.g. ``timedelta(seconds=-3)``,
                before rows already visible (now is one second after the newest row ever
                stored, so -3 s is two seconds before it), as when a server commits
                transactions out of order: real new rows whose ``lastUpdated`` is older than
                rows a client may already have read.

        Each new row replays one of the newest stored rows of its patient and code (or of
        another patient's, or, for a code no row has yet, a typical reading), moved forward in
        time: its own uuid, its OMH payload as valid as a generated one.

        Raises:
            ValueError: ``n`` is negative, the patient or code is unknown, or the code is
                ``omh:ambient-sound:1.0`` without ``unknown_codes``; nothing was added.
        """
        if last_updated_offset is None:
            offset_us = 0
        elif isinstance(last_updated_offset, timedelta):
            offset_us = last_updated_offset // timedelta(microseconds=1)
        else:
            raise TypeError(f"last_updated_offset must be a datetime.timedelta or None, got {last_updated_offset!r}")
        return self._native.add_observations(n, patient_id, code, offset_us)

    def update_observations(self, ids: Iterable[int]) -> None:
        """Give each observation a new value (its decoded measure differs, e.g. 18 mg/dL less
        glucose; a damaged payload is whole again) and move its ``last_updated`` to now,
        after every stored row: the FHIR resource and the REST row both show it, and it sorts
        as the newest. Each id once, in the order given.

        Raises:
            ValueError: an id is unknown or deleted; nothing was updated.
        """
        self._native.update_observations([int(i) for i in ids])

    def delete_observations(self, ids: Iterable[int]) -> None:
        """Delete observations: from then on no search, count (``_summary=count``, REST
        ``count``), read (``Observation/{id}`` is 404) or list finds them, in any generation.

        Raises:
            ValueError: an id is unknown or already deleted; nothing was deleted.
        """
        self._native.delete_observations([int(i) for i in ids])

    def damaged(self) -> list[tuple[int, str]]:
        """The observations served damaged (``damaged_every``), by id ascending: ``(id, kind)``
        tuples, the kind one of ``"not_base64"``, ``"not_json"``, ``"missing_measure"``,
        ``"bad_unit"``, ``"no_time_frame"``, ``"bad_date_time"`` (see the class docstring).
        Empty when ``damaged_every`` is 0; deleted observations and updated ones (whose payload
        an update makes whole) are not listed."""
        return self._native.damaged()

    def requests(self) -> list[dict[str, Any]]:
        """Every request served so far, in the order they completed: dicts with ``method``,
        ``path``, ``query``, ``status`` and ``fault`` (``None``, or ``"rate_limit"``,
        ``"error"``, ``"drop_connection"``, ``"insert_during_fetch"``, ``"token_expired"``, or
        ``"client_closed"``: status 499, the client went away before the answer),
        ``arrived`` and ``answered``: numbers from one sequence of every request's arrival
        and answer, so two requests were in flight at once when each arrived before the other
        was answered. Never holds a credential."""
        return self._native.requests()

    def clear_requests(self) -> None:
        """Forget the requests logged so far."""
        self._native.clear_requests()

    @property
    def max_in_flight(self) -> int:
        """The most API requests (REST and FHIR) in flight at once, since the start or the
        last ``reset_max_in_flight()``."""
        return self._native.max_in_flight

    def reset_max_in_flight(self) -> None:
        """Count the most requests in flight afresh, from those in flight now."""
        self._native.reset_max_in_flight()

    def close(self) -> None:
        """Stop serving. Safe to call twice."""
        self._native.stop()

    def __enter__(self) -> FakeExchange:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FakeExchange(url={self.url!r}, generation={self.generation!r})"
