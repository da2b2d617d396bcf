//! What a failed request becomes: a [`JheError`] naming the URL (never its credentials)
//! and the server's own explanation, whichever shape the server sent it in.

use std::time::Duration;

use url::Url;

use crate::error::{AUTHENTICATION_HINT, HttpErrorKind, JheError, PERMISSION_HINT};
use crate::redact::scrub_shapes;

/// The URL as it may appear in messages: no user info, no fragment, no credential in the
/// query (`token=...`).
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    scrub_shapes(shown.as_str())
}

pub(super) fn transport_error(url: &Url, error: &reqwest::Error, timeout: Duration) -> JheError {
    // reqwest's Display includes the URL; walk the sources for the underlying reason instead.
    let mut message = if error.is_timeout() {
        format!("no complete answer within the timeout ({} s)", timeout.as_secs_f64())
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
        hint: hint_for(kind),
    }
}

/// The advice a status deserves, whatever the server said.
fn hint_for(kind: HttpErrorKind) -> &'static str {
    match kind {
        HttpErrorKind::PermissionDenied => PERMISSION_HINT,
        HttpErrorKind::Authentication => AUTHENTICATION_HINT,
        _ => "",
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
        let with_token = Url::parse("https://jhe.example/x?a=1&access_token=abc123&token=t2").unwrap();
        assert_eq!(redact_url(&with_token), "https://jhe.example/x?a=1&access_token=***&token=***");
    }

    #[test]
    fn a_rejected_token_is_called_invalid_or_expired() {
        let url = Url::parse("https://jhe.example/api/v1/patients").unwrap();
        let text = http_error(401, &url, br#"{"detail":"Authentication credentials were not provided."}"#).to_string();
        assert!(text.contains("the token is invalid or expired"), "{text}");
    }
}
