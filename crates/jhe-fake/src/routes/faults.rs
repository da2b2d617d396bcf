//! Fault injection and the request log: one middleware around every route.
//!
//! API requests (`/api/...`, `/FHIR/...`, `/fhir/...`) are numbered as they arrive and
//! counted in flight until answered. For request number `n`: the latency sleep; then 429
//! when more than `rate_limit_above` were in flight as it arrived, or when `rate_limit_every` divides `n`;
//! else the injected error status with probability `error_rate`; else the real handler,
//! whose response is cut off mid-body with probability `drop_connection_rate`. Token
//! requests (`/o/token/`) get the latency and the errors only, numbered separately. The
//! random draws are a hash of (seed, n), so a sequential client sees the same faults on
//! every run. After the first observation page is served, `insert_during_fetch` new
//! observations are appended once. A request the client abandons is logged as 499.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::changes::{self, Addition};
use crate::generate::world::mix2;

use super::http::{detail, respond};
use super::log::{Note, ObservationPage, RequestRecord};
use super::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Api,
    Token,
    Other,
}

fn classify(path: &str) -> Route {
    if path.starts_with("/api/") || path.starts_with("/FHIR/") || path.starts_with("/fhir/") {
        Route::Api
    } else if path == "/o/token/" {
        Route::Token
    } else {
        Route::Other
    }
}

/// A uniform draw in [0, 1) for request `n` of one kind of decision.
fn draw(seed: u64, salt: u64, n: u64) -> f64 {
    (mix2(seed ^ salt, n) >> 11) as f64 / (1u64 << 53) as f64
}

const ERROR_SALT: u64 = 0xE770_0001;
const DROP_SALT: u64 = 0xD209_0002;
const TOKEN_ERROR_SALT: u64 = 0x70CE_0003;

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "secret", "password", "authorization"]
        .iter()
        .any(|s| k.contains(s))
}

/// The raw query with the values of credential-like keys replaced.
fn redact(raw: &str) -> String {
    raw.split('&')
        .map(|part| {
            let key = part.split_once('=').map_or(part, |(k, _)| k);
            let decoded = form_urlencoded::parse(key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if is_secret_key(&decoded) {
                format!("{key}=REDACTED")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What a proxy in front of the server answers when it gives up: a short HTML page.
fn proxy_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    respond(
        status,
        "text/html",
        format!(
            "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ),
    )
}

/// DRF's throttled answer, with `Retry-After`.
fn throttled(retry_after_s: u64) -> Response {
    let unit = if retry_after_s == 1 {
        "second"
    } else {
        "seconds"
    };
    let mut r = detail(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {retry_after_s} {unit}."),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    r
}

/// The same status and headers, a `Content-Length` promising the whole body, then half of
/// it and an error, so the connection is closed mid-body.
async fn cut_off(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let promised = bytes.len().max(2);
    let sent = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(promised));
    let stream = futures::stream::unfold(0u8, move |step| {
        let sent = sent.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(sent), 1)),
                1 => {
                    // Let the headers and the first half reach the client first.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected fault: connection dropped",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Add `n` observations written "now", spread over the main study's patients and codes
/// (new ids, the newest `lastUpdated`).
pub(crate) fn insert_observations(state: &AppState, n: u32) {
    let addition = Addition {
        count: n,
        ..Addition::default()
    };
    // Without a patient or code given, an addition is never refused.
    let _ = changes::add(&state.world, &state.store, &addition);
}

/// Logs a request whose client went away before it was answered (the handler's future is
/// dropped then), with status 499 as nginx logs it.
struct Abandoned<'a> {
    faults: &'a super::log::FaultState,
    record: Option<RequestRecord>,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.answered = self.faults.event();
            self.faults.push(record);
        }
    }
}

pub(crate) async fn layer(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = redact(request.uri().query().unwrap_or(""));
    let route = classify(&path);
    let f = state.config.faults;
    let seed = state.config.seed;
    let arrived = state.faults.event();
    let mut abandoned = Abandoned {
        faults: &state.faults,
        record: Some(RequestRecord {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status: 499,
            fault: Some("client_closed".into()),
            arrived,
            answered: 0,
        }),
    };
    let in_flight = (route == Route::Api).then(|| state.faults.enter());
    let crowded = in_flight.as_ref().is_some_and(|g| f.rate_limit_above > 0 && g.at_arrival > f.rate_limit_above);
    if route != Route::Other && f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    let mut fault: Option<&'static str> = None;
    let response = match route {
        Route::Api => {
            let n = state.faults.next_api_request();
            if crowded || (f.rate_limit_every > 0 && n % f.rate_limit_every == 0) {
                fault = Some("rate_limit");
                throttled(f.retry_after_s)
            } else if f.error_rate > 0.0 && draw(seed, ERROR_SALT, n) < f.error_rate {
                fault = Some("error");
                proxy_error(f.error_status)
            } else {
                let response = next.run(request).await;
                if f.drop_connection_rate > 0.0 && draw(seed, DROP_SALT, n) < f.drop_connection_rate
                {
                    fault = Some("drop_connection");
                    cut_off(response).await
                } else {
                    response
                }
            }
        }
        Route::Token => {
            let n = state.faults.next_token_request();
            if f.error_rate > 0.0 && draw(seed, TOKEN_ERROR_SALT, n) < f.error_rate {
                fault = Some("error");
                proxy_error(f.error_status)
            } else {
                next.run(request).await
            }
        }
        Route::Other => next.run(request).await,
    };
    if fault.is_none()
        && f.insert_during_fetch > 0
        && response.status() == StatusCode::OK
        && response.extensions().get::<ObservationPage>().is_some()
        && state.faults.first_insert()
    {
        let s = state.clone();
        let n = f.insert_during_fetch;
        let _ = tokio::task::spawn_blocking(move || insert_observations(&s, n)).await;
        fault = Some("insert_during_fetch");
    }
    if fault.is_none() {
        fault = response.extensions().get::<Note>().map(|n| n.0);
    }
    drop(in_flight);
    abandoned.record = None;
    state.faults.push(RequestRecord {
        method,
        path,
        query,
        status: response.status().as_u16(),
        fault: fault.map(str::to_string),
        arrived,
        answered: state.faults.event(),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_and_reproducible() {
        let n = 20_000;
        let hits = (1..=n).filter(|&i| draw(7, ERROR_SALT, i) < 0.25).count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
        assert_eq!(draw(7, ERROR_SALT, 12), draw(7, ERROR_SALT, 12));
        assert_ne!(draw(7, ERROR_SALT, 12), draw(8, ERROR_SALT, 12));
        assert_ne!(draw(7, ERROR_SALT, 12), draw(7, DROP_SALT, 12));
        assert!((1..=n).all(|i| (0.0..1.0).contains(&draw(1, DROP_SALT, i))));
    }

    #[test]
    fn queries_are_redacted_and_routes_classified() {
        assert_eq!(
            redact("study_id=1&access_token=abc&client_secret=x&code=a%7Cb"),
            "study_id=1&access_token=REDACTED&client_secret=REDACTED&code=a%7Cb"
        );
        assert_eq!(redact(""), "");
        assert_eq!(classify("/api/v1/observations"), Route::Api);
        assert_eq!(classify("/FHIR/R5/metadata"), Route::Api);
        assert_eq!(classify("/fhir/r5/Observation"), Route::Api);
        assert_eq!(classify("/o/token/"), Route::Token);
        assert_eq!(
            classify("/o/.well-known/openid-configuration"),
            Route::Other
        );
        assert_eq!(classify("/health"), Route::Other);
    }

    #[test]
    fn proxy_pages_and_throttling() {
        let r = proxy_error(502);
        assert_eq!(r.status(), 502);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html");
        let r = throttled(3);
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }
}
