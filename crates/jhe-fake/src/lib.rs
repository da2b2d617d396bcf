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
//! Modules, lowest first; each uses only the ones before it:
//! - `config`: what the fake is started with (plain data).
//! - `generate`: the world (users, organizations, studies, patients) and the observations,
//!   as compact records, and their OMH payloads; an observation's next version and new
//!   ones modelled on stored ones.
//! - `store`: the observations in memory and their changes, filtered and sorted queries,
//!   a cache of results.
//! - `changes`: adding, updating and deleting observations on request (defaults,
//!   validation).
//! - `render`: JSON bodies (FHIR resources and Bundles, REST rows and entities).
//! - `routes`: the HTTP handlers (auth, faults, FHIR, REST, the older generation), on
//!   Django/DRF plumbing and the shared server state.
//! - `server`: the route table.
//! - `exchange`: [`FakeExchange`], which starts it all.
//! - `ground_truth`: what a data-quality report over the fake must find
//!   ([`FakeExchange::expected_consent`], `expected_gaps`, `expected_implausible`, ...), and
//!   what `FakeConfig::quality_problems` injects.
//!
//! `schemas` (feature `schemas`) is test support on its own: validators for the vendored
//! OMH / IEEE 1752 JSON Schemas.

mod config;
mod generate;
mod store;
mod changes;
mod render;
mod routes;
mod server;
mod exchange;
mod ground_truth;

#[cfg(any(test, feature = "schemas"))]
pub mod schemas;

#[cfg(test)]
mod tests;

pub use changes::ChangeError;
pub use config::{FakeConfig, Faults, Generation};
pub use exchange::{Directory, ExpectedObservation, FakeError, FakeExchange};
pub use ground_truth::{ConsentStatus, ExpectedGap, ExpectedOutage, OffsetChange, SeriesPoint};
pub use routes::log::RequestRecord;
