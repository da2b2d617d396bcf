//! `jhe._jhe.NativeDeidentification`: a key, the server it is used for and a mode, checked
//! once, applied to a fetch's result or to a list of patients with the GIL released.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::deidentify::{DateHandling, Deidentification};

use super::client::NativeFetchResult;

#[pyclass(module = "jhe._jhe", frozen)]
pub struct NativeDeidentification {
    inner: Deidentification,
}

#[pymethods]
impl NativeDeidentification {
    /// `mode` is `"pseudonymize"` (shift dates by up to `date_shift_days`) or
    /// `"safe_harbor"` (keep no date but the year).
    #[new]
    #[pyo3(signature = (key, server, mode, date_shift_days))]
    fn new(key: &Bound<'_, PyBytes>, server: &str, mode: &str, date_shift_days: u32) -> PyResult<Self> {
        let dates = match mode {
            "pseudonymize" => DateHandling::Shift { max_days: date_shift_days },
            "safe_harbor" => DateHandling::SafeHarbor,
            other => {
                return Err(crate::JheError::Config(format!(
                    "mode must be \"pseudonymize\" or \"safe_harbor\", got {other:?}"
                ))
                .into());
            }
        };
        Ok(Self { inner: Deidentification::new(key.as_bytes(), server, dates)? })
    }

    /// A new result: `result`'s tables and errors de-identified, its counts as they were.
    fn apply(&self, py: Python<'_>, result: &NativeFetchResult) -> PyResult<NativeFetchResult> {
        let layout = result.layout_of();
        py.detach(|| {
            result.with_tables(|tables, errors| Ok((self.inner.tables(layout, tables)?, self.inner.errors(errors))))
        })
    }

    /// `(pseudonym, shift in days)` of each patient id: what the tables give them.
    fn patients(&self, py: Python<'_>, ids: Vec<i64>) -> Vec<(String, i64)> {
        py.detach(|| {
            ids.into_iter()
                .map(|id| {
                    let key = self.inner.keys().patient(id);
                    let shift = self.inner.shift_days(&key);
                    (key.pseudonym, shift)
                })
                .collect()
        })
    }

    fn __repr__(&self) -> &'static str {
        // Never the key.
        "NativeDeidentification(..)"
    }
}
