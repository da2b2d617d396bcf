//! The authenticated client: a GET with the Bearer token current at each attempt, renewed
//! when the server rejects it (a few times in a row at most); a non-2xx answer becomes an
//! error with the server's reason, scrubbed of every secret the client knows.

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use url::Url;

use super::auth::TokenCache;
use super::errors::{http_error, redact_url};
use super::transport::{Attempts, Transport};
use crate::config::{ClientConfig, Secret};
use crate::error::{JheError, Result};
use crate::redact::Redactor;

/// 401s answered in a row to one request before giving up: each renews the token (or takes
/// the one another request just renewed), so a server that keeps rejecting fresh tokens
/// does not get asked forever.
const MAX_CONSECUTIVE_REJECTIONS: u32 = 3;

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

    /// GET a JSON document and return its bytes; errors name the URL and the server's
    /// reason, and carry no secret.
    pub async fn get_json(&self, url: &Url) -> Result<Bytes> {
        self.get_paced(url, &mut ()).await
    }

    /// [`HttpClient::get_json`], each attempt let go by `attempts` and told of as it ends.
    pub async fn get_paced(&self, url: &Url, attempts: &mut impl Attempts) -> Result<Bytes> {
        self.get_authenticated(url, attempts).await.map_err(|e| self.redact(e))
    }

    /// `error` scrubbed of every secret this client holds or held lately.
    pub fn redact(&self, error: JheError) -> JheError {
        Redactor::new(&self.tokens.secrets()).error(error)
    }

    async fn get_authenticated(&self, url: &Url, attempts: &mut impl Attempts) -> Result<Bytes> {
        let mut rejections = 0;
        loop {
            let (answer, sent) = self
                .transport
                .send(url, attempts, || async {
                    // Each attempt takes the token current now: a retry may come after a
                    // long wait (Retry-After) in which the previous one expired.
                    let token = self.tokens.access_token(&self.transport).await?;
                    let request = self
                        .transport
                        .client()
                        .get(url.clone())
                        // Older servers answer 406 to application/fhir+json; both accept this.
                        .header(ACCEPT, "application/json")
                        .header(AUTHORIZATION, bearer_header(&token)?);
                    Ok((request, token))
                })
                .await?;
            if (200..300).contains(&answer.status) {
                return Ok(answer.body);
            }
            if answer.status == 401 && rejections < MAX_CONSECUTIVE_REJECTIONS {
                if self.tokens.renew_rejected(&sent, &self.transport).await? {
                    rejections += 1;
                    log::info!("the access token was rejected; retrying {} with a renewed one", redact_url(url));
                    continue;
                }
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
