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
//! Modules, lowest first; each uses only the ones before it:
//! - `config`: what the fake is started with (plain data).
//! - `generate`: the world (users, organizations, studies, patients) and the observations,
//!   as compact records, and their OMH payloads.
//! - `store`: the observations in memory, filtered and sorted queries, a cache of results.
//! - `render`: JSON bodies (FHIR resources and Bundles, REST rows and entities).
//! - `routes`: the HTTP handlers (auth, faults, FHIR, REST, the older generation), on
//!   Django/DRF plumbing and the shared server state.
//! - `server`: the route table.
//! - `exchange`: [`FakeExchange`], which starts it all.
//!
//! `schemas` (feature `schemas`) is test support on its own: validators for the vendored
//! OMH / IEEE 1752 JSON Schemas.

mod config;
mod generate;
mod store;
mod render;
mod routes;
mod server;
mod exchange;

#[cfg(any(test, feature = "schemas"))]
pub mod schemas;

#[cfg(test)]
mod tests;

pub use config::{FakeConfig, Faults, Generation};
pub use exchange::{Directory, ExpectedObservation, FakeError, FakeExchange};
pub use routes::log::RequestRecord;
