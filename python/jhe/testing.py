"""An embedded fake JupyterHealth Exchange, for notebooks and tests that must run offline.

>>> from jhe.testing import FakeExchange
>>> with FakeExchange(patients=20, days=14, seed=0) as fx:  # doctest: +SKIP
...     df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)

The server is written in Rust and runs in this process on 127.0.0.1 with a free port. Its
data is generated from ``seed``: the same arguments always give the same data. It can
speak the older API generation (``legacy=True``), inject faults (errors, rate limits,
expiring tokens, dropped connections, rows written during a fetch) for resilience tests, and
serve data-quality problems (damaged payloads, a code no catalogue knows, repeated uuids) for
tests that nothing is lost, and (``quality_problems=True``) the problems a data-quality
report must find, with their ground truth (``expected_consent``, ``expected_gaps``,
``expected_implausible``, ...). Its data can change while it runs (``add_observations``,
``update_observations``, ``delete_observations``), for tests of what a client sees when an
Exchange's data changes between fetches. It also serves EHR-imported FHIR records (LOINC
Observations, Conditions, MedicationRequests, Encounters) behind ``_source``, as a current
Exchange does, with their ground truth (``fhir_sources``, ``expected_imported``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
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

    EHR-imported records: every patient has one FhirSource (pk ``90001 + index``, see
    ``fhir_sources()``) and through it the R5 records a real Exchange keeps after an R4 import
    from an EHR: fifteen LOINC Observations (labs and vital signs, every value form: HbA1c,
    glucose, heart rate with and without a UCUM system, a blood-pressure panel of components,
    weight in kg and in ``[lb_av]``, creatinine, smoking status as a ``valueCodeableConcept``,
    a ``valueString``, ``valueBoolean``, ``valueInteger`` and ``valuePeriod``; dated
    ``effectiveDateTime``, ``effectivePeriod`` or only ``issued``; and two more a month in
    worlds of 30 days or more), three Conditions, three MedicationRequests and two Encounters.
    Each has a UUID ``id``, ``meta.source`` ``https://jupyterhealth.org/fhir/fhir-source/<pk>``
    (no ``meta.lastUpdated``), the ``patient-id`` and ``patient-full-name`` extensions, and
    ``subject.reference`` as the EHR sent it (``Patient/<the EHR's id>``, not the JHE id).
    They were imported an hour before the anchor (2025-12-31T23:00:00Z), one millisecond per
    patient: that is their ``_lastUpdated``. Searches route on ``_source`` as the server's
    ``_resolve_source_target`` does: ``_source:below=https://jupyterhealth.org/fhir/fhir-source/``
    is every imported record, ``_source=.../fhir-source/<pk>`` one source's,
    ``_source=https://jupyterhealth.org/jhe`` the native store, any other value nothing; with
    no ``_source`` an Observation or Patient search reads the native store only (as before)
    and a Condition, MedicationRequest or Encounter search every imported record. Imported
    searches take ``patient``, ``patient._has:Group:member:_id`` (enrolment only),
    ``patient.organization``, ``_id``, ``_lastUpdated``, ``_count``/``_page``,
    ``_summary=count``, ``_sort`` (``date``, ``_lastUpdated``, ``-`` for descending) and the
    parameters the server declares per type: Observation ``category``, ``code``, ``status``,
    ``date``; Condition ``category``, ``clinical-status``, ``code``, ``onset-date``,
    ``recorded-date``, ``abatement-date``; MedicationRequest ``status``, ``intent``,
    ``authoredon`` (no ``code``, no ``date``); Encounter ``class``, ``type``, ``status``,
    ``identifier``, ``date``. As on the server, dates compare as text (``le2025-12-20``
    excludes that day's times; a bare value is a prefix), and Encounter ``date`` matches
    nothing (the server reads ``period.start``; R5 Encounters carry ``actualPeriod``).
    ``GET {fhir_url}/<Type>/<uuid>`` reads one.

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
        quality_problems: Serve the data-quality problems a quality report must find, each
            with its ground truth (see ``expected_consent`` and the other ``expected_*``
            methods); needs ``patients >= 6`` and ``days >= 7``. Visible patients by index
            (ids ``40001 + index``): patient 0's CGM stops for 6 hours on day 2 and for 24
            hours from day 5, its heart rate on days 3 and 4 (day 0 begins ``days`` days
            before the anchor, UTC; the hours move with the seed); patient 1 is enrolled in
            the main study alone with consent pending and has no observations; patient 2 is
            enrolled in the main study alone and declined glucose and heart rate
            (``consented: false``, and no observations of them); patient 3 has glucose 5
            and 1500 mg/dL and a heart rate of 400 (implausible), two body temperatures in
            2036 (future), and five glucose readings uploaded again under new ids by a second
            app (header ``source_name`` ``"Glucose Buddy"``); patient 4 has oxygen saturation
            30 % and body temperature 50 °C (122 °F if its device reports Fahrenheit)
            (implausible), one heart rate at 1970-01-01T00:00:00Z, and birth date 1984-06-15;
            patient 5 has three glucose readings of 400 mg/dL (otherwise 70-250) and a heart
            rate of 220 (spikes), and from day 4 on its times carry its home UTC offset plus 9
            hours (minus 9 where plus would pass +14:00). Patients 3 and 5 report glucose in
            mg/dL. The same in FHIR and REST of every generation; the other patients' data is
            as without the option.
        render_cache: Keep each FHIR Observation resource once rendered and serve it from
            memory afterwards (about 1.1 KB per observation served). The benchmarks use it
            so that the server's share of the CPU is small and the same for every client.
        source_search: Serve ``_source`` as current servers do (the default). ``False``: a
            server that knows no ``_source``: the CapabilityStatement (``/FHIR/R5/metadata``)
            lists no ``_source`` search parameter and every search is routed as if none were
            sent (``Observation?_source:below=...`` returns the native rows, as an older server
            silently would; Condition, MedicationRequest and Encounter searches still return the
            imported records).
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
        quality_problems: bool = False,
        render_cache: bool = False,
        source_search: bool = True,
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
            quality_problems=quality_problems,
            render_cache=render_cache,
            source_search=source_search,
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

    def fhir_sources(self) -> dict[int, int]:
        """``{source_pk: patient_id}`` of every FhirSource: one per patient, pk ``90001 +`` the
        patient's index (ids ``40001 + index``), hidden patients' included (their records are
        never served: ``_source=.../fhir-source/<pk>`` of one finds nothing, with no 403)."""
        return self._native.fhir_sources()

    def expected_imported(
        self,
        resource_type: str,
        patient_id: int | None = None,
        source_id: int | None = None,
    ) -> list[str]:
        """The ground truth of a search of the imported records: the JSON text of each
        ``resource_type`` record that ``GET {fhir_url}/<resource_type>?_source:below=
        https://jupyterhealth.org/fhir/fhir-source/`` returns, in the server's order without
        ``_sort`` (newest import first), exactly as served (``json.loads`` each for dicts).
        Only the records of patients the token's user may see; of ``patient_id`` and of the
        FhirSource ``source_id`` (see ``fhir_sources()``) when given, a hidden or unknown one
        giving none. Empty for a supported type the fake has no imported records of (only
        Observation, Condition, MedicationRequest and Encounter have some). Sends no request.

        Raises:
            ValueError: the Exchange does not support ``resource_type``.
        """
        return self._native.expected_imported(resource_type, patient_id, source_id)

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
                over the main study's visible patients who consented to it.
            code: Which data type (``"omh:heart-rate:2.0"`` or ``"system|code"``); default:
                spread round robin over the codes the main study requests (for each patient,
                skipping a code it declined, with ``quality_problems``).
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

    # Ground truth of a data-quality report. Every list reads the data as it is now: deleted
    # observations are left out, so are damaged ones (``damaged_every``) and, for an injected
    # value, one an update has changed. Without ``quality_problems`` the injected lists are
    # empty; ``expected_consent`` and ``expected_gaps`` hold for any fake.

    def expected_consent(self, study_id: int) -> dict[int, dict[str, str]]:
        """``{patient_id: {code: status}}`` for every visible patient enrolled in the study and
        every code the fake serves (the 16 standard codes, and ``omh:ambient-sound:1.0`` with
        ``unknown_codes``). The status is the first that holds of: ``"not requested by
        study"`` (the study does not request the code), ``"consent pending"`` (the patient
        has not answered the study's consent), ``"not consented"`` (it declined the code),
        ``"has data"`` (at least one observation of the code that a search of the study
        serves; damaged ones count, deleted ones do not), ``"no data"``. Empty for a study the
        user may not see or that does not exist."""
        return self._native.expected_consent(study_id)

    def expected_implausible(self) -> list[tuple[int, str]]:
        """``(observation_id, code)`` of the physiologically impossible values, by id: glucose
        5 and 1500 mg/dL and heart rate 400 beats/min (patient 3), oxygen saturation 30 % and
        body temperature 50 °C (122 °F) (patient 4). No generated value is implausible: these
        are all of them."""
        return self._native.expected_implausible()

    def expected_spikes(self) -> list[tuple[int, str]]:
        """``(observation_id, code)`` of the injected spikes, by id: patient 5's three glucose
        readings of 400 mg/dL and its spot heart rate of 220 beats/min. An outlier rule may
        flag other readings too (a series' natural tails); these it must flag."""
        return self._native.expected_spikes()

    def expected_future(self) -> list[int]:
        """Ids of the observations whose effective time lies in 2036 (moved ten years and ``days``
        days on, so at least ten years past the anchor): two of patient 3's body temperatures. Their header ``source_creation_date_time`` stays
        in the data window, so their effective time is also after their creation. No other
        observation is after the anchor (rows added while the server runs are dated just
        after it, not years)."""
        return self._native.expected_future()

    def expected_clock_reset(self) -> list[int]:
        """Ids of the observations whose effective time is 1970-01-01T00:00:00Z (written in the
        patient's local offset): one of patient 4's spot heart rates; before 2000 and before
        its birth date (1984-06-15). The only observations before 2000."""
        return self._native.expected_clock_reset()

    def expected_duplicate_readings(self) -> list[tuple[int, int]]:
        """``(original_id, copy_id)`` of the readings uploaded twice, by copy id: five of
        patient 3's glucose readings. Same patient, code, time frame and value (the payload
        bodies are equal); the copy has its own id and OMH uuid, a ``last_updated`` (and header
        creation time) about an hour later, and header ``source_name`` ``"Glucose Buddy"``
        (the original's is ``"Dexcom G7"``)."""
        return self._native.expected_duplicate_readings()

    def expected_offset_changes(self) -> list[tuple[int, int]]:
        """``(patient_id, observation_id)`` for each patient whose device starts writing
        another UTC offset: patient 5, from day 4. The observation is the first (by effective
        start, then id) written with the new offset, among those whose time frame carries an
        offset (a date and part of day does not). Every one before it carries the home
        offset, every one after it the new one, in the time frame and the header's
        ``source_creation_date_time`` alike."""
        return [(patient, observation) for patient, observation, *_ in self._native.expected_offset_changes()]

    def expected_outages(self) -> list[tuple[int, str, datetime, datetime]]:
        """``(patient_id, code, start, end)`` of the injected device outages (aware UTC
        datetimes): no reading of that code whose effective start lies in ``[start, end)``
        was generated. Patient 0: glucose for 6 hours on day 2 and for 24 hours from day 5,
        heart rate for days 3 and 4. Each lies inside one of ``expected_gaps(code)``."""
        return [(p, code, _utc(start), _utc(end)) for p, code, start, end in self._native.expected_outages()]

    def expected_gaps(self, code: str, k: float = 3) -> list[tuple[int, datetime, datetime]]:
        """``(patient_id, start, end)`` of every gap in each visible patient's series of
        ``code``, by patient id, then start (aware UTC datetimes).

        A series is the patient's observations of the code (not deleted, not damaged; copies
        of a reading included) whose effective start lies from 2000-01-01T00:00:00Z to the
        anchor, both included, ordered by effective start, then id. Its intervals are the
        differences between consecutive effective starts (0 between a reading and its copy);
        their median is the middle one, or the mean of the two middle ones. A gap is an
        interval strictly greater than ``k`` times that median, from the effective start of
        the reading before it to that of the reading after. A series of fewer than two
        readings has no gap. Every visible patient counts (all are in the main study).

        Raises:
            ValueError: the code is unknown.
        """
        return [(p, _utc(start), _utc(end)) for p, start, end, *_ in self._native.expected_gaps(code, float(k))]

    def expected_series(self, patient_id: int, code: str) -> list[tuple[int, datetime, float | None]]:
        """``(observation_id, effective_start, value)`` of a visible patient's observations of
        ``code`` (not deleted, not damaged), by effective start, then id: the main measure's
        ``value`` exactly as the payload writes it, in its unit (``None`` for a code whose
        main measure is not a number: activity, food, sleep episode). Empty for a patient the
        user may not see.

        Raises:
            ValueError: the code is unknown.
        """
        return [(i, _utc(start), value) for i, start, value in self._native.expected_series(patient_id, code)]

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


def _utc(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc)
