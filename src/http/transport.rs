//! Sending a request until it gets a final answer: transient failures (connection errors,
//! timeouts, 429, 500, 502, 503, 504) are retried with exponential backoff and full jitter,
//! honouring `Retry-After`. Knows nothing of tokens.

use std::time::Duration;

use bytes::Bytes;
use rand::RngExt as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

use super::errors::{redact_url, transport_error};
use crate::config::ClientConfig;
use crate::error::{JheError, Result};

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
        super::install_crypto_provider();
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

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

}
