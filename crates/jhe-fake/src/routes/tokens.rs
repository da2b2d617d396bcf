//! The fake's OAuth state: the practitioner's OAuth client, the access and refresh tokens
//! it has issued and when they expire. Tokens are drawn from a generator seeded by the
//! fake's seed, so runs are reproducible. In: the world (its initial token and user) and a
//! lifetime; out: the state of a request's bearer token, and new tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::generate::world::{World, mix2};

/// v0.0.13's `ACCESS_TOKEN_EXPIRE_SECONDS`.
pub(crate) const DEFAULT_TTL_S: u64 = 1_209_600;
/// The longest `token_ttl_s` accepted (ten years).
pub(crate) const MAX_TTL_S: f64 = 315_360_000.0;

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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::generate::world;

    fn world() -> World {
        world::build(1, 1, 3, false, false)
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

}
