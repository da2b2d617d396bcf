//! Python arguments into the core's types, each checked as it is read: a fetch's filters
//! (the `jhe.Filters` dict) and keywords (the client's positional arguments) into
//! a [`FetchRequest`], the client's keywords (`jhe.ClientOptions`) into [`ClientOptions`].
//! An argument that does not exist or has the wrong type is a `jhe.ArgumentError` naming
//! it; a value the core refuses is its `jhe.ConfigurationError`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyInt, PyString, PyType};

use crate::JheError;
use crate::config::{ClientOptions, timeout_from_secs};
use crate::origin::Origin;
use crate::query::{Api, Changes, Coding, FetchRequest, Layout, ObservationQuery, TimeBound, patient_identifier, positive_id};

use super::errors::argument_error;

/// A fetch's arguments as they are read; [`FetchRequest::new`] then checks them together.
#[derive(Default)]
struct Fields {
    query: ObservationQuery,
    api: Api,
    layout: Option<Layout>,
    changes: Option<Changes>,
    columns: Option<Vec<String>>,
}

impl Fields {
    /// One of `jhe.Filters`; false for any other name.
    fn filter(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        match name {
            "organization_id" => self.query.organization_id = id(name, value)?,
            "patient_identifier" => self.query.patient_identifier = identifier(value)?,
            "since" => self.query.since = time_bound(name, value)?,
            "until" => self.query.until = time_bound(name, value)?,
            "updated_since" => self.query.updated_since = time_bound(name, value)?,
            "api" => self.api = text(name, value)?.map(|t| Api::parse(&t)).transpose()?.unwrap_or_default(),
            "layout" => self.layout = text(name, value)?.map(|t| Layout::parse(&t)).transpose()?,
            "columns" => self.columns = columns(value)?,
            "source" => self.query.origin = origin(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A keyword of the native fetch: what the client's positional arguments carry, or a
    /// filter.
    fn keyword(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        match name {
            "study_id" => self.query.study_id = id(name, value)?,
            "patient_id" => self.query.patient_id = id(name, value)?,
            "codes" => self.query.codes = codes(value)?,
            "delivered" => self.changes = Some(Changes { delivered: delivered(value)? }),
            _ => return self.filter(name, value),
        }
        Ok(true)
    }
}

/// Each `(name, value)` of `arguments` through `read`, which says whether it knew the name.
fn read_each(
    arguments: &Bound<'_, PyDict>,
    mut read: impl FnMut(&str, &Bound<'_, PyAny>) -> PyResult<bool>,
    unknown: impl Fn(&str) -> String,
) -> PyResult<()> {
    for (key, value) in arguments.iter() {
        let name = key.extract::<String>().map_err(|_| wrong_type("an argument's name", &key, "a str"))?;
        if !read(&name, &value)? {
            return Err(argument_error(arguments.py(), unknown(&name)));
        }
    }
    Ok(())
}

fn unexpected_filter(name: &str) -> String {
    format!("unexpected filter {name:?}; jhe.Filters lists them")
}

/// The `jhe.Filters` dict of a fetch, read.
pub struct Filters(Fields);

impl<'a, 'py> FromPyObject<'a, 'py> for Filters {
    type Error = PyErr;

    fn extract(filters: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let mut fields = Fields::default();
        let dict = filters.cast::<PyDict>().map_err(|_| wrong_type("filters", &filters, "a dict"))?;
        read_each(&dict, |name, value| fields.filter(name, value), unexpected_filter)?;
        Ok(Self(fields))
    }
}

/// A fetch: its filters, then the native fetch's keywords, checked together.
pub fn fetch_request(filters: Option<Filters>, keywords: Option<&Bound<'_, PyDict>>) -> PyResult<FetchRequest> {
    let mut fields = filters.map(|Filters(fields)| fields).unwrap_or_default();
    if let Some(keywords) = keywords {
        read_each(keywords, |name, value| fields.keyword(name, value), unexpected_filter)?;
    }
    let mut request = FetchRequest::new(fields.query, fields.api, fields.layout)?;
    if let Some(names) = fields.columns {
        request = request.with_columns(&names)?;
    }
    Ok(match fields.changes {
        Some(changes) => request.reading_changes(changes)?,
        None => request,
    })
}

/// `columns`: a sequence of str (a str alone is refused: its letters are not columns);
/// None for every column. Which names are columns is checked with the layout.
fn columns(value: &Bound<'_, PyAny>) -> PyResult<Option<Vec<String>>> {
    if value.is_none() {
        return Ok(None);
    }
    let expected = "a sequence of str";
    if value.is_instance_of::<PyString>() {
        return Err(wrong_type("columns", value, expected));
    }
    let items = value.try_iter().map_err(|_| wrong_type("columns", value, expected))?;
    let mut names = Vec::new();
    for item in items {
        let item = item?;
        let name = item.cast::<PyString>().map_err(|_| wrong_type("each column", &item, "a str"))?;
        names.push(name.to_str()?.to_string());
    }
    Ok(Some(names))
}

/// `delivered`: `(observation id, last_updated µs)` pairs.
fn delivered(value: &Bound<'_, PyAny>) -> PyResult<Vec<(i64, i64)>> {
    value.extract().map_err(|_| wrong_type("delivered", value, "a list of (int, int)"))
}

/// The client's keyword arguments (all but `url` and `token`), checked.
pub struct Options(pub ClientOptions);

impl<'a, 'py> FromPyObject<'a, 'py> for Options {
    type Error = PyErr;

    fn extract(keywords: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let mut options = ClientOptions::default();
        let mut read = |name: &str, value: &Bound<'_, PyAny>| -> PyResult<bool> {
            match name {
                "client_key" => options.client_key = text(name, value)?,
                "client_id" => options.client_id = text(name, value)?,
                "client_secret" => options.client_secret = text(name, value)?,
                "refresh_token" => options.refresh_token = text(name, value)?,
                "timeout" => options.timeout = timeout(value)?,
                "retries" => options.retries = count(name, value)?,
                "concurrency" => options.concurrency = count(name, value)?,
                "max_concurrency" => options.max_concurrency = count(name, value)?,
                "page_size" => options.page_size = count(name, value)?,
                "max_response_bytes" => options.max_response_bytes = count(name, value)?,
                "allow_insecure" => options.allow_insecure = optional(name, value, "a bool")?.unwrap_or(false),
                _ => return Ok(false),
            }
            Ok(true)
        };
        let unknown = |name: &str| format!("jhe.Client() got an unexpected keyword argument {name:?}; jhe.ClientOptions lists them");
        let dict = keywords.cast::<PyDict>()?;
        read_each(&dict, &mut read, unknown)?;
        Ok(Self(options))
    }
}

/// Keyword arguments as `T`; none at all read as an empty dict.
pub fn from_keywords<'py, T>(py: Python<'py>, keywords: Option<&Bound<'py, PyDict>>) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    match keywords {
        Some(keywords) => keywords.extract(),
        None => PyDict::new(py).extract(),
    }
}

/// `value` as a `T`, or None for None; another type is an error naming `name`.
fn optional<'py, T>(name: &str, value: &Bound<'py, PyAny>, expected: &str) -> PyResult<Option<T>>
where
    T: for<'a> FromPyObject<'a, 'py>,
{
    if value.is_none() {
        return Ok(None);
    }
    value.extract().map(Some).map_err(|_| wrong_type(name, value, expected))
}

fn wrong_type(name: &str, value: &Bound<'_, PyAny>, expected: &str) -> PyErr {
    let got = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    argument_error(value.py(), format!("{name} must be {expected}, not {got}"))
}

fn text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    optional(name, value, "a str")
}

/// An int that is not a bool (Python's `True` is also the int 1, never meant as an id or count).
fn integer(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if value.is_instance_of::<PyBool>() {
        return Err(wrong_type(name, value, "an int"));
    }
    optional(name, value, "an int")
}

pub(super) fn id(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    Ok(integer(name, value)?.map(|id| positive_id(name, id)).transpose()?)
}

/// A count of retries, pages, rows or bytes: a non-negative int.
fn count<T: TryFrom<i64>>(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<T>> {
    let too_large = || JheError::Config(format!("{name}={value} is too large"));
    if value.is_instance_of::<PyInt>() && value.extract::<i64>().is_err() {
        // An int beyond 64 bits: huge, or hugely negative.
        return Err(match value.lt(0)? {
            true => JheError::Config(format!("{name} must be a non-negative integer, got {value}")),
            false => too_large(),
        }
        .into());
    }
    let Some(number) = integer(name, value)? else { return Ok(None) };
    let out_of_range = || match number {
        ..0 => JheError::Config(format!("{name} must be a non-negative integer, got {number}")),
        _ => too_large(),
    };
    Ok(Some(T::try_from(number).map_err(|_| out_of_range())?))
}

fn timeout(value: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    let Some(seconds) = optional::<f64>("timeout", value, "a number of seconds")? else { return Ok(None) };
    Ok(Some(timeout_from_secs(seconds)?))
}

/// One code (a str) or several (any iterable of str); None for none.
fn codes(value: &Bound<'_, PyAny>) -> PyResult<Vec<Coding>> {
    let expected = "a str or a sequence of str";
    if value.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(one) = value.cast::<PyString>() {
        return Ok(vec![Coding::parse(one.to_str()?)?]);
    }
    let items = value.try_iter().map_err(|_| wrong_type("code", value, expected))?;
    let mut codes = Vec::new();
    for item in items {
        let item = item?;
        let text = item.cast::<PyString>().map_err(|_| wrong_type("each code", &item, "a str"))?;
        codes.push(Coding::parse(text.to_str()?)?);
    }
    Ok(codes)
}

/// `source`: None (the Exchange's own records), a str (`"imported"`, `"all"`, a FHIR
/// source's id or URI) or an int (a FHIR source's id).
pub(super) fn origin(value: &Bound<'_, PyAny>) -> PyResult<Origin> {
    if value.is_none() {
        return Ok(Origin::Exchange);
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Origin::parse(text.to_str()?)?);
    }
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(wrong_type("source", value, "a str, an int or None"));
    }
    let id: i64 = value.extract().map_err(|_| JheError::Config(format!("source={value} is not a FHIR source's id")))?;
    Ok(Origin::parse(&positive_id("source", id)?.to_string())?)
}

/// A `(system, value)` pair; each part is read as text, as `str()` gives it.
fn identifier(value: &Bound<'_, PyAny>) -> PyResult<Option<(String, String)>> {
    if value.is_none() {
        return Ok(None);
    }
    let pair = match value.len() {
        Ok(2) if !value.is_instance_of::<PyString>() => (value.get_item(0)?.str()?, value.get_item(1)?.str()?),
        _ => {
            let message = "patient_identifier must be a (system, value) pair, e.g. (\"http://hospital.example/mrn\", \"MRN-12345\")";
            return Err(argument_error(value.py(), message.into()));
        }
    };
    Ok(Some(patient_identifier(pair.0.to_str()?, pair.1.to_str()?)?))
}

/// A str, `datetime.datetime` or `datetime.date`, read as ISO 8601 text (a naive datetime
/// means UTC, as in OMH payloads). The limited API has no datetime types: `isoformat()`.
fn time_bound(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<TimeBound>> {
    static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if value.is_none() {
        return Ok(None);
    }
    let text = if let Ok(text) = value.cast::<PyString>() {
        text.to_string()
    } else if value.is_instance(DATE.import(value.py(), "datetime", "date")?)? {
        value.call_method0("isoformat")?.extract()?
    } else {
        return Err(wrong_type(name, value, "a str, datetime or date"));
    };
    Ok(Some(TimeBound::parse(name, &text)?))
}
