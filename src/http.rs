//! HTTP to the Exchange: one pooled reqwest client; transient failures (connection errors,
//! timeouts, 429, 500, 502, 503, 504) retried with exponential backoff and full jitter,
//! honouring `Retry-After`; the Bearer token from [`TokenCache`], renewed once on a 401;
//! every other non-2xx answer turned into a [`JheError`] with the server's diagnostics.

use std::time::Duration;

use bytes::Bytes;
use rand::RngExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use url::Url;

use crate::auth::TokenCache;
use crate::config::{ClientConfig, Secret};
use crate::error::{HttpErrorKind, JheError, PERMISSION_HINT, Result};

/// How transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured as given; longer asks are capped.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }

    /// Full jitter: uniform in [0, min(max, base * 2^attempt)].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << attempt.min(16)).min(self.max_delay);
        ceiling.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// Statuses that mean "try again later".
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// A final HTTP answer (after retries).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// Sends requests and retries what is transient; knows nothing of tokens.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .read_timeout(config.timeout)
            .gzip(true)
            .user_agent(concat!("jhe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JheError::Config(format!("could not set up HTTP: {e}")))?;
        Ok(Self {
            client,
            retry: RetryPolicy::new(config.retries),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send the request `build` makes (once per attempt) until it gets a final answer.
    pub async fn send(&self, url: &Url, build: impl Fn() -> reqwest::RequestBuilder) -> Result<Answer> {
        let mut attempt = 0u32;
        loop {
            let outcome = match build().send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = retry_after(response.headers());
                    match response.bytes().await {
                        Ok(body) => Ok((status, body, retry_after)),
                        Err(e) => Err(transport_error(url, &e)),
                    }
                }
                Err(e) => Err(transport_error(url, &e)),
            };
            let (reason, server_delay) = match outcome {
                Ok((status, _body, retry_after)) if is_transient_status(status) && attempt < self.retry.retries => {
                    (format!("HTTP {status}"), retry_after)
                }
                Ok((status, body, _)) => return Ok(Answer { status, body }),
                Err(error) if attempt < self.retry.retries => (error.to_string(), None),
                Err(error) => return Err(error),
            };
            let delay = match server_delay {
                Some(asked) => asked.min(self.retry.max_retry_after),
                None => self.retry.backoff(attempt),
            };
            attempt += 1;
            log::warn!(
                "{reason}; retrying {} in {:.1} s (retry {attempt} of {})",
                redact_url(url),
                delay.as_secs_f64(),
                self.retry.retries
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

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

/// The URL as it may appear in messages: no user info, no fragment.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn transport_error(url: &Url, error: &reqwest::Error) -> JheError {
    // reqwest's Display includes the URL; walk the sources for the underlying reason instead.
    let mut message = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    JheError::Transport {
        url: redact_url(url),
        message,
    }
}

pub fn http_error(status: u16, url: &Url, body: &[u8]) -> JheError {
    let kind = HttpErrorKind::from_status(status);
    JheError::Http {
        kind,
        status,
        url: redact_url(url),
        diagnostics: diagnostics_from_body(body),
        hint: if kind == HttpErrorKind::PermissionDenied {
            PERMISSION_HINT
        } else {
            ""
        },
    }
}

/// The server's explanation from any of the error shapes JHE servers send: an FHIR
/// OperationOutcome, DRF's `{"detail": ...}`, a bare list of strings, or an HTML/text page.
pub fn diagnostics_from_body(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(issues) = value.get("issue").and_then(|i| i.as_array()) {
            let texts: Vec<String> = issues
                .iter()
                .filter_map(|issue| {
                    issue
                        .get("diagnostics")
                        .or_else(|| issue.get("details").and_then(|d| d.get("text")))
                        .and_then(|d| d.as_str())
                        .map(str::to_string)
                })
                .collect();
            if !texts.is_empty() {
                return texts.join("; ");
            }
        }
        if let Some(detail) = value.get("detail") {
            return match detail.as_str() {
                Some(text) => text.to_string(),
                None => detail.to_string(),
            };
        }
        if let Some(list) = value.as_array() {
            let texts: Vec<String> = list
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .collect();
            return texts.join("; ");
        }
        return shorten(&value.to_string());
    }
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('<') {
        // Django's error pages: the <title> is the useful part.
        if let Some(title) = text
            .split("<title>")
            .nth(1)
            .and_then(|rest| rest.split("</title>").next())
        {
            return shorten(title.trim());
        }
        return "the server sent an HTML error page".into();
    }
    if text.trim().is_empty() {
        "no details given".into()
    } else {
        shorten(text.trim())
    }
}

fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    if text.chars().count() <= LIMIT {
        text.to_string()
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::new(5);
        for attempt in 0..20 {
            let ceiling = policy.base_delay.saturating_mul(1 << attempt.min(16)).min(policy.max_delay);
            assert!(policy.backoff(attempt) <= ceiling);
        }
        assert!(policy.backoff(30) <= policy.max_delay);
        assert!(is_transient_status(503) && is_transient_status(429));
        assert!(!is_transient_status(403) && !is_transient_status(404) && !is_transient_status(400));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn reads_every_error_shape() {
        let outcome = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"Current user is not authorized to access Group/30003."}]}"#;
        assert_eq!(
            diagnostics_from_body(outcome),
            "Current user is not authorized to access Group/30003."
        );
        assert_eq!(diagnostics_from_body(br#"{"detail":"Invalid page."}"#), "Invalid page.");
        assert_eq!(
            diagnostics_from_body(br#"["The requested Patient is not part of the specified Study."]"#),
            "The requested Patient is not part of the specified Study."
        );
        assert_eq!(
            diagnostics_from_body(b"<!DOCTYPE html><html><head><title>ValueError at /api/v1/observations</title>"),
            "ValueError at /api/v1/observations"
        );
        assert_eq!(diagnostics_from_body(b""), "no details given");
    }

    #[test]
    fn permission_errors_carry_the_hint_and_no_credentials() {
        let url = Url::parse("https://user:pw@jhe.example/FHIR/R5/Observation?x=1").unwrap();
        let error = http_error(403, &url, br#"{"detail":"nope"}"#);
        let text = error.to_string();
        assert!(text.contains("403") && text.contains("nope") && text.contains("consent"));
        assert!(!text.contains("pw"));
    }
}
