//! Bearer-token authentication, answered the way django-oauth-toolkit behind DRF does
//! (a missing, malformed, unknown, revoked or expired token are all 401 "credentials were
//! not provided"), and the token endpoint `POST /o/token/`:
//!
//! - `client_credentials` with the practitioner's key (HTTP Basic, or form fields
//!   `client_id`/`client_secret`): an access token, no refresh token. Refused
//!   (`unauthorized_client`) by the legacy generations, which had no such keys.
//! - `refresh_token`: a new access token and a new refresh token; the old pair is revoked.
//! - `password`: `unauthorized_client`. Bad client credentials: 401 `invalid_client`.
//!
//! The token state itself is [`super::tokens`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;

use crate::render::fhir::outcome;

use super::http::{detail, json};
use super::log::Note;
use super::state::{AppState, Ctx};
use super::tokens::{Bearer, Minted, OAuthClient};

pub(crate) const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const SCOPE: &str = "openid";

fn unauthorized(mut r: Response, bearer: Bearer) -> Response {
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"api\""),
    );
    if bearer == Bearer::Expired {
        r.extensions_mut().insert(Note("token_expired"));
    }
    r
}

/// Guards `/api/v1/...` (and the legacy FHIR API): 401 `{"detail": ...}`.
pub(crate) async fn require_rest_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.tokens.bearer(request.headers()) {
        Bearer::Valid(_) => next.run(request).await,
        other => unauthorized(detail(StatusCode::UNAUTHORIZED, NOT_PROVIDED), other),
    }
}

/// Guards `/FHIR/R5/...` searches and reads: 401 OperationOutcome.
pub(crate) async fn require_fhir_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.tokens.bearer(request.headers()) {
        Bearer::Valid(_) => next.run(request).await,
        other => unauthorized(
            json(StatusCode::UNAUTHORIZED, outcome(NOT_PROVIDED)),
            other,
        ),
    }
}

/// `GET /o/.well-known/openid-configuration`, django-oauth-toolkit's discovery document.
pub(crate) async fn openid_configuration(ctx: Ctx) -> Response {
    let o = format!("{}/o", ctx.base);
    let mut doc = serde_json::json!({
            "issuer": o,
            "authorization_endpoint": format!("{o}/authorize/"),
            "token_endpoint": format!("{o}/token/"),
            "userinfo_endpoint": format!("{o}/userinfo/"),
            "jwks_uri": format!("{o}/.well-known/jwks.json"),
            "scopes_supported": ["openid", "email"],
            "response_types_supported": [
                "code", "token", "id_token", "id_token token", "code token", "code id_token", "code id_token token"
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["sub"],
    });
    // Added by the django-oauth-toolkit of v0.0.12+.
    if !ctx.generation.is_legacy() {
        doc["prompt_values_supported"] = serde_json::json!(["none", "login"]);
        doc["client_id_metadata_document_supported"] = false.into();
    }
    json(StatusCode::OK, doc.to_string())
}

/// An OAuth error body, `{"error": "..."}`.
fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut r = json(status, serde_json::json!({ "error": error }).to_string());
    no_store(&mut r);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    r
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Who the request says it is: HTTP Basic first, then the form's fields.
enum ClientAuth {
    None,
    /// A client id without a secret (a public client).
    Identified,
    /// Id and secret both right.
    Authenticated,
}

/// A form value, percent-decoded (as RFC 6749 2.3.1 asks of Basic credentials too).
fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn client_auth(
    client: &OAuthClient,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<ClientAuth, ()> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    let (id, secret) = if let Some((_, encoded)) = basic {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ())?;
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        (decode(id), Some(decode(secret)))
    } else {
        match form.get("client_id") {
            None => return Ok(ClientAuth::None),
            Some(id) => (id.clone(), form.get("client_secret").cloned()),
        }
    };
    if id != client.id {
        return Err(());
    }
    match secret {
        None => Ok(ClientAuth::Identified),
        Some(s) if s == client.secret => Ok(ClientAuth::Authenticated),
        Some(_) => Err(()),
    }
}

fn issued(minted: Minted) -> Response {
    let mut body = serde_json::json!({
        "access_token": minted.access,
        "expires_in": minted.expires_in,
        "token_type": "Bearer",
        "scope": SCOPE,
    });
    if let Some(r) = minted.refresh {
        body["refresh_token"] = r.into();
    }
    let mut r = json(StatusCode::OK, body.to_string());
    no_store(&mut r);
    r
}

/// `POST /o/token/` (form-encoded).
pub(crate) async fn token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let tokens = &state.tokens;
    let Ok(client) = client_auth(&tokens.client, &headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            if !matches!(client, ClientAuth::Authenticated) {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            if state.config.generation.is_legacy() {
                return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
            }
            issued(tokens.mint())
        }
        Some("refresh_token") => {
            let Some(refresh) = form.get("refresh_token").filter(|r| !r.is_empty()) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            match tokens.refresh(refresh) {
                Some(minted) => issued(minted),
                None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        Some("password") => oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client"),
        // No authorization codes are ever issued here.
        Some("authorization_code") => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

#[cfg(test)]
mod tests {
    use crate::routes::tokens::Tokens;
    use super::*;
    use crate::generate::world;

    #[test]
    fn client_authentication() {
        let w = world::build(1, 1, 3, false, false);
        let t = Tokens::new(&w, None);
        let c = &t.client;
        let form = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = HeaderMap::new();
        let mut basic = HeaderMap::new();
        basic.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", c.key)).unwrap(),
        );
        assert!(matches!(
            client_auth(c, &basic, &form(&[])),
            Ok(ClientAuth::Authenticated)
        ));
        assert!(matches!(
            client_auth(
                c,
                &none,
                &form(&[("client_id", &c.id), ("client_secret", &c.secret)])
            ),
            Ok(ClientAuth::Authenticated)
        ));
        assert!(matches!(
            client_auth(c, &none, &form(&[("client_id", &c.id)])),
            Ok(ClientAuth::Identified)
        ));
        assert!(matches!(
            client_auth(c, &none, &form(&[])),
            Ok(ClientAuth::None)
        ));
        assert!(
            client_auth(
                c,
                &none,
                &form(&[("client_id", &c.id), ("client_secret", "wrong")])
            )
            .is_err()
        );
        assert!(client_auth(c, &none, &form(&[("client_id", "other")])).is_err());
        let mut bad = HeaderMap::new();
        bad.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic not-base64!"),
        );
        assert!(client_auth(c, &bad, &form(&[])).is_err());
    }
}
