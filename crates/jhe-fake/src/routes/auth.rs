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
//! Tokens are drawn from a generator seeded by the fake's seed, so runs are reproducible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::faults::Note;
use super::http::{detail, json};
use super::server::AppState;
use super::world::{World, mix2};

pub(crate) const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// v0.0.13's `ACCESS_TOKEN_EXPIRE_SECONDS`.
pub(crate) const DEFAULT_TTL_S: u64 = 1_209_600;
/// The longest `token_ttl_s` accepted (ten years).
pub(crate) const MAX_TTL_S: f64 = 315_360_000.0;
const SCOPE: &str = "openid";

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(rng: &mut Pcg64, len: usize) -> String {
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// The practitioner's OAuth application (a `practitioner_clients` key on v0.0.13).
pub(crate) struct OAuthClient {
    pub id: String,
    pub secret: String,
    /// `base64(id:secret)`.
    pub key: String,
}

struct Access {
    user_id: i64,
    expires: Instant,
}

struct TokenState {
    /// Access token -> its user and expiry. Expired tokens stay (to tell them apart in the
    /// request log); revoked ones are removed.
    access: HashMap<String, Access>,
    /// Refresh token -> the access token issued with it.
    refresh: HashMap<String, String>,
    rng: Pcg64,
}

pub(crate) struct Tokens {
    state: Mutex<TokenState>,
    ttl: Duration,
    user_id: i64,
    pub client: OAuthClient,
    /// The refresh token issued with the world's initial token.
    pub initial_refresh: String,
}

/// What a request's `Authorization` header amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bearer {
    Valid(i64),
    /// A token this server issued whose lifetime is over.
    Expired,
    /// Missing, malformed, unknown or revoked.
    Missing,
}

/// A freshly issued token (and refresh token, for the refresh grant).
pub(crate) struct Minted {
    pub access: String,
    pub refresh: Option<String>,
    pub expires_in: u64,
}

impl Tokens {
    /// The world's token (valid for `ttl_s`, default 14 days), its refresh token and the
    /// OAuth client, all derived from the seed.
    pub fn new(world: &World, ttl_s: Option<f64>) -> Tokens {
        let mut rng = Pcg64::seed_from_u64(mix2(world.seed, 0x0A07_4000));
        let id = random_string(&mut rng, 40);
        let secret = random_string(&mut rng, 64);
        let key = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let initial_refresh = random_string(&mut rng, 30);
        let ttl = ttl_s.map_or(Duration::from_secs(DEFAULT_TTL_S), |s| {
            Duration::from_secs_f64(s.clamp(0.0, MAX_TTL_S))
        });
        let mut state = TokenState {
            access: HashMap::new(),
            refresh: HashMap::new(),
            rng,
        };
        state.access.insert(
            world.token.clone(),
            Access {
                user_id: world.user.id,
                expires: expiry(ttl),
            },
        );
        state
            .refresh
            .insert(initial_refresh.clone(), world.token.clone());
        Tokens {
            state: Mutex::new(state),
            ttl,
            user_id: world.user.id,
            client: OAuthClient { id, secret, key },
            initial_refresh,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `expires_in` of a token issued now: the lifetime rounded up to whole seconds.
    fn expires_in(&self) -> u64 {
        let d = self.ttl;
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }

    /// The state of a request's `Authorization: Bearer <token>`.
    pub fn bearer(&self, headers: &HeaderMap) -> Bearer {
        let Some(token) = bearer_token(headers) else {
            return Bearer::Missing;
        };
        match self.lock().access.get(token) {
            Some(a) if Instant::now() < a.expires => Bearer::Valid(a.user_id),
            Some(_) => Bearer::Expired,
            None => Bearer::Missing,
        }
    }

    fn mint_locked(&self, state: &mut TokenState, with_refresh: bool) -> Minted {
        let access = random_string(&mut state.rng, 30);
        state.access.insert(
            access.clone(),
            Access {
                user_id: self.user_id,
                expires: expiry(self.ttl),
            },
        );
        let refresh = with_refresh.then(|| {
            let r = random_string(&mut state.rng, 30);
            state.refresh.insert(r.clone(), access.clone());
            r
        });
        Minted {
            access,
            refresh,
            expires_in: self.expires_in(),
        }
    }

    /// A new access token without a refresh token (`client_credentials`).
    pub fn mint(&self) -> Minted {
        let mut state = self.lock();
        self.mint_locked(&mut state, false)
    }

    /// Rotate: the refresh token and the access token issued with it are revoked, and a
    /// new pair is issued. `None` for an unknown or already used refresh token.
    pub fn refresh(&self, refresh_token: &str) -> Option<Minted> {
        let mut state = self.lock();
        let old_access = state.refresh.remove(refresh_token)?;
        state.access.remove(&old_access);
        Some(self.mint_locked(&mut state, true))
    }
}

fn expiry(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(DEFAULT_TTL_S))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

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
            json(StatusCode::UNAUTHORIZED, super::fhir::outcome(NOT_PROVIDED)),
            other,
        ),
    }
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
    use super::*;

    fn world() -> World {
        super::super::world::build(1, 1, 3, false)
    }

    fn with_bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn tokens_expire_rotate_and_are_reproducible() {
        let w = world();
        let t = Tokens::new(&w, Some(0.05));
        assert_eq!(t.bearer(&with_bearer(&w.token)), Bearer::Valid(w.user.id));
        assert_eq!(t.bearer(&HeaderMap::new()), Bearer::Missing);
        assert_eq!(t.bearer(&with_bearer("nope")), Bearer::Missing);
        assert_eq!(t.expires_in(), 1);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(t.bearer(&with_bearer(&w.token)), Bearer::Expired);
        // Refreshing revokes the old access token and the used refresh token.
        let m = t.refresh(&t.initial_refresh).expect("refresh works");
        assert_eq!(t.bearer(&with_bearer(&w.token)), Bearer::Missing);
        assert_eq!(t.bearer(&with_bearer(&m.access)), Bearer::Valid(w.user.id));
        assert!(t.refresh(&t.initial_refresh).is_none());
        let again = t.refresh(m.refresh.as_deref().unwrap()).unwrap();
        assert_eq!(t.bearer(&with_bearer(&m.access)), Bearer::Missing);
        assert_eq!(
            t.bearer(&with_bearer(&again.access)),
            Bearer::Valid(w.user.id)
        );
        // The same seed gives the same client, refresh token and minted tokens.
        let u = Tokens::new(&w, None);
        assert_eq!(u.client.id, t.client.id);
        assert_eq!(u.initial_refresh, t.initial_refresh);
        assert_eq!(u.expires_in(), DEFAULT_TTL_S);
        assert_eq!(u.refresh(&u.initial_refresh).unwrap().access, m.access);
        let key = base64::engine::general_purpose::STANDARD
            .decode(&u.client.key)
            .unwrap();
        assert_eq!(
            String::from_utf8(key).unwrap(),
            format!("{}:{}", u.client.id, u.client.secret)
        );
    }

    #[test]
    fn client_authentication() {
        let w = world();
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
