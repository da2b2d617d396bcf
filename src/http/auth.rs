//! Access tokens: a static token as given, or OAuth2 tokens minted from client credentials
//! or a refresh token at `/o/token/`, cached, renewed shortly before they expire and once
//! when the server rejects them. Concurrent requests share one renewal: a refresh revokes
//! the previous token, so minting twice would invalidate a token another request holds.
//! Tokens are requested through the [`Transport`] alone (the token endpoint takes no token).

use std::time::{Duration, Instant};

use serde::Deserialize;
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
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<f64>,
    refresh_token: Option<String>,
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
            token_url: config.base_url.join("o/token/").expect("a constant relative path joins"),
            state: Mutex::new(State { current, refresh_token }),
        }
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
        let answer = transport
            .send(&self.token_url, || {
                let request = transport.client().post(self.token_url.clone()).form(&form);
                match client {
                    Some((id, secret)) => request.basic_auth(id, Some(secret.expose())),
                    None => request,
                }
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
        let response: TokenResponse = serde_json::from_slice(&answer.body).map_err(|e| JheError::Protocol {
            url: redact_url(&self.token_url),
            message: format!("the token response is not what OAuth2 promises: {e}"),
        })?;
        let access = Secret::new(response.access_token);
        let renew_at = response
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|seconds| {
                let lifetime = Duration::from_secs_f64(seconds);
                Instant::now() + lifetime - renewal_margin(lifetime)
            });
        if let Some(next) = response.refresh_token {
            state.refresh_token = Some(Secret::new(next));
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
    fn oauth_errors_are_readable() {
        assert_eq!(token_error(br#"{"error":"invalid_client"}"#), "invalid_client");
        assert_eq!(
            token_error(br#"{"error":"invalid_grant","error_description":"expired"}"#),
            "invalid_grant (expired)"
        );
    }
}
