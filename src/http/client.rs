//! The authenticated client: a GET with the current Bearer token, renewed once when the
//! server rejects it; a non-2xx answer becomes an error with the server's reason.

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use url::Url;

use super::auth::TokenCache;
use super::errors::{http_error, redact_url};
use super::transport::Transport;
use crate::config::{ClientConfig, Secret};
use crate::error::{JheError, Result};

/// Authenticated JSON requests to one Exchange.
#[derive(Debug)]
pub struct HttpClient {
    transport: Transport,
    tokens: TokenCache,
}

impl HttpClient {
    pub fn new(config: &ClientConfig) -> Result<Self> {
        Ok(Self {
            transport: Transport::new(config)?,
            tokens: TokenCache::new(config),
        })
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// GET a JSON document and return its bytes; errors name the URL and the server's reason.
    pub async fn get_json(&self, url: &Url) -> Result<Bytes> {
        let mut renewed = false;
        loop {
            let token = self.tokens.access_token(&self.transport).await?;
            let auth = bearer_header(&token)?;
            let answer = self
                .transport
                .send(url, || {
                    self.transport
                        .client()
                        .get(url.clone())
                        // Older servers answer 406 to application/fhir+json; both accept this.
                        .header(ACCEPT, "application/json")
                        .header(AUTHORIZATION, auth.clone())
                })
                .await?;
            if (200..300).contains(&answer.status) {
                return Ok(answer.body);
            }
            if answer.status == 401 && !renewed && self.tokens.renew_rejected(&token, &self.transport).await? {
                renewed = true;
                log::info!("the access token was rejected; retrying {} with a renewed one", redact_url(url));
                continue;
            }
            return Err(http_error(answer.status, url, &answer.body));
        }
    }
}

fn bearer_header(token: &Secret) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        JheError::Config("the access token contains characters that cannot be sent in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}
