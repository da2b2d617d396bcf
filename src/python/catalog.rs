//! What needs no server: `jhe._jhe.catalog()` (the codes jhe decodes into typed columns,
//! and how), a request's empty tables, and whether its changes can be read.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::decode::clinical::loinc::{Element, LOINC};
use crate::decode::omh::catalog::{CATALOG, CodeSpec, MeasureKind, system_for_code};

/// One dict per code: `code`, and `measures`, each with `column` (the wide layout's column
/// name), `path` (dotted, the long layout's `measure`), `kind`, `required`, `units` (allowed
/// units, the canonical one first) and `stated` (the stem of the `_value`/`_unit` columns).
/// The OMH and IEEE codes; with `clinical`, the clinical (LOINC) codes instead, each
/// measure also with `element`, where in the FHIR Observation it is read.
#[pyfunction]
#[pyo3(signature = (*, clinical = false))]
pub fn catalog(py: Python<'_>, clinical: bool) -> PyResult<Vec<Bound<'_, PyDict>>> {
    if clinical {
        return LOINC.iter().map(|entry| code_entry(py, &entry.spec, Some(entry.elements))).collect();
    }
    CATALOG.iter().map(|spec| code_entry(py, spec, None)).collect()
}

fn code_entry<'py>(py: Python<'py>, spec: &CodeSpec, elements: Option<&[Element]>) -> PyResult<Bound<'py, PyDict>> {
    let measures = spec
        .measures
        .iter()
        .enumerate()
        .map(|(i, measure)| {
            let entry = PyDict::new(py);
            entry.set_item("column", measure.column)?;
            entry.set_item("path", measure.dotted_path())?;
            entry.set_item("required", measure.required)?;
            let (kind, units, stated): (&str, Vec<&str>, Option<&str>) = match &measure.kind {
                MeasureKind::Quantity { units, stated } => ("quantity", units.iter().map(|u| u.unit).collect(), *stated),
                MeasureKind::Amount => ("amount", vec![], None),
                MeasureKind::Number => ("number", vec![], None),
                MeasureKind::Count { unit } => ("count", unit.iter().copied().collect(), None),
                MeasureKind::Category => ("category", vec![], None),
                MeasureKind::Text => ("text", vec![], None),
                MeasureKind::Boolean => ("boolean", vec![], None),
            };
            entry.set_item("kind", kind)?;
            entry.set_item("units", units)?;
            entry.set_item("stated", stated)?;
            if let Some(element) = elements.and_then(|elements| elements.get(i)) {
                entry.set_item("element", element.fhir_path(&measure.kind))?;
            }
            Ok(entry)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let dict = PyDict::new(py);
    dict.set_item("code", spec.code)?;
    dict.set_item("system", system_for_code(spec.code))?;
    dict.set_item("measures", measures)?;
    Ok(dict)
}

/// Refuses, with the reason, filters whose changes cannot be read (`watch` and `sync` read
/// by `updated_since`, which imported records cannot be selected by).
#[pyfunction]
#[pyo3(signature = (filters=None, /))]
pub fn check_changes_readable(filters: Option<super::arguments::Filters>) -> PyResult<()> {
    let request = super::arguments::fetch_request(filters, None)?;
    Ok(request.query.check_changes_readable()?)
}

/// `(code, table)` pairs as a fetch of the request returns them when nothing matches, typed
/// from the catalogue (its layout, codes and `columns=`), without asking any server.
#[pyfunction]
#[pyo3(signature = (filters=None, /, **request))]
pub fn empty_tables(
    py: Python<'_>,
    filters: Option<super::arguments::Filters>,
    request: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(Option<String>, Py<pyo3_arrow::PyTable>)>> {
    let request = super::arguments::fetch_request(filters, request)?;
    crate::fetch::empty_tables(&request)
        .tables
        .into_iter()
        .map(|(code, batch)| Ok((code, Py::new(py, pyo3_arrow::PyTable::try_new(vec![batch.clone()], batch.schema())?)?)))
        .collect()
}
