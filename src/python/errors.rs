//! The exception hierarchy: everything jhe raises derives from `jhe.JHEError` and carries
//! `status`, `url` and `diagnostics` attributes (None where they do not apply).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::HttpErrorKind;
use crate::JheError;

create_exception!(jhe, JHEError, PyException, "Base class of every error raised by jhe.");
create_exception!(jhe, ConfigurationError, JHEError, "Missing or invalid settings; nothing was sent.");
create_exception!(jhe, AuthenticationError, JHEError, "401: the token is missing, invalid or expired.");
create_exception!(jhe, PermissionDenied, JHEError, "403: not allowed to see this study, organization or patient.");
create_exception!(jhe, NotFound, JHEError, "404: unknown id, endpoint or page.");
create_exception!(jhe, BadRequest, JHEError, "400/422: the server rejected a parameter.");
create_exception!(jhe, ServerError, JHEError, "5xx: the server failed.");
create_exception!(jhe, TransportError, JHEError, "No HTTP answer: connection refused, reset or timed out.");
create_exception!(jhe, ProtocolError, JHEError, "The server answered with something the API does not promise.");
create_exception!(jhe, InconsistentResult, JHEError, "The rows received differ from the total the server announced.");
create_exception!(jhe, DecodeError, JHEError, "With strict=True: an observation could not be fully decoded.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("JHEError", py.get_type::<JHEError>())?;
    m.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    m.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    m.add("PermissionDenied", py.get_type::<PermissionDenied>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("BadRequest", py.get_type::<BadRequest>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("TransportError", py.get_type::<TransportError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("InconsistentResult", py.get_type::<InconsistentResult>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("ArgumentError", argument_error_type(py)?)?;
    Ok(())
}

/// `jhe.ArgumentError`: both a `ConfigurationError` (nothing was sent) and a `TypeError`
/// (what Python raises for an unknown keyword or a value of the wrong type). Made at run
/// time: `create_exception!` takes one base class.
fn argument_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.get_or_try_init(py, || {
        let bases = PyTuple::new(py, [py.get_type::<ConfigurationError>(), py.get_type::<PyTypeError>()])?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "jhe")?;
        namespace.set_item("__doc__", "An argument jhe does not take, or of the wrong type; nothing was sent.")?;
        let created = py.get_type::<PyType>().call1(("ArgumentError", bases, namespace))?;
        Ok(created.cast_into::<PyType>()?.unbind())
    })
    .map(|created| created.bind(py))
}

/// A `jhe.ArgumentError` with `message`, which names the argument.
pub fn argument_error(py: Python<'_>, message: String) -> PyErr {
    match argument_error_type(py) {
        Ok(created) => with_details(py, PyErr::from_type(created.clone(), message), None, None, None),
        Err(failed) => failed,
    }
}

/// Lets the binding use `?` on the core's results; the details need the interpreter.
impl From<JheError> for PyErr {
    fn from(error: JheError) -> Self {
        Python::attach(|py| to_py_err(py, error))
    }
}

/// Turn a core error into the matching exception, with its details as attributes.
fn to_py_err(py: Python<'_>, error: JheError) -> PyErr {
    let message = error.to_string();
    let (err, status, url, diagnostics) = match &error {
        JheError::Config(_) => (ConfigurationError::new_err(message), None, None, None),
        JheError::Http { kind, status, url, diagnostics, .. } => {
            let err = match kind {
                HttpErrorKind::Authentication => AuthenticationError::new_err(message),
                HttpErrorKind::PermissionDenied => PermissionDenied::new_err(message),
                HttpErrorKind::NotFound => NotFound::new_err(message),
                HttpErrorKind::BadRequest => BadRequest::new_err(message),
                HttpErrorKind::Server => ServerError::new_err(message),
            };
            (err, Some(*status), Some(url.clone()), Some(diagnostics.clone()))
        }
        JheError::Transport { url, message: why } => {
            (TransportError::new_err(message.clone()), None, Some(url.clone()), Some(why.clone()))
        }
        JheError::Protocol { url, message: why } => {
            (ProtocolError::new_err(message.clone()), None, Some(url.clone()), Some(why.clone()))
        }
        JheError::InconsistentResult { expected, received, .. } => {
            let err = InconsistentResult::new_err(message);
            let value = err.value(py);
            let _ = value.setattr("expected", *expected);
            let _ = value.setattr("received", *received);
            (err, None, None, None)
        }
    };
    with_details(py, err, status, url, diagnostics)
}

fn with_details(py: Python<'_>, err: PyErr, status: Option<u16>, url: Option<String>, diagnostics: Option<String>) -> PyErr {
    let value = err.value(py);
    let _ = value.setattr("status", status);
    let _ = value.setattr("url", url);
    let _ = value.setattr("diagnostics", diagnostics);
    err
}
