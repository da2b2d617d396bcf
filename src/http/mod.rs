//! HTTP to the Exchange. In: a URL. Out: the 2xx body's bytes, or a [`crate::JheError`]
//! with the server's diagnostics.
//!
//! [`HttpClient`] is the one entry: one pooled reqwest client ([`transport`], which retries
//! what is transient) and the Bearer token ([`auth`], which mints and renews tokens through
//! the transport alone).

pub mod auth;
mod client;
mod errors;
mod tls;
pub mod transport;

pub use client::HttpClient;
pub use errors::{diagnostics_from_body, http_error, redact_url};
pub use tls::install_crypto_provider;
