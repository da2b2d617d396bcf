//! jhe: fetch observations from a JupyterHealth Exchange and hand them to Python as Arrow.
//!
//! The modules are the stages data flows through, in order:
//! - [`config`]: where the Exchange is and how to authenticate; [`query`]: what is asked.
//! - [`http`]: a URL in, the answer's bytes out (retries, tokens, the server's errors).
//! - [`source`]: a page's bytes in, each observation on it out, borrowed (FHIR and REST).
//! - [`decode`]: an observation in, its OMH document decoded out, problems as reasons.
//! - [`table`]: decoded observations in, Arrow tables and the errors table out.
//! - [`fetch`]: the verb that drives them: plans the pages, reads them, proves the result
//!   complete.
//!
//! `python` is the thin pyo3 layer, compiled only with the `python` feature. The fake
//! Exchange used offline and in tests is its own crate, `jhe_fake` (`crates/jhe-fake`).
//! [`error`] is the one error type; [`redact`] scrubs secrets from every text it carries.

pub mod config;
pub mod error;
pub mod redact;
pub mod query;

pub mod http;
pub mod source;
pub mod decode;
pub mod table;
pub mod fetch;

#[cfg(feature = "python")]
mod python;

pub use error::{JheError, Result};

/// Rust's allocations only (Python keeps its own): decoded pages are built on one thread
/// and freed on another, which glibc's malloc handles slowly (benchmarks/PROFILE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Have mimalloc return freed memory to the system after 50 ms instead of its default
/// 1000 ms. A fetch frees page after page while its tables grow; memory held that long
/// adds to the peak, and much shorter delays cost time in page faults (measurements in
/// benchmarks/PROFILE.md). Called by [`fetch::Session::new`]; `MIMALLOC_PURGE_DELAY` in
/// the environment still wins.
///
/// It also stops mimalloc asking for transparent huge pages (`madvise(MADV_HUGEPAGE)`) for
/// the memory it maps from then on: a fetch's short-lived page buffers then fault in 4 KiB
/// pages instead of zeroing 2 MiB ones, which measured faster and smaller
/// (benchmarks/PROFILE.md). Only mimalloc's own mappings are affected, not the process's
/// THP setting; `MIMALLOC_ALLOW_THP` in the environment still wins.
pub(crate) fn tune_allocator() {
    // Positions in mimalloc v3's `mi_option_e` (include/mimalloc.h).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    for (variable, option, value) in [("MIMALLOC_PURGE_DELAY", MI_OPTION_PURGE_DELAY, 50), ("MIMALLOC_ALLOW_THP", MI_OPTION_ALLOW_THP, 0)] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: sets a process-wide tuning option; mimalloc reads options atomically.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}
