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

#[cfg(feature = "python")]
mod python;

pub use error::{JheError, Result};

/// Rust's allocations only (Python keeps its own): decoded pages are built on one thread
/// and freed on another, which glibc's malloc handles slowly (a third of a fetch's CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Have mimalloc return freed memory to the system after 50 ms instead of its default
/// 1000 ms. A fetch frees page after page while its tables grow; held for a second, that
/// memory adds to the peak. Measured on a million observations (benchmarks/RESULTS.md):
/// 10 ms: 432 MB, 50 ms: 444 MB, 1000 ms: 501 MB peak; shorter delays made a
/// 100,000-observation fetch slower (page faults), by 10-40% in interleaved runs. Called by
/// [`fetch::Session::new`]; `MIMALLOC_PURGE_DELAY` in the environment still wins.
pub(crate) fn tune_allocator() {
    // `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide tuning option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 50) };
    }
}
