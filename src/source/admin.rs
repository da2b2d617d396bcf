//! The admin REST API's lists (`/api/v1/...`: patients, studies, organizations, ...),
//! followed to the end. They are small, so they stay JSON values.

use std::collections::HashSet;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::on_origin;
use super::paging::PageWalk;
use crate::config::ClientConfig;
use crate::error::{JheError, Result};
use crate::http::{HttpClient, redact_url};

/// `{base}/api/v1/{path}?{params}`; paths have no trailing slash (the server 404s on one).
pub fn rest_url(base_url: &Url, path: &str, params: &[(String, String)]) -> Result<Url> {
    let path = path.trim_matches('/');
    if path.is_empty() || path.contains("..") {
        return Err(JheError::Config(format!("{path:?} is not an API path")));
    }
    let mut url = base_url
        .join(&format!("api/v1/{path}"))
        .map_err(|e| JheError::Config(format!("{path:?} is not an API path: {e}")))?;
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok(url)
}

#[derive(Deserialize)]
struct Envelope {
    count: Option<u64>,
    next: Option<String>,
    #[serde(default)]
    results: Vec<Value>,
}

/// Every item of a REST list: follows `next` links on the configured origin, as far as its
/// `count` allows ([`PageWalk`]); also accepts the endpoints that answer with a bare array.
pub async fn list_all(http: &HttpClient, config: &ClientConfig, path: &str, params: &[(String, String)]) -> Result<Vec<Value>> {
    let mut params = params.to_vec();
    if !params.iter().any(|(k, _)| k == "page_size" || k == "pageSize") {
        params.push(("page_size".into(), config.page_size.to_string()));
    }
    let mut url = rest_url(&config.base_url, path, &params)?;
    let mut items = Vec::new();
    let mut walk: Option<PageWalk> = None;
    // Items by id, to tell a page of new items from one repeated.
    let mut ids = HashSet::new();
    loop {
        let first = walk.is_none();
        let body = match http.get_json(&url).await {
            // Every Exchange has its top-level lists: no such list, no Exchange.
            Err(JheError::Http { status: 404, .. }) if first && !path.contains('/') => {
                return Err(super::not_an_exchange(&config.base_url));
            }
            answer => answer?,
        };
        let value: Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) if first && !path.contains('/') => return Err(super::not_an_exchange(&config.base_url)),
            Err(e) => {
                let message = format!("the response is not JSON: {e}");
                return Err(JheError::Protocol { url: redact_url(&url), message });
            }
        };
        if let Value::Array(list) = value {
            items.extend(list);
            break;
        }
        let page: Envelope = serde_json::from_value(value).map_err(|e| JheError::Protocol {
            url: redact_url(&url),
            message: format!("the response is not a paginated list: {e}"),
        })?;
        let (entries, has_next) = (page.results.len(), page.next.is_some());
        let new_items = page.results.iter().filter(|item| item.get("id").is_none_or(|id| ids.insert(id.to_string()))).count();
        match &mut walk {
            None => walk = Some(PageWalk::start(&url, page.count, entries, has_next, "items")?),
            Some(walk) => walk.later_page(&url, page.count, entries, new_items, has_next)?,
        }
        items.extend(page.results);
        let Some(next) = page.next else { break };
        url = on_origin(&next, &config.base_url, &url)?;
        walk.as_mut().expect("set by the first page").follow(&url)?;
    }
    if let Some(count) = walk.map(|walk| walk.total()).filter(|&count| count != items.len() as u64) {
        return Err(JheError::InconsistentResult {
            expected: count,
            received: items.len() as u64,
            detail: format!(" in {path} (the list changed while it was read; try again)"),
        });
    }
    Ok(items)
}

/// Several REST documents (`patients/{id}/consents`, ...), each as the server sent it, in
/// the order of `paths`, with at most `concurrency` requests in flight. Every path is
/// checked before anything is sent; the first error in that order ends it, and the
/// requests still in flight are cancelled.
pub async fn get_all(http: &HttpClient, base_url: &Url, paths: &[String], concurrency: usize) -> Result<Vec<Bytes>> {
    let urls = paths.iter().map(|path| rest_url(base_url, path, &[])).collect::<Result<Vec<_>>>()?;
    // Each request owns its URL: a closure lending one is not general enough for rustc to
    // let the future be spawned (higher-ranked lifetimes).
    let requests = urls.into_iter().map(|url| async move { http.get_json(&url).await });
    futures::stream::iter(requests).buffered(concurrency.max(1)).try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_have_no_trailing_slash_and_keep_params() {
        let base = Url::parse("https://jhe.example/").unwrap();
        let url = rest_url(&base, "/patients/", &[("study_id".into(), "30001".into())]).unwrap();
        assert_eq!(url.as_str(), "https://jhe.example/api/v1/patients?study_id=30001");
        assert!(rest_url(&base, "../o/token", &[]).is_err());
    }
}
