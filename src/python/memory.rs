//! `jhe._jhe.purging_at_once()`: a context manager under which memory Rust frees goes back to
//! the system at once ([`crate::allocator::PurgeAtOnce`]), for conversions that free the
//! fetched tables while they build a copy of them.

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::allocator::PurgeAtOnce;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct PurgingAtOnce {
    guard: Mutex<Option<PurgeAtOnce>>,
}

#[pymethods]
impl PurgingAtOnce {
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        *slf.get().guard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(PurgeAtOnce::start());
        slf
    }

    #[pyo3(signature = (*_exception))]
    fn __exit__(&self, _exception: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.guard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        false
    }
}

#[pyfunction]
pub fn purging_at_once() -> PurgingAtOnce {
    PurgingAtOnce { guard: Mutex::new(None) }
}
