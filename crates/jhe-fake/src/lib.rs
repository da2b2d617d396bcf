//! `jhe_fake`: a deterministic fake JupyterHealth Exchange, served in-process on
//! 127.0.0.1, speaking either API generation ([`Generation`]: v0.0.13 by default, see the
//! vendored samples in `tests/reference/samples`, or v0.0.11 as in
//! `tests/reference/samples-v0.0.11`), with optional injected faults ([`Faults`]) and a
//! log of the requests it served ([`FakeExchange::requests`]).
//!
//! The data is generated from a seed and ends at a fixed anchor (2026-01-01T00:00:00Z), so
//! the same config serves byte-identical responses on every run. [`FakeExchange::
//! expected_observations`] is the generator's ground truth for what a FHIR Observation
//! search returns.
//!
//! The data can change over time while the server runs, as a real Exchange's does between
//! two fetches: [`FakeExchange::add_observations`] (new rows, new ids),
//! [`FakeExchange::update_observations`] (a new value, `last_updated` moved to "now") and
//! [`FakeExchange::delete_observations`] (gone from every search, count, read and list;
//! ids are never reused). "Now" is the fake's own clock, one second after the newest
//! `last_updated` ever stored, so every change sorts after every stored row, and
//! `_lastUpdated=gt<the newest before>` finds exactly the rows changed since; an addition
//! may be dated earlier (`last_updated_offset_us < 0`), as when a server commits out of
//! order. Every change is one write under the store's lock: a request sees all of it or
//! none, cached query results are of the store's generation, and cached renderings of the
//! row's version (its `last_updated`). `expected_observations` reads the store as it is.
//!
//! # EHR-imported records
//!
//! A current Exchange also serves the FHIR records patients import from an EHR
//! (`POST /fhir-import/R4/`, converted to R5 and kept as `FhirAuxResource` rows), and the
//! fake does too ([`FakeConfig::source_search`], on by default). Every patient, hidden ones
//! included, has one FhirSource (pk 90001 + its index; [`FakeExchange::fhir_sources`]) and
//! through it fifteen LOINC Observations (labs and vital signs, one of every value form:
//! `valueQuantity` with and without a UCUM system, a blood-pressure panel of components,
//! `valueCodeableConcept`, `valueString`, `valueBoolean`, `valueInteger`, `valuePeriod`;
//! dated `effectiveDateTime`, `effectivePeriod` or only `issued`), two more a month in
//! worlds of 30 days or more (for at most 24 months), three Conditions, three
//! MedicationRequests and two Encounters. Each is a few numbers in memory, made on the
//! first imported search or read, its body rendered from the seed when served: a UUID `id`,
//! `meta.source` `https://jupyterhealth.org/fhir/fhir-source/<pk>` and no
//! `meta.lastUpdated`, the `patient-id` and `patient-full-name` extensions, and
//! `subject.reference` as the EHR sent it (the EHR's patient id, not JHE's). Their import
//! time, an hour before the anchor, is their `_lastUpdated`.
//!
//! `_source` picks the one store a search reads, as `_resolve_source_target` does:
//! `_source:below=https://jupyterhealth.org/fhir/fhir-source/` every imported record, any
//! other `:below` nothing; `_source=<that base>/<pk>` one source's records;
//! `_source=https://jupyterhealth.org/jhe` the native store; any other `_source` nothing; no
//! `_source` the native store for Observation and Patient (so their default searches are
//! unchanged) and the imported records for Condition, MedicationRequest, Encounter and
//! the other types. An imported search is authorized like a native one, takes the location
//! filters (`patient._has:Group:member:_id` by enrolment alone), `_id`, `_lastUpdated`,
//! paging, `_summary=count`, `_sort` (`date`, `_lastUpdated`, then the UUID), and the
//! parameters the server declares for the type, matched the way it matches them (dates as
//! text, tokens on `coding`). [`FakeExchange::expected_imported`] is the ground truth.
//!
//! Followed from jupyterhealth/jupyterhealth-exchange at 0339e9e: `core/views/fhir.py`
//! (`_resolve_source_target`, `_search_source`, `apply_common_search_filters`, the reads
//! routed by id shape), `core/models/fhir_aux_resource.py` (`fhir_search`,
//! `parse_fhir_source_id`, `apply_jhe_extensions`), `core/serializers/aux_resource.py`,
//! `core/fhir/search.py` (the JSONB filters and `_sort`), `core/fhir/fhir_config.json` (the
//! `aux_resources` search parameters), `core/fhir/capability.py` (`_source` on every type),
//! `data/fhir/fhir-cross-version-package/StructureMap-Encounter4to5.json` (R5's
//! `actualPeriod`), and the shapes of `tests/backend/test_fhir_r4_import.py`.
//!
//! Modules, lowest first; each uses only the ones before it:
//! - `config`: what the fake is started with (plain data).
//! - `generate`: the world (users, organizations, studies, patients) and the observations,
//!   as compact records, and their OMH payloads; an observation's next version and new
//!   ones modelled on stored ones; the EHR-imported records, as compact records.
//! - `store`: the observations in memory and their changes, filtered and sorted queries,
//!   a cache of results.
//! - `imported`: the EHR-imported records in memory, and their searches (the parameters
//!   the server declares for each type, and how it matches them).
//! - `changes`: adding, updating and deleting observations on request (defaults,
//!   validation).
//! - `render`: JSON bodies (FHIR resources and Bundles, imported records, REST rows and
//!   entities).
//! - `routes`: the HTTP handlers (auth, faults, FHIR, REST, the older generation), on
//!   Django/DRF plumbing and the shared server state.
//! - `server`: the route table.
//! - `exchange`: [`FakeExchange`], which starts it all.
//! - `ground_truth`: what a data-quality report over the fake must find
//!   ([`FakeExchange::expected_consent`], `expected_gaps`, `expected_implausible`, ...), and
//!   what `FakeConfig::quality_problems` injects.
//! - `imported_truth`: the FhirSources and what an imported search returns
//!   ([`FakeExchange::fhir_sources`], [`FakeExchange::expected_imported`]).
//!
//! `schemas` (feature `schemas`) is test support on its own: validators for the vendored
//! OMH / IEEE 1752 JSON Schemas.

mod config;
mod generate;
mod store;
mod imported;
mod changes;
mod render;
mod routes;
mod server;
mod exchange;
mod ground_truth;
mod imported_truth;

#[cfg(any(test, feature = "schemas"))]
pub mod schemas;

#[cfg(test)]
mod tests;

pub use changes::ChangeError;
pub use config::{FakeConfig, Faults, Generation};
pub use exchange::{Directory, ExpectedObservation, FakeError, FakeExchange};
pub use ground_truth::{ConsentStatus, ExpectedGap, ExpectedOutage, OffsetChange, SeriesPoint};
pub use routes::log::RequestRecord;
