//! Bearer-token authentication, answered the way django-oauth-toolkit behind DRF does:
//! a missing, malformed or unknown token are all 401 "credentials were not provided".
//!
//! Tokens live in a table so later work can mint (`/o/token/`) and expire them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::http::{detail, json};
use super::server::AppState;

pub(crate) const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

pub(crate) struct Tokens {
    /// token -> user id
    by_token: RwLock<HashMap<String, i64>>,
}

impl Tokens {
    pub fn new(token: &str, user_id: i64) -> Tokens {
        Tokens {
            by_token: RwLock::new(HashMap::from([(token.to_string(), user_id)])),
        }
    }

    /// The user a request's `Authorization: Bearer <token>` belongs to.
    pub fn user(&self, headers: &HeaderMap) -> Option<i64> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.by_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token.trim())
            .copied()
    }
}

fn unauthorized(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"api\""),
    );
    r
}

/// Guards `/api/v1/...`: 401 `{"detail": ...}`.
pub(crate) async fn require_rest_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.user(request.headers()).is_none() {
        return unauthorized(detail(StatusCode::UNAUTHORIZED, NOT_PROVIDED));
    }
    next.run(request).await
}

/// Guards `/FHIR/R5/...` searches and reads: 401 OperationOutcome.
pub(crate) async fn require_fhir_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.user(request.headers()).is_none() {
        return unauthorized(json(
            StatusCode::UNAUTHORIZED,
            super::fhir::outcome(NOT_PROVIDED),
        ));
    }
    next.run(request).await
}
