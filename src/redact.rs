//! Scrubbing secrets from text jhe quotes: every error message passes through here before
//! it leaves the core. Two nets: the secrets this client knows (its token, refresh token,
//! client secret and key, in the forms a server might echo them), and the shapes any
//! credential takes in text (user info in a URL, `token=...` in a query or form,
//! `"access_token": "..."` in JSON, `Bearer ...` / `Basic ...`).

use std::borrow::Cow;

use crate::config::Secret;
use crate::error::JheError;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Names whose values are credentials, in a query, a form or a JSON object.
const SECRET_NAMES: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "client_secret",
    "client_key",
    "password",
    "api_key",
];

/// Secrets shorter than this are not searched for (they would mask ordinary words); the
/// shape-based net still catches them in their usual places.
const SHORTEST_SECRET: usize = 4;

/// The known secrets of one client.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    known: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut known = Vec::new();
        for secret in secrets {
            let plain = secret.expose();
            if plain.chars().count() < SHORTEST_SECRET {
                continue;
            }
            // As sent in a form or a query, too: a server echoing the request shows it so.
            let encoded: String = form_urlencoded::byte_serialize(plain.as_bytes()).collect();
            known.push(plain.to_string());
            if encoded != plain {
                known.push(encoded);
            }
        }
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
        Self { known }
    }

    /// `text` with every known secret and every credential-shaped value masked.
    pub fn text(&self, text: &str) -> String {
        let mut out = Cow::Borrowed(text);
        for secret in &self.known {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        scrub_shapes(&out)
    }

    /// `error` with every text it carries scrubbed.
    pub fn error(&self, error: JheError) -> JheError {
        let clean = |text: String| self.text(&text);
        match error {
            JheError::Config(message) => JheError::Config(clean(message)),
            JheError::Http { kind, status, url, diagnostics, hint } => JheError::Http {
                kind,
                status,
                url: clean(url),
                diagnostics: clean(diagnostics),
                hint,
            },
            JheError::Transport { url, message } => JheError::Transport { url: clean(url), message: clean(message) },
            JheError::Protocol { url, message } => JheError::Protocol { url: clean(url), message: clean(message) },
            JheError::InconsistentResult { expected, received, detail } => {
                JheError::InconsistentResult { expected, received, detail: clean(detail) }
            }
        }
    }
}

/// Credential-shaped values masked, whoever's they are.
pub fn scrub_shapes(text: &str) -> String {
    let text = mask_userinfo(text);
    let text = mask_named_values(&text);
    mask_auth_schemes(&text)
}

/// `scheme://user:password@host` → `scheme://***@host`.
fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\'').unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(MASK);
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `name=value` (query, form) and `"name": "value"` (JSON) for each of [`SECRET_NAMES`].
fn mask_named_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut masked: Vec<(usize, usize)> = Vec::new();
    for name in SECRET_NAMES {
        let mut from = 0;
        while let Some(found) = lower[from..].find(name) {
            let start = from + found;
            from = start + name.len();
            let before = lower[..start].chars().next_back();
            // `token` inside `access_token` is found by its own name; a name must stand alone.
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let after = &text[from..];
            let value_start = if after.starts_with('=') {
                from + 1
            } else if let Some(quoted) = json_value_start(after) {
                from + quoted
            } else {
                continue;
            };
            let value_len = text[value_start..]
                .find(|c: char| matches!(c, '&' | '#' | '"' | '\'' | '<' | '>' | ',' | ';' | ')' | '}' | ']') || c.is_whitespace())
                .unwrap_or(text.len() - value_start);
            // `token=...` is jhe's own advice ("pass url=... and token=..."), not a value.
            let placeholder = text[value_start..value_start + value_len].bytes().all(|b| b == b'.');
            if value_len > 0 && !placeholder {
                masked.push((value_start, value_start + value_len));
            }
        }
    }
    replace_ranges(text, masked)
}

/// After a JSON key's name: `"` then optional spaces, `:`, optional spaces and `"`; the
/// offset of the value's first character.
fn json_value_start(after: &str) -> Option<usize> {
    let rest = after.strip_prefix('"')?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(after.len() - rest.len())
}

/// `Bearer <token>` and `Basic <credentials>`, as an echoed Authorization header shows them.
fn mask_auth_schemes(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut masked = Vec::new();
    for scheme in ["bearer ", "basic "] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(scheme) {
            let start = from + found + scheme.len();
            from = start;
            let len = text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')))
                .unwrap_or(text.len() - start);
            // A word after "basic " in prose is not a credential; tokens are long.
            if len >= 8 {
                masked.push((start, start + len));
            }
        }
    }
    replace_ranges(text, masked)
}

fn replace_ranges(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        if start < at {
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_plain_and_form_encoded() {
        let redactor = Redactor::new(&[Secret::new("s3cr3t+/value="), Secret::new("abc")]);
        let echoed = "grant_type=refresh_token&refresh=s3cr3t%2B%2Fvalue%3D; also s3cr3t+/value= and abc";
        let clean = redactor.text(echoed);
        assert!(!clean.contains("s3cr3t"), "{clean}");
        // Too short to search for: ordinary words would be masked.
        assert!(clean.ends_with("and abc"), "{clean}");
    }

    #[test]
    fn credential_shapes_are_masked_whoever_they_belong_to() {
        let cases = [
            ("https://user:pw@jhe.example/x", "https://***@jhe.example/x"),
            ("see http://u@h:1/?a=1 now", "see http://***@h:1/?a=1 now"),
            ("/x?token=abc&code=omh:x", "/x?token=***&code=omh:x"),
            ("/x?Access_Token=abc#f", "/x?Access_Token=***#f"),
            ("refresh_token=r1&client_secret=s1", "refresh_token=***&client_secret=***"),
            (r#"{"access_token": "tok", "expires_in": 3}"#, r#"{"access_token": "***", "expires_in": 3}"#),
            ("Authorization: Bearer eyJhbGciOi.x-y_z", "Authorization: Bearer ***"),
            ("Basic dXNlcjpwYXNzd29yZA==", "Basic ***"),
        ];
        for (text, expected) in cases {
            assert_eq!(scrub_shapes(text), expected, "{text}");
        }
        // Lookalikes are left alone.
        for text in ["tokens=3", "basic auth", "a mytoken=x", "no secrets here", "https://jhe.example/a@b", "pass url=... and token=..."] {
            assert_eq!(scrub_shapes(text), text);
        }
    }

    #[test]
    fn every_text_of_an_error_is_scrubbed() {
        let redactor = Redactor::new(&[Secret::new("the-client-secret")]);
        let error = JheError::Http {
            kind: crate::error::HttpErrorKind::Authentication,
            status: 401,
            url: "https://jhe.example/o/token/?token=t1".into(),
            diagnostics: "invalid_client (got the-client-secret)".into(),
            hint: "",
        };
        let text = redactor.error(error).to_string();
        assert!(!text.contains("the-client-secret") && !text.contains("t1"), "{text}");
    }
}
