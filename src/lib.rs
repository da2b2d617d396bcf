//! jhe: fetch observations from a JupyterHealth Exchange and hand them to Python as Arrow.
//!
//! Modules in the order data flows through them: configuration and credentials, HTTP,
//! what is asked for, the FHIR adapter, OMH decoding, Arrow building, and the fetch verb
//! that drives them. `fake` is the embedded Exchange used offline and in tests; `python`
//! is the thin pyo3 layer, compiled only with the `python` feature.

pub mod config;
pub mod auth;
pub mod error;
pub mod http;
pub mod query;
pub mod fhir;
pub mod rest;
pub mod omh;
pub mod table;
pub mod fetch;

pub mod fake;

#[cfg(feature = "python")]
mod python;

pub use error::{JheError, Result};
