//! The pyo3 layer: argument conversion, the shared runtime, exceptions. No logic lives here.

mod arguments;
mod catalog;
mod client;
mod errors;
mod fake;
mod memory;
mod privacy;
mod runtime;

use pyo3::prelude::*;

/// Native core of jhe (Rust). Use the `jhe` package, not this module.
#[pymodule]
#[pyo3(name = "_jhe")]
fn jhe_extension(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Rust `log` records (retries, token renewals) go to Python's `logging` as "jhe.*".
    // No caching: records are rare, and a level set later (a notebook, pytest) must count.
    // Installing fails only if a logger is already set, e.g. on a second import: keep it.
    let _ = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Nothing)?
        .filter(log::LevelFilter::Warn)
        .filter_target("jhe".to_string(), log::LevelFilter::Debug)
        .install();
    m.add_class::<client::NativeClient>()?;
    m.add_class::<client::NativeFetchResult>()?;
    m.add_class::<privacy::NativeDeidentification>()?;
    m.add_class::<fake::NativeFakeExchange>()?;
    m.add_function(wrap_pyfunction!(catalog::catalog, m)?)?;
    m.add_function(wrap_pyfunction!(catalog::empty_tables, m)?)?;
    m.add_function(wrap_pyfunction!(catalog::check_changes_readable, m)?)?;
    m.add_function(wrap_pyfunction!(memory::purging_at_once, m)?)?;
    m.add_class::<memory::PurgingAtOnce>()?;
    errors::register(m)?;
    Ok(())
}
