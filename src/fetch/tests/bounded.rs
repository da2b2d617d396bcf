//! Fetches from a scripted loopback server whose pages would never end: each ends with an
//! error after a bounded number of requests, whichever API generation it speaks.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use serde_json::{Value, json};
use url::Url;

use super::*;
use crate::config::DEFAULT_CONCURRENCY;

/// Requests after which the script gives up with a 410, so a fetch that would crawl
/// without end (the bug under test) fails its test instead of hanging it.
const SCRIPT_LIMIT: usize = 300;

/// A loopback server answering each request from a script; every request counted.
struct Scripted {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Scripted {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

type Script = dyn Fn(&Url) -> (u16, Value) + Send + Sync;

fn serve(script: impl Fn(&Url) -> (u16, Value) + Send + Sync + 'static) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let (script, counter) = (Arc::new(script) as Arc<Script>, requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (script, counter) = (script.clone(), counter.clone());
            std::thread::spawn(move || answer(stream, &*script, &counter));
        }
    });
    Scripted { url, requests }
}

/// One request per connection, answered and closed.
fn answer(mut stream: TcpStream, script: &Script, counter: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let target = line.split(' ').nth(1).unwrap_or("/");
    let url = Url::parse(&format!("http://scripted{target}")).unwrap();
    let (status, body) = if counter.fetch_add(1, Ordering::SeqCst) >= SCRIPT_LIMIT {
        (410, json!({"detail": "the script ran out"}))
    } else {
        script(&url)
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
}

/// Which API the scripted server speaks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Speaks {
    Fhir,
    LegacyFhir,
    Rest,
}

/// One page as a script writes it: observation ids, the announced total, and the query of
/// the next page's link.
struct Page {
    ids: std::ops::Range<i64>,
    total: Option<u64>,
    next: Option<String>,
}

fn param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// A scripted Exchange: discovery and the REST access checks answered as a server would,
/// every observation page by `pages` (404 where it answers `None`).
fn exchange(speaks: Speaks, pages: impl Fn(&Url) -> Option<Page> + Send + Sync + 'static) -> Scripted {
    serve(move |url| {
        let origin = "http://127.0.0.1"; // moved onto the configured origin by jhe
        match url.path() {
            "/FHIR/R5/metadata" if speaks == Speaks::LegacyFhir => (404, json!({"detail": "Not found."})),
            "/FHIR/R5/metadata" => (200, json!({"resourceType": "CapabilityStatement"})),
            path if path.starts_with("/api/v1/studies/") => (200, json!({"id": 1})),
            path @ ("/FHIR/R5/Observation" | "/fhir/r5/Observation" | "/api/v1/observations") => match pages(url) {
                None => (404, json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Invalid page."}]})),
                Some(mut page) => {
                    let next = page.next.take().map(|query| format!("{origin}{path}?{query}"));
                    (200, if speaks == Speaks::Rest { rest_page(page, next) } else { bundle(page, next) })
                }
            },
            _ => (404, json!({"detail": "Not found."})),
        }
    })
}

const HEART: &str = r#"{"header":{"uuid":"u"},"body":{"effective_time_frame":{"date_time":"2026-01-01T00:00:00Z"},"heart_rate":{"value":60,"unit":"beats/min"}}}"#;

fn bundle(page: Page, next: Option<String>) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(HEART);
    let entry: Vec<Value> = page
        .ids
        .map(|id| {
            json!({"resource": {"resourceType": "Observation", "id": id.to_string(),
                "meta": {"lastUpdated": "2026-01-01T00:00:00Z"}, "code": {"coding": [{"code": "omh:heart-rate:2.0"}]},
                "subject": {"reference": "Patient/1"}, "valueAttachment": {"data": data}}})
        })
        .collect();
    let link: Vec<Value> = next.into_iter().map(|url| json!({"relation": "next", "url": url})).collect();
    json!({"resourceType": "Bundle", "type": "searchset", "total": page.total, "entry": entry, "link": link})
}

fn rest_page(page: Page, next: Option<String>) -> Value {
    let results: Vec<Value> = page
        .ids
        .map(|id| {
            json!({"id": id, "subjectPatientId": 1, "codingCode": "omh:heart-rate:2.0",
                "lastUpdated": "2026-01-01T00:00:00Z", "omhData": serde_json::from_str::<Value>(HEART).unwrap()})
        })
        .collect();
    json!({"count": page.total, "next": next, "previous": null, "results": results})
}

/// The page number a request asks for (1 without one), and whether it only counts.
fn page_number(url: &Url) -> (u64, bool) {
    let number = param(url, "_page").or_else(|| param(url, "page")).map_or(1, |p| p.parse().unwrap());
    let counting = param(url, "_count").or_else(|| param(url, "page_size")).as_deref() == Some("1");
    (number, counting)
}

async fn fetch_from(server: &Scripted, speaks: Speaks) -> JheError {
    let options = ClientOptions {
        url: Some(server.url.clone()),
        token: Some("t".into()),
        page_size: Some(10),
        retries: Some(0),
        ..Default::default()
    };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    let api = if speaks == Speaks::Rest { Api::Rest } else { Api::Fhir };
    let request = FetchRequest::new(ObservationQuery::new(Some(1), None, &[]).unwrap(), api, Some(Layout::Wide)).unwrap();
    fetch_observations(&session, &request, Arc::default()).await.unwrap_err()
}

fn protocol_message(error: JheError) -> String {
    match error {
        JheError::Protocol { message, .. } => message,
        other => panic!("not a protocol error: {other}"),
    }
}

const EVERY_API: [Speaks; 3] = [Speaks::Fhir, Speaks::LegacyFhir, Speaks::Rest];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_past_belief_is_refused_before_any_later_page() {
    for speaks in EVERY_API {
        let server = exchange(speaks, |url| {
            let (number, _) = page_number(url);
            Some(Page { ids: 0..10, total: Some(1_000_000_000_000), next: Some(format!("_page={}&page={}", number + 1, number + 1)) })
        });
        let message = protocol_message(fetch_from(&server, speaks).await);
        assert!(message.contains("total of 1000000000000 observations"), "{speaks:?}: {message}");
        // discovery, (REST: the study), the first page
        assert!(server.requests() <= 3, "{speaks:?}: {} requests", server.requests());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_pages_that_repeat_their_rows_end_with_an_error() {
    for speaks in EVERY_API {
        let server = exchange(speaks, |url| {
            let (number, _) = page_number(url);
            Some(Page { ids: 0..10, total: Some(1_000_000), next: Some(format!("_page={}&page={}", number + 1, number + 1)) })
        });
        let message = protocol_message(fetch_from(&server, speaks).await);
        assert!(message.contains("3 pages in a row held no observations but ones already received"), "{speaks:?}: {message}");
        // the first page, three of repeats, at most `concurrency` in flight, a count
        assert!(server.requests() <= 8 + DEFAULT_CONCURRENCY, "{speaks:?}: {} requests", server.requests());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ever_new_cursors_end_with_an_error() {
    // The same rows behind every cursor; new rows past what the total allows; a circle;
    // an empty page that links on; a next link with no total to check it by.
    type Case = (&'static str, fn(u64) -> Page);
    let cases: [Case; 5] = [
        ("already received", |k| Page { ids: 0..10, total: Some(1_000_000), next: Some(format!("cursor=c{}", k + 1)) }),
        ("past the 4 pages", |k| {
            let start = k as i64 * 10;
            Page { ids: start..start + 10, total: Some(30), next: Some(format!("cursor=c{}", k + 1)) }
        }),
        ("round in a circle", |k| Page { ids: 0..10, total: Some(1_000_000), next: Some(format!("cursor=c{}", k % 2 + 1)) }),
        ("holds no observations but links to a next page", |k| {
            let ids = if k == 0 { 0..10 } else { 0..0 };
            Page { ids, total: Some(100), next: Some(format!("cursor=c{}", k + 1)) }
        }),
        ("announces no total", |k| Page { ids: 0..10, total: None, next: Some(format!("cursor=c{}", k + 1)) }),
    ];
    for (expected, script) in cases {
        for speaks in EVERY_API {
            let server = exchange(speaks, move |url| {
                let cursor = param(url, "cursor").map_or(0, |c| c.trim_start_matches('c').parse().unwrap());
                Some(script(cursor))
            });
            let message = protocol_message(fetch_from(&server, speaks).await);
            assert!(message.contains(expected), "{speaks:?}: {message}");
            assert!(server.requests() <= 8, "{speaks:?} {expected}: {} requests", server.requests());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_after_the_first_that_all_answer_404_end_the_fetch() {
    for speaks in EVERY_API {
        let server = exchange(speaks, |url| match page_number(url) {
            (1, _) => Some(Page { ids: 0..10, total: Some(100_000), next: Some("_page=2&page=2".into()) }),
            _ => None,
        });
        let error = fetch_from(&server, speaks).await;
        let JheError::InconsistentResult { expected: 100_000, received: 10, detail } = &error else { panic!("{speaks:?}: {error}") };
        assert!(detail.contains("answered 404"), "{speaks:?}: {error}");
        // the first reading and three rounds of re-reading: each reads the first page, at
        // most `concurrency` pages in flight when the 404 arrives, and a count (current
        // FHIR reads what was written since its snapshot first: twice that)
        assert!(server.requests() <= 1 + 4 * (2 * (DEFAULT_CONCURRENCY + 1) + 1), "{speaks:?}: {} requests", server.requests());
    }
}

/// A REST list (`patients`) scripted by `page(page number) -> (ids, count, next page)`.
fn rest_list(page: fn(u64) -> (std::ops::Range<i64>, Option<u64>, Option<u64>)) -> Scripted {
    serve(move |url| {
        let (number, _) = page_number(url);
        let (ids, count, next) = page(number);
        let results: Vec<Value> = ids.map(|id| json!({"id": id, "nameFamily": "F"})).collect();
        let next = next.map(|n| format!("http://127.0.0.1/api/v1/patients?page={n}&page_size=10"));
        (200, json!({"count": count, "next": next, "previous": null, "results": results}))
    })
}

async fn list_patients(server: &Scripted) -> JheError {
    let options = ClientOptions { url: Some(server.url.clone()), token: Some("t".into()), page_size: Some(10), retries: Some(0), ..Default::default() };
    let session = Session::new(ClientConfig::resolve(options, |_| None).unwrap()).unwrap();
    crate::source::admin::list_all(&session.http, &session.config, "patients", &[]).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lists_whose_next_links_never_end_end_with_an_error() {
    type Case = (&'static str, fn(u64) -> (std::ops::Range<i64>, Option<u64>, Option<u64>));
    let cases: [Case; 4] = [
        ("round in a circle", |n| (0..10, Some(1000), Some(n % 2 + 1))),
        ("already received", |n| (0..10, Some(1000), Some(n + 2))),
        ("past the 4 pages", |n| (n as i64 * 10..n as i64 * 10 + 10, Some(30), Some(n + 1))),
        ("total of 1000000000000 items", |n| (0..10, Some(1_000_000_000_000), Some(n + 1))),
    ];
    for (expected, page) in cases {
        let server = rest_list(page);
        let message = protocol_message(list_patients(&server).await);
        assert!(message.contains(expected), "{message}");
        assert!(server.requests() <= 5, "{expected}: {} requests", server.requests());
    }
}
