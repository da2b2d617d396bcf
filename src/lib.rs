//! jhe: fetch observations from a JupyterHealth Exchange and hand them to Python as Arrow.
//!
//! The modules are the stages data flows through, in order:
//! - [`config`]: where the Exchange is and how to authenticate; [`query`]: what is asked.
//! - [`http`]: a URL in, the answer's bytes out (retries, tokens, the server's errors).
//! - [`source`]: a page's bytes in, each observation on it out, borrowed (FHIR and REST).
//! - [`decode`]: an observation in, its OMH document decoded out, problems as reasons.
//! - [`table`]: decoded observations in, Arrow tables and the errors table out.
//! - [`deidentify`]: finished tables in, de-identified tables out (keyed pseudonyms,
//!   per-patient date shifts, identifiers removed).
//! - [`fetch`]: the verb that drives them: plans the pages, reads them, proves the result
//!   complete.
//!
//! `python` is the thin pyo3 layer, compiled only with the `python` feature. The fake
//! Exchange used offline and in tests is its own crate, `jhe_fake` (`crates/jhe-fake`).
//! [`error`] is the one error type; [`redact`] scrubs secrets from every text it carries;
//! [`allocator`] is the allocator and its settings for this workload.

pub mod config;
pub mod error;
pub mod redact;
pub mod query;
pub mod origin;
pub mod terminology;
pub mod selection;

pub mod http;
pub mod source;
pub mod decode;
pub mod table;
pub mod deidentify;
pub mod fetch;

pub mod allocator;

#[cfg(feature = "python")]
mod python;

pub use error::{JheError, Result};

