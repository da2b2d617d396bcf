//! Sending a request until it gets a final answer: transient failures (connection errors,
//! timeouts, 429, 500, 502, 503, 504) are retried with exponential backoff and full jitter,
//! honouring `Retry-After` up to [`MAX_RETRY_AFTER`]. Every answer is bounded: `timeout`
//! covers the whole exchange (connecting to the last byte of the body), the body is read
//! up to `max_response_bytes` (counted decompressed), and redirects are followed only on
//! the configured origin and never from the token endpoint, so neither a query nor a
//! credential is sent anywhere else. Knows nothing of tokens.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::RngExt as _;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use url::Url;

use super::errors::{diagnostics_from_body, redact_url, transport_error};
use crate::config::ClientConfig;
use crate::error::{HttpErrorKind, JheError, Result};

/// The longest `Retry-After` jhe waits; a server asking for longer gets an error instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Same-origin redirects followed in a row.
const MAX_REDIRECTS: usize = 10;

/// How transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer ask ends the request with an error.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: MAX_RETRY_AFTER,
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

/// What one attempt said of the server's load, for pacing requests (`crate::fetch`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// Answered 429 or 503: the server asked for fewer requests.
    pub overloaded: bool,
    /// From sending to the body's last byte; none when the attempt got no answer.
    pub latency: Option<Duration>,
}

/// Hears of each attempt as it ends and says when the next may go. A pace learns of a 429
/// as it is answered, not once the retries that hide it are done, and a request waiting to
/// retry holds no place in flight; else requests retrying at once keep the server as
/// crowded as it said it was. `()` paces nothing.
pub trait Attempts: Send {
    /// An attempt ended, saying `load` of the server's load.
    fn ended(&mut self, load: Load);
    /// Wait until the next attempt may be sent (the first one too).
    fn ready(&mut self) -> impl Future<Output = ()> + Send;
}

impl Attempts for () {
    fn ended(&mut self, _: Load) {}
    async fn ready(&mut self) {}
}

/// Statuses by which a server asks for fewer requests at once.
fn is_overload_status(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// One attempt's answer, before deciding whether to retry.
struct Received {
    status: u16,
    body: Bytes,
    retry_after: Option<Duration>,
}

/// Why an attempt got no answer: worth another try, or not.
enum Failure {
    Transient(JheError),
    Final(JheError),
}

/// Sends requests and retries what is transient; knows nothing of tokens.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    retry: RetryPolicy,
    origin: Url,
    token_url: Url,
    timeout: Duration,
    max_response_bytes: u64,
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let (origin, token_url) = (config.base_url.clone(), config.token_url());
        super::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .timeout(config.timeout)
            .redirect(redirect_policy(origin.clone(), token_url.clone()))
            .gzip(true)
            .user_agent(concat!("jhe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JheError::Config(format!("could not set up HTTP: {e}")))?;
        Ok(Self {
            client,
            retry: RetryPolicy::new(config.retries),
            origin,
            token_url,
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send the request `build` makes (once per attempt, so it may take what is current,
    /// such as the token) until it gets a final answer, returned with what `build` paired
    /// with the request that got it; `attempts` hears of each attempt and lets each go. An
    /// error from `build` ends it.
    pub async fn send<T, Attempt>(
        &self,
        url: &Url,
        attempts: &mut impl Attempts,
        mut build: impl FnMut() -> Attempt,
    ) -> Result<(Answer, T)>
    where
        Attempt: Future<Output = Result<(reqwest::RequestBuilder, T)>>,
    {
        let mut attempt = 0u32;
        loop {
            let retries_left = attempt < self.retry.retries;
            attempts.ready().await;
            let (request, sent) = build().await?;
            let started = std::time::Instant::now();
            let answered = self.attempt(url, request).await;
            attempts.ended(match &answered {
                Ok(got) => Load { overloaded: is_overload_status(got.status), latency: Some(started.elapsed()) },
                Err(_) => Load::default(),
            });
            let (reason, delay) = match answered {
                Ok(got) if is_transient_status(got.status) && retries_left => match got.retry_after {
                    Some(asked) if asked > self.retry.max_retry_after => {
                        return Err(self.wait_too_long(url, &got, asked));
                    }
                    asked => (format!("HTTP {}", got.status), asked.unwrap_or_else(|| self.retry.backoff(attempt))),
                },
                Ok(got) => return Ok((Answer { status: got.status, body: got.body }, sent)),
                Err(Failure::Transient(error)) if retries_left => (error.to_string(), self.retry.backoff(attempt)),
                Err(Failure::Transient(error) | Failure::Final(error)) => return Err(error),
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

    async fn attempt(&self, url: &Url, request: reqwest::RequestBuilder) -> Result<Received, Failure> {
        let fail = |e: reqwest::Error| Failure::Transient(transport_error(url, &e, self.timeout));
        let mut response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) && response.headers().contains_key(LOCATION) {
            return Err(Failure::Final(self.refused_redirect(url, &response)));
        }
        let retry_after = retry_after(response.headers());
        let too_large = |what: String| {
            Failure::Final(JheError::Protocol {
                url: redact_url(url),
                message: format!(
                    "{what}, more than max_response_bytes ({}); raise max_response_bytes if this server's responses are really that large",
                    byte_size(self.max_response_bytes)
                ),
            })
        };
        let announced = response.content_length();
        if let Some(announced) = announced.filter(|&n| n > self.max_response_bytes) {
            return Err(too_large(format!("the response announces {}", byte_size(announced))));
        }
        // Sized once from Content-Length (within the limit just checked), not grown by
        // copying; a compressed response has none and grows as it arrives.
        let mut body = BytesMut::with_capacity(announced.unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(too_large("the response is larger".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Received { status, body: body.freeze(), retry_after })
    }

    /// A redirect the policy stopped: off the origin, from the token endpoint, or one too many.
    fn refused_redirect(&self, url: &Url, response: &reqwest::Response) -> JheError {
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| response.url().join(l).ok());
        let status = response.status().as_u16();
        let message = match target {
            _ if same_resource(url, &self.token_url) => format!(
                "the token endpoint answered with a redirect (HTTP {status}); jhe never follows redirects from it, so credentials are sent nowhere else"
            ),
            Some(target) if !same_origin(&target, &self.origin) => format!(
                "the server redirected (HTTP {status}) to {}, another origin than the Exchange's {}; jhe does not follow redirects off the configured Exchange",
                origin_text(&target),
                origin_text(&self.origin)
            ),
            Some(_) => format!("more than {MAX_REDIRECTS} redirects in a row (the last HTTP {status})"),
            None => format!("a redirect (HTTP {status}) to an unreadable location"),
        };
        JheError::Protocol { url: redact_url(url), message }
    }

    fn wait_too_long(&self, url: &Url, got: &Received, asked: Duration) -> JheError {
        JheError::Http {
            kind: HttpErrorKind::from_status(got.status),
            status: got.status,
            url: redact_url(url),
            diagnostics: format!(
                "the server asked to wait {} seconds before retrying (Retry-After), longer than jhe waits ({} s at most); try again later ({})",
                asked.as_secs(),
                self.retry.max_retry_after.as_secs(),
                diagnostics_from_body(&got.body)
            ),
            hint: "",
        }
    }
}

/// Follow a redirect only within `origin`, never from `token_url`, at most [`MAX_REDIRECTS`].
fn redirect_policy(origin: Url, token_url: Url) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let from_token_endpoint = attempt.previous().iter().any(|u| same_resource(u, &token_url));
        if from_token_endpoint || !same_origin(attempt.url(), &origin) || attempt.previous().len() > MAX_REDIRECTS {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// Scheme, host and port (the default one when none is written) are the same.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
}

fn same_resource(a: &Url, b: &Url) -> bool {
    same_origin(a, b) && a.path() == b.path()
}

fn origin_text(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// `n` bytes, in the largest binary unit that keeps it readable.
fn byte_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// `Retry-After` as seconds or an HTTP date; a date in the past is no wait, and a number
/// too large to hold is the longest wait there is (it is refused, not waited for).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(text.parse::<u64>().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.timestamp_millis().saturating_sub(chrono::Utc::now().timestamp_millis());
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
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-5"));
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999999999999999999"));
        assert_eq!(retry_after(&headers), Some(Duration::MAX));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"));
        assert!(retry_after(&headers).unwrap() > Duration::from_secs(1 << 36));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(same_origin(&url("https://jhe.example/a"), &url("https://jhe.example:443/b?c")));
        assert!(!same_origin(&url("https://jhe.example/"), &url("http://jhe.example/")));
        assert!(!same_origin(&url("https://jhe.example/"), &url("https://jhe.example:8443/")));
        assert!(!same_origin(&url("https://jhe.example/"), &url("https://evil.example/")));
        assert!(!same_origin(&url("https://jhe.example/"), &url("https://jhe.example.evil/")));
        assert_eq!(byte_size(64 << 20), "64.0 MiB");
        assert_eq!(byte_size(10), "10 bytes");
    }

    /// A loopback server answering each connection with the next of `answers` (the last
    /// one again when they run out), each a list of chunks sent `gap` apart; and how many
    /// connections it accepted.
    async fn serve(answers: Vec<Vec<Vec<u8>>>, gap: Duration) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let chunks = answers[n.min(answers.len() - 1)].clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    for chunk in chunks {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(gap).await;
                    }
                });
            }
        });
        (url, accepted)
    }

    fn transport_to(url: &Url, timeout: f64, max_response_bytes: u64) -> Transport {
        let options = crate::config::ClientOptions {
            url: Some(url.to_string()),
            token: Some("t".into()),
            timeout: Some(Duration::from_secs_f64(timeout)),
            max_response_bytes: Some(max_response_bytes),
            retries: Some(2),
            ..Default::default()
        };
        Transport::new(&ClientConfig::resolve(options, |_| None).unwrap()).unwrap()
    }

    async fn get(transport: &Transport, url: &Url) -> Result<Answer> {
        let request = || std::future::ready(Ok((transport.client().get(url.clone()), ())));
        transport.send(url, &mut (), request).await.map(|(answer, ())| answer)
    }

    fn answer(head: &str, body: &[u8]) -> Vec<Vec<u8>> {
        vec![[head.as_bytes(), b"\r\n\r\n", body].concat()]
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_refused_announced_or_not() {
        let streamed = answer("HTTP/1.1 200 OK\r\nConnection: close", &[b' '; 4096]);
        let announced = answer("HTTP/1.1 200 OK\r\nContent-Length: 99999999999", b"{}");
        for body in [streamed, announced] {
            let (url, accepted) = serve(vec![body], Duration::ZERO).await;
            let error = get(&transport_to(&url, 5.0, 1024), &url).await.unwrap_err();
            assert!(matches!(&error, JheError::Protocol { message, .. } if message.contains("max_response_bytes (1.0 KiB)")), "{error}");
            assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "not retried");
        }
        let (url, _) = serve(vec![answer("HTTP/1.1 200 OK\r\nContent-Length: 4", b"{ }\n")], Duration::ZERO).await;
        assert_eq!(&get(&transport_to(&url, 5.0, 4), &url).await.unwrap().body[..], b"{ }\n");
    }

    #[tokio::test]
    async fn the_timeout_bounds_the_whole_answer_not_each_read() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        let trickle = std::iter::once(head).chain((0..100).map(|_| b" ".to_vec())).collect();
        let (url, _) = serve(vec![trickle], Duration::from_millis(100)).await;
        let mut transport = transport_to(&url, 0.5, 1024);
        transport.retry.retries = 0;
        let error = get(&transport, &url).await.unwrap_err();
        assert!(matches!(&error, JheError::Transport { message, .. } if message.contains("timeout")), "{error}");
    }

    #[tokio::test]
    async fn redirects_stay_on_the_origin_and_off_the_token_endpoint() {
        let (elsewhere, contacted) = serve(vec![answer("HTTP/1.1 200 OK\r\nContent-Length: 2", b"{}")], Duration::ZERO).await;
        let away = answer(&format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere}x\r\nContent-Length: 0"), b"");
        let (url, _) = serve(vec![away], Duration::ZERO).await;
        let error = get(&transport_to(&url, 5.0, 1024), &url).await.unwrap_err();
        assert!(error.to_string().contains("another origin"), "{error}");
        assert_eq!(contacted.load(std::sync::atomic::Ordering::SeqCst), 0);

        let home = answer("HTTP/1.1 308 Permanent Redirect\r\nLocation: /there\r\nContent-Length: 0", b"");
        let arrived = answer("HTTP/1.1 200 OK\r\nContent-Length: 2", b"{}");
        let (url, _) = serve(vec![home.clone(), arrived, home], Duration::ZERO).await;
        let transport = transport_to(&url, 5.0, 1024);
        assert_eq!(&get(&transport, &url).await.unwrap().body[..], b"{}");
        let token_url = url.join("o/token/").unwrap();
        let error = get(&transport, &token_url).await.unwrap_err();
        assert!(error.to_string().contains("token endpoint"), "{error}");
    }

    #[tokio::test]
    async fn a_retry_after_past_the_cap_is_an_error_that_says_so() {
        let (url, accepted) = serve(vec![answer("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nContent-Length: 0", b"")], Duration::ZERO).await;
        let error = get(&transport_to(&url, 5.0, 1024), &url).await.unwrap_err();
        assert!(error.to_string().contains("asked to wait 3600 seconds"), "{error}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// What a pace hears: each attempt let go, then ended, in order.
    #[derive(Default)]
    struct Heard(Vec<String>);

    impl Attempts for Heard {
        fn ended(&mut self, load: Load) {
            self.0.push(format!("ended overloaded={} answered={}", load.overloaded, load.latency.is_some()));
        }
        async fn ready(&mut self) {
            self.0.push("ready".into());
        }
    }

    #[tokio::test]
    async fn each_attempt_is_let_go_and_heard_of_as_it_ends_not_once_retries_are_done() {
        let throttled = answer("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nConnection: close\r\nContent-Length: 0", b"");
        let failing = answer("HTTP/1.1 502 Bad Gateway\r\nRetry-After: 0\r\nConnection: close\r\nContent-Length: 0", b"");
        let ok = answer("HTTP/1.1 200 OK\r\nContent-Length: 2", b"{}");
        let (url, accepted) = serve(vec![throttled, failing, ok], Duration::ZERO).await;
        let transport = transport_to(&url, 5.0, 1024);
        let mut heard = Heard::default();
        let request = || std::future::ready(Ok((transport.client().get(url.clone()), ())));
        let (answer, ()) = transport.send(&url, &mut heard, request).await.unwrap();
        assert_eq!((answer.status, accepted.load(std::sync::atomic::Ordering::SeqCst)), (200, 3));
        let ended = |overloaded| format!("ended overloaded={overloaded} answered=true");
        assert_eq!(heard.0, ["ready".into(), ended(true), "ready".into(), ended(false), "ready".into(), ended(false)]);
    }
}
