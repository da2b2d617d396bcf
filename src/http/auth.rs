//! Access tokens: a static token as given, or OAuth2 tokens minted from client credentials
//! or a refresh token at `/o/token/`, cached, renewed shortly before they expire and when
//! the server rejects them. Concurrent requests share one renewal: a refresh revokes the
//! previous token, so minting twice would invalidate a token another request holds.
//! Tokens are requested through the [`Transport`] alone (the token endpoint takes no token,
//! and the transport never follows its redirects).

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::errors::{diagnostics_from_body, redact_url};
use super::transport::Transport;
use crate::config::{ClientConfig, Credentials, Secret};
use crate::error::{JheError, Result};

#[derive(Debug)]
struct Issued {
    access: Secret,
    /// When to mint the next one; `None` for a token whose lifetime is unknown.
    renew_at: Option<Instant>,
}

#[derive(Debug)]
struct State {
    current: Option<Issued>,
    /// The refresh token to use next (refresh grants return a new one each time).
    refresh_token: Option<Secret>,
}

#[derive(Debug)]
pub struct TokenCache {
    credentials: Credentials,
    token_url: Url,
    state: Mutex<State>,
    /// The tokens issued lately, for scrubbing messages (read without waiting for `state`).
    issued: std::sync::Mutex<Vec<Secret>>,
}

/// How many issued tokens [`TokenCache::secrets`] remembers.
const REMEMBERED_TOKENS: usize = 16;
/// Lifetimes beyond this are read as "unknown": no renewal before the server rejects it.
const LONGEST_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// What `/o/token/` answered, read leniently where OAuth servers differ.
#[derive(Debug)]
struct TokenResponse {
    access_token: String,
    lifetime: Option<Duration>,
    refresh_token: Option<String>,
}

impl TokenResponse {
    /// Never quotes the body: it holds the new secrets.
    fn parse(body: &[u8]) -> std::result::Result<Self, &'static str> {
        let value: Value = serde_json::from_slice(body).map_err(|_| "it is not JSON")?;
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
        let access_token = text("access_token").ok_or("it has no access_token")?.to_string();
        if HeaderValue::from_str(&format!("Bearer {access_token}")).is_err() {
            return Err("its access_token has characters an HTTP header cannot carry");
        }
        Ok(Self {
            access_token,
            lifetime: value.get("expires_in").and_then(lifetime),
            refresh_token: text("refresh_token").map(str::to_string),
        })
    }
}

/// `expires_in` in seconds, a number or (as some servers send it) a string; anything else,
/// non-positive or beyond [`LONGEST_LIFETIME`], is an unknown lifetime.
fn lifetime(expires_in: &Value) -> Option<Duration> {
    let seconds = match expires_in {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => None?,
    };
    let lifetime = Duration::try_from_secs_f64(seconds).ok()?;
    (!lifetime.is_zero() && lifetime <= LONGEST_LIFETIME).then_some(lifetime)
}

/// Renew this long before expiry: a tenth of the lifetime, at most a minute.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

impl TokenCache {
    pub fn new(config: &ClientConfig) -> Self {
        let (current, refresh_token) = match &config.credentials {
            Credentials::Token(token) => (
                Some(Issued {
                    access: token.clone(),
                    renew_at: None,
                }),
                None,
            ),
            Credentials::RefreshToken { refresh_token, .. } => (None, Some(refresh_token.clone())),
            Credentials::ClientCredentials { .. } => (None, None),
        };
        Self {
            credentials: config.credentials.clone(),
            token_url: config.token_url(),
            state: Mutex::new(State { current, refresh_token }),
            issued: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every secret this cache holds or held lately: the credentials and recent tokens.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets = self.credentials.secrets();
        secrets.extend(self.issued.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        secrets
    }

    fn remember(&self, secrets: impl IntoIterator<Item = Secret>) {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.extend(secrets);
        let excess = issued.len().saturating_sub(REMEMBERED_TOKENS);
        issued.drain(..excess);
    }

    /// The token to send now, minting one if there is none or it is about to expire.
    pub async fn access_token(&self, transport: &Transport) -> Result<Secret> {
        let mut state = self.state.lock().await;
        if let Some(issued) = &state.current {
            if issued.renew_at.is_none_or(|at| Instant::now() < at) {
                return Ok(issued.access.clone());
            }
        }
        self.mint(&mut state, transport).await
    }

    /// After a 401 for `rejected`: renew unless another request already did. Returns
    /// whether a different token is now available (never, for a static token).
    pub async fn renew_rejected(&self, rejected: &Secret, transport: &Transport) -> Result<bool> {
        if !self.credentials.can_renew() {
            return Ok(false);
        }
        let mut state = self.state.lock().await;
        if state.current.as_ref().is_some_and(|issued| &issued.access != rejected) {
            return Ok(true);
        }
        self.mint(&mut state, transport).await?;
        Ok(true)
    }

    async fn mint(&self, state: &mut State, transport: &Transport) -> Result<Secret> {
        let (form, client): (Vec<(&str, String)>, Option<(&str, &Secret)>) = match &self.credentials {
            Credentials::Token(_) => {
                return Err(JheError::Http {
                    kind: crate::error::HttpErrorKind::Authentication,
                    status: 401,
                    url: redact_url(&self.token_url),
                    diagnostics: "the access token expired and a plain token cannot be renewed; pass client credentials or a refresh token, or get a new token".into(),
                    hint: "",
                });
            }
            Credentials::ClientCredentials { client_id, client_secret } => (
                vec![("grant_type", "client_credentials".into())],
                Some((client_id.as_str(), client_secret)),
            ),
            Credentials::RefreshToken { client, .. } => {
                let refresh = state
                    .refresh_token
                    .as_ref()
                    .expect("a refresh-token cache always holds the next refresh token");
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", refresh.expose().to_string()),
                ];
                if let Some((id, _)) = client {
                    form.push(("client_id", id.clone()));
                }
                (form, client.as_ref().map(|(id, secret)| (id.as_str(), secret)))
            }
        };
        let (answer, ()) = transport
            .send(&self.token_url, &mut (), || {
                let request = transport.client().post(self.token_url.clone()).form(&form);
                let request = match client {
                    Some((id, secret)) => request.basic_auth(id, Some(secret.expose())),
                    None => request,
                };
                std::future::ready(Ok((request, ())))
            })
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(JheError::Http {
                kind: crate::error::HttpErrorKind::Authentication,
                status: answer.status,
                url: redact_url(&self.token_url),
                diagnostics: format!("could not get an access token: {}", token_error(&answer.body)),
                hint: "",
            });
        }
        let response = TokenResponse::parse(&answer.body).map_err(|why| JheError::Protocol {
            url: redact_url(&self.token_url),
            message: format!("the token response is not what OAuth2 promises: {why}"),
        })?;
        let access = Secret::new(response.access_token);
        let renew_at = response
            .lifetime
            .and_then(|lifetime| Instant::now().checked_add(lifetime - renewal_margin(lifetime)));
        let next_refresh = response.refresh_token.map(Secret::new);
        self.remember([Some(access.clone()), next_refresh.clone()].into_iter().flatten());
        if let Some(next) = next_refresh {
            state.refresh_token = Some(next);
        }
        log::info!("obtained a new access token from {}", redact_url(&self.token_url));
        state.current = Some(Issued {
            access: access.clone(),
            renew_at,
        });
        Ok(access)
    }
}

/// OAuth2 error bodies are `{"error": ..., "error_description": ...}`; never echo secrets.
fn token_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => match e.error_description {
            Some(description) => format!("{} ({description})", e.error),
            None => e.error,
        },
        Err(_) => diagnostics_from_body(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_leaves_a_tenth_of_the_lifetime_up_to_a_minute() {
        assert_eq!(renewal_margin(Duration::from_secs(2)), Duration::from_millis(200));
        assert_eq!(renewal_margin(Duration::from_secs(1_209_600)), Duration::from_secs(60));
    }

    #[test]
    fn token_responses_are_read_leniently_and_never_quoted() {
        let parse = |body: &str| TokenResponse::parse(body.as_bytes());
        let lifetime_of = |body: &str| parse(body).unwrap().lifetime;
        assert_eq!(lifetime_of(r#"{"access_token":"a","expires_in":3600}"#), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime_of(r#"{"access_token":"a","expires_in":"3600"}"#), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime_of(r#"{"access_token":"a","expires_in":0.5}"#), Some(Duration::from_millis(500)));
        for unknown in ["1e19", "1e300", "-5", "0", "\"soon\"", "null", "true", "[1]", "\"NaN\"", "\"inf\""] {
            let body = format!(r#"{{"access_token":"a","expires_in":{unknown}}}"#);
            assert_eq!(lifetime_of(&body), None, "{unknown}");
        }
        assert_eq!(parse(r#"{"token_type":"Bearer"}"#).unwrap_err(), "it has no access_token");
        assert_eq!(parse(r#"{"access_token":""}"#).unwrap_err(), "it has no access_token");
        assert_eq!(parse(r#"{"access_token":42}"#).unwrap_err(), "it has no access_token");
        assert!(parse(r#"{"access_token":"a\nb"}"#).is_err());
        assert_eq!(parse("<html>s3cret</html>").unwrap_err(), "it is not JSON");
    }

    #[test]
    fn oauth_errors_are_readable() {
        assert_eq!(token_error(br#"{"error":"invalid_client"}"#), "invalid_client");
        assert_eq!(
            token_error(br#"{"error":"invalid_grant","error_description":"expired"}"#),
            "invalid_grant (expired)"
        );
    }
}
