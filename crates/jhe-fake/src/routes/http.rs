//! HTTP plumbing shared by the REST and FHIR handlers, written to behave like Django and
//! Django REST Framework: query-key spelling, absolute links, page-number pagination and
//! the error pages a client meets. In: a request's query and headers; out: parsed
//! parameters, pages, links and ready responses.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// The REST API's 403 for a study the user may not see; the older FHIR API answers the
/// same.
pub(crate) const STUDY_FORBIDDEN: &str =
    "Current User does not have authorization to access this Study.";

/// The request's query (or a POST `_search` form): the raw string, for links, and the
/// decoded pairs with keys normalized the way djangorestframework-camel-case does
/// (`studyId` -> `study_id`, `patient._has:Group:...` -> `patient._has:_group:...`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    pub raw: String,
    pairs: Vec<(String, String)>,
}

/// camelCase -> snake_case, one uppercase letter at a time.
pub(crate) fn snake_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Params {
    pub fn parse(raw: &str) -> Params {
        let pairs = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (snake_key(&k), v.into_owned()))
            .collect();
        Params {
            raw: raw.to_string(),
            pairs,
        }
    }

    /// The last value sent for a key (Django's `QueryDict.get`).
    pub fn last(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last non-empty value: Django views treat `?study_id=` as absent.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.last(key).filter(|v| !v.is_empty())
    }

    /// Every (key, value) pair, in order, keys normalized.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Python's `int()` on a query value: surrounding whitespace, a sign, `_` between digits.
pub(crate) fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// `scheme://host` the client used: `X-Forwarded-Proto`/`X-Forwarded-Host` when a proxy
/// set them, else the `Host` header.
pub(crate) fn base_url(headers: &HeaderMap, fallback_host: &str) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = first("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or_else(|| fallback_host.into());
    format!("{proto}://{host}")
}

/// Python's `urllib.parse.quote_plus`.
pub(crate) fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// DRF's `replace_query_param` / `remove_query_param` on a raw query string: parse with
/// blanks kept, set or drop one key, then re-encode with the keys sorted.
pub(crate) fn with_query_param(raw: &str, key: &str, value: Option<&str>) -> String {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (k, v) = (decode(k), decode(v));
        match grouped.iter_mut().find(|(gk, _)| *gk == k) {
            Some((_, vs)) => vs.push(v),
            None => grouped.push((k, vec![v])),
        }
    }
    grouped.retain(|(k, _)| k != key);
    if let Some(v) = value {
        grouped.push((key.to_string(), vec![v.to_string()]));
    }
    grouped.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (k, vs) in &grouped {
        for v in vs {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&quote_plus(k));
            out.push('=');
            out.push_str(&quote_plus(v));
        }
    }
    out
}

/// `base + path + ?query`, like Django's `build_absolute_uri`.
pub(crate) fn absolute(base: &str, path: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    }
}

/// One page of a page-number-paginated list (DRF `PageNumberPagination`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub number: usize,
    pub size: usize,
    pub pages: usize,
    pub total: usize,
}

pub(crate) const DEFAULT_PAGE_SIZE: usize = 20;
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

impl Page {
    /// `size`: a positive integer, capped at 1000; anything else means 20. `page`: 1-based,
    /// `last` allowed; past the end, zero or not a number is `Err` ("Invalid page.").
    /// An empty result still has a page 1.
    pub fn select(total: usize, page: Option<&str>, size: Option<&str>) -> Result<Page, ()> {
        let size = size
            .and_then(py_int)
            .filter(|&n| n > 0)
            .map_or(DEFAULT_PAGE_SIZE, |n| {
                (n as u64).min(MAX_PAGE_SIZE as u64) as usize
            });
        let pages = total.max(1).div_ceil(size);
        let number = match page.filter(|p| !p.is_empty()) {
            None => 1,
            Some("last") => pages,
            Some(p) => match py_int(p) {
                Some(n) if n >= 1 && n as u64 <= pages as u64 => n as usize,
                _ => return Err(()),
            },
        };
        Ok(Page {
            number,
            size,
            pages,
            total,
        })
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        let start = (self.number - 1) * self.size;
        start.min(self.total)..(start + self.size).min(self.total)
    }

    /// The `next` and `previous` URLs (`previous` of page 2 drops the page key).
    pub fn links(
        &self,
        base_and_path: &str,
        raw_query: &str,
        page_key: &str,
    ) -> (Option<String>, Option<String>) {
        let at = |q: String| {
            if q.is_empty() {
                base_and_path.to_string()
            } else {
                format!("{base_and_path}?{q}")
            }
        };
        let next = (self.number < self.pages).then(|| {
            at(with_query_param(
                raw_query,
                page_key,
                Some(&(self.number + 1).to_string()),
            ))
        });
        let previous = (self.number > 1).then(|| {
            if self.number == 2 {
                at(with_query_param(raw_query, page_key, None))
            } else {
                at(with_query_param(
                    raw_query,
                    page_key,
                    Some(&(self.number - 1).to_string()),
                ))
            }
        });
        (next, previous)
    }
}

/// One page of a limit/offset-paginated list (DRF `LimitOffsetPagination`), as the user
/// guide documents the REST API (no released server pages this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LimitOffset {
    pub limit: usize,
    pub offset: usize,
    pub total: usize,
}

impl LimitOffset {
    /// `limit`: a positive integer (capped at 1000), else 20. `offset`: a non-negative
    /// integer, else 0; past the end is an empty page, not an error.
    pub fn select(total: usize, limit: Option<&str>, offset: Option<&str>) -> LimitOffset {
        let limit = limit
            .and_then(py_int)
            .filter(|&n| n > 0)
            .map_or(DEFAULT_PAGE_SIZE, |n| {
                (n as u64).min(MAX_PAGE_SIZE as u64) as usize
            });
        let offset = offset
            .and_then(py_int)
            .filter(|&n| n >= 0)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        LimitOffset {
            limit,
            offset,
            total,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        let start = self.offset.min(self.total);
        start..self.offset.saturating_add(self.limit).min(self.total)
    }

    /// DRF's `next` (offset + limit, while rows remain) and `previous` (offset - limit;
    /// no `offset` key once that reaches 0), both carrying `limit`.
    pub fn links(&self, base_and_path: &str, raw_query: &str) -> (Option<String>, Option<String>) {
        let at = |q: String| format!("{base_and_path}?{q}");
        let with_limit = with_query_param(raw_query, "limit", Some(&self.limit.to_string()));
        let next = (self.offset.saturating_add(self.limit) < self.total).then(|| {
            at(with_query_param(
                &with_limit,
                "offset",
                Some(&(self.offset + self.limit).to_string()),
            ))
        });
        let previous = (self.offset > 0).then(|| {
            if self.offset <= self.limit {
                at(with_query_param(&with_limit, "offset", None))
            } else {
                at(with_query_param(
                    &with_limit,
                    "offset",
                    Some(&(self.offset - self.limit).to_string()),
                ))
            }
        });
        (next, previous)
    }
}

/// Whether DRF's content negotiation finds a JSON renderer for the `Accept` header: a
/// missing or empty header, `*/*`, `application/*` or `application/json` (parameters and
/// quality ignored, as DRF does). Older servers have no FHIR renderer, so
/// `application/fhir+json` alone is 406.
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let types: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect();
    types.is_empty()
        || types
            .iter()
            .any(|t| matches!(t.as_str(), "*/*" | "application/*" | "application/json"))
}

pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    respond(status, "application/json", body)
}

/// `{"detail": "..."}`, DRF's error body.
pub(crate) fn detail(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "detail": message }).to_string())
}

/// Django's page for a URL no route matches (trailing slash, unknown path).
pub(crate) fn html_not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  \
         <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n",
    )
}

/// What Django shows when a view calls `int()` on a malformed query value.
pub(crate) fn html_value_error(path: &str, value: &str) -> Response {
    let escaped = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/html; charset=utf-8",
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <title>ValueError at {path}</title>\n</head>\n<body>\n  \
             <h1>Server Error (500)</h1><p>ValueError at {path}: invalid literal for int() with base 10: \
             '{escaped}'</p>\n</body>\n</html>\n"
        ),
    )
}

/// The older servers' 500 for `int()` on a malformed value: Django's plain-text
/// technical page (the request did not ask for HTML).
pub(crate) fn text_value_error(path: &str, value: &str) -> Response {
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        format!(
            "ValueError at {path}\ninvalid literal for int() with base 10: '{value}'\n\n\
             Request Method: GET\nException Type: ValueError\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_offset_like_drf() {
        let p = LimitOffset::select(45, Some("20"), Some("20"));
        assert_eq!(p.range(), 20..40);
        let (next, prev) = p.links(
            "http://h/api/v1/observations",
            "study_id=1&limit=20&offset=20",
        );
        assert_eq!(
            next.unwrap(),
            "http://h/api/v1/observations?limit=20&offset=40&study_id=1"
        );
        assert_eq!(
            prev.unwrap(),
            "http://h/api/v1/observations?limit=20&study_id=1"
        );
        let first = LimitOffset::select(45, None, None);
        assert_eq!((first.limit, first.offset, first.range()), (20, 0, 0..20));
        let (next, prev) = first.links("http://h/x", "study_id=1");
        assert_eq!(next.unwrap(), "http://h/x?limit=20&offset=20&study_id=1");
        assert_eq!(prev, None);
        let last = LimitOffset::select(45, Some("20"), Some("40"));
        assert_eq!(last.range(), 40..45);
        let (next, prev) = last.links("http://h/x", "limit=20&offset=40");
        assert_eq!(next, None);
        assert_eq!(prev.unwrap(), "http://h/x?limit=20&offset=20");
        let past = LimitOffset::select(45, Some("10"), Some("99"));
        assert_eq!(past.range(), 45..45);
        for bad in ["0", "-3", "x"] {
            assert_eq!(LimitOffset::select(5, Some(bad), Some(bad)).limit, 20);
            assert_eq!(LimitOffset::select(5, Some(bad), Some(bad)).offset, 0);
        }
        assert_eq!(LimitOffset::select(5, Some("5000"), None).limit, 1000);
    }

    #[test]
    fn content_negotiation_like_drf() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            accepts_json(&h)
        };
        assert!(accepts_json(&HeaderMap::new()));
        assert!(with("application/json"));
        assert!(with("*/*"));
        assert!(with("application/fhir+json, application/json;q=0.9"));
        assert!(with("text/html,application/xhtml+xml,*/*;q=0.8"));
        assert!(!with("application/fhir+json"));
        assert!(!with("text/csv"));
    }

    #[test]
    fn links_like_drf() {
        let q = "patient._has:Group:member:_id=30001&_count=2";
        assert_eq!(
            with_query_param(q, "_page", Some("2")),
            "_count=2&_page=2&patient._has%3AGroup%3Amember%3A_id=30001"
        );
        let q = "patient._has:Group:member:_id=30006&_count=3&code=https%3a%2f%2fw3id.org%2fopenmhealth%7comh%3astep-count%3a3.0";
        assert_eq!(
            with_query_param(q, "_page", Some("2")),
            "_count=3&_page=2&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Astep-count%3A3.0&patient._has%3AGroup%3Amember%3A_id=30006"
        );
        let page = Page::select(45_300, Some("2"), Some("3")).unwrap();
        let (next, prev) = page.links(
            "http://h/api/v1/observations",
            "study_id=30006&page=2&page_size=3",
            "page",
        );
        assert_eq!(
            next.unwrap(),
            "http://h/api/v1/observations?page=3&page_size=3&study_id=30006"
        );
        assert_eq!(
            prev.unwrap(),
            "http://h/api/v1/observations?page_size=3&study_id=30006"
        );
    }

    #[test]
    fn pages_like_drf() {
        assert_eq!(Page::select(0, None, None).unwrap().pages, 1);
        assert!(Page::select(0, Some("2"), None).is_err());
        assert!(Page::select(5, Some("0"), None).is_err());
        assert!(Page::select(5, Some("x"), None).is_err());
        assert_eq!(Page::select(5000, None, Some("5000")).unwrap().size, 1000);
        for bad in ["0", "-1", "abc", ""] {
            assert_eq!(Page::select(5000, None, Some(bad)).unwrap().size, 20);
        }
        assert_eq!(
            Page::select(45, Some("last"), Some("20")).unwrap().number,
            3
        );
        assert_eq!(
            Page::select(45, Some("3"), Some("20")).unwrap().range(),
            40..45
        );
        assert_eq!(py_int(" +1_000 "), Some(1000));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(
            snake_key("patient._has:Group:member:_id"),
            "patient._has:_group:member:_id"
        );
        assert_eq!(snake_key("_lastUpdated"), "_last_updated");
    }
}
