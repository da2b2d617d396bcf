//! The pyo3 layer: argument conversion, the shared runtime, exceptions. No logic lives here.

mod client;
mod errors;
mod fake;
mod runtime;

use pyo3::prelude::*;

/// Native core of jhe (Rust). Use the `jhe` package, not this module.
#[pymodule]
#[pyo3(name = "_jhe")]
fn jhe_extension(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<client::NativeFetchResult>()?;
    m.add_class::<fake::NativeFakeExchange>()?;
    errors::register(m)?;
    Ok(())
}
