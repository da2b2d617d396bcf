//! The HTTP handlers. In: requests, the shared state ([`state::AppState`]) and the store's
//! query results; out: responses, with the server's status codes, headers and bodies.
//!
//! Modules, lowest first; each uses only the ones before it and the layers below
//! (`config`, `generate`, `store`, `imported`, `render`): `http` (Django/DRF plumbing),
//! `tokens` (the OAuth state) and `log` (the request log and fault counters), `state` (what
//! handlers share), `search` (FHIR search plumbing: errors, location filters, bounds, the
//! paged Bundle) and `imported` (the `_source` routing, the imported-record search and
//! read), then the handlers, which do not use each other: `auth` (bearer guards, the token
//! endpoint, OpenID discovery), `faults` (the fault and request-log middleware), `fhir`
//! (the current FHIR API), `rest` (the REST API of every generation), `legacy` (the
//! v0.0.11 FHIR API).

pub(crate) mod http;
pub(crate) mod tokens;
pub(crate) mod log;
pub(crate) mod state;
pub(crate) mod search;
pub(crate) mod imported;
pub(crate) mod auth;
pub(crate) mod faults;
pub(crate) mod fhir;
pub(crate) mod rest;
pub(crate) mod legacy;
