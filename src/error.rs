//! One error type for the whole core. The Python layer maps each kind to an exception class
//! under `jhe.JHEError`; every message names what went wrong and never carries a secret.

/// What an HTTP error status means to a caller, so the binding layer can pick the exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// 401: the token is missing, wrong or expired.
    Authentication,
    /// 403: the user may not see this study, organization or patient.
    PermissionDenied,
    /// 404: unknown id, endpoint or page.
    NotFound,
    /// 400/422: the server rejected a parameter.
    BadRequest,
    /// 5xx and other statuses.
    Server,
}

impl HttpErrorKind {
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 | 410 => Self::NotFound,
            400 | 405 | 406 | 409 | 422 => Self::BadRequest,
            _ => Self::Server,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JheError {
    /// Bad arguments or environment: nothing was sent.
    #[error("{0}")]
    Config(String),

    /// The server answered with an error status.
    #[error("HTTP {status} from {url}: {diagnostics}{hint}")]
    Http {
        kind: HttpErrorKind,
        status: u16,
        /// The request URL without credentials.
        url: String,
        /// The server's own explanation (OperationOutcome diagnostics or DRF `detail`).
        diagnostics: String,
        /// Advice for the caller, empty when there is none.
        hint: &'static str,
    },

    /// The request never got an HTTP answer (connection refused, reset, timed out, TLS).
    #[error("could not reach {url}: {message}")]
    Transport { url: String, message: String },

    /// The server answered 2xx with something that is not what the API promises.
    #[error("unexpected response from {url}: {message}")]
    Protocol { url: String, message: String },

    /// The rows received do not match the total the server announced.
    #[error(
        "inconsistent result: the server announced {expected} observations but {received} distinct ones were received{detail}"
    )]
    InconsistentResult {
        expected: u64,
        received: u64,
        detail: String,
    },
}

pub type Result<T, E = JheError> = std::result::Result<T, E>;

/// The guide's advice for a 403, attached to every permission error.
pub const PERMISSION_HINT: &str = " (check that you belong to the patient's organization, that the study is one you manage, and that the patient consented to share this data type)";

/// The advice for a 401: servers say "credentials were not provided" even when they were.
pub const AUTHENTICATION_HINT: &str = " (the token is invalid or expired)";
