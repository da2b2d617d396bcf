//! Fault injection, the token endpoint and the request log, over HTTP.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{FakeConfig, Faults, Generation, RequestRecord};
use super::{Client, Resp};

async fn with_faults(faults: Faults) -> Client {
    Client::start(FakeConfig {
        patients: 3,
        days: 2,
        seed: 11,
        faults,
        ..FakeConfig::default()
    })
    .await
}

fn study_page(c: &Client, extra: &str) -> String {
    format!(
        "/FHIR/R5/Observation?patient._has:Group:member:_id={}&_count=5{extra}",
        c.fake.directory().main_study_id
    )
}

async fn token_request(c: &Client, form: &[(&str, &str)], basic: Option<&str>) -> Resp {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut r = c
        .http()
        .post(c.url("/o/token/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = basic {
        r = r.header("authorization", format!("Basic {key}"));
    }
    c.send(r).await
}

async fn get_as(c: &Client, path: &str, token: &str) -> u16 {
    c.send(c.http().get(c.url(path)).bearer_auth(token))
        .await
        .status
}

#[tokio::test]
async fn invalid_faults_are_refused() {
    for (faults, field) in [
        (
            Faults {
                error_rate: 1.5,
                ..Faults::default()
            },
            "error_rate",
        ),
        (
            Faults {
                error_rate: -0.1,
                ..Faults::default()
            },
            "error_rate",
        ),
        (
            Faults {
                drop_connection_rate: f64::NAN,
                ..Faults::default()
            },
            "drop_connection_rate",
        ),
        (
            Faults {
                error_status: 302,
                ..Faults::default()
            },
            "error_status",
        ),
        (
            Faults {
                token_ttl_s: Some(0.0),
                ..Faults::default()
            },
            "token_ttl_s",
        ),
    ] {
        let err = crate::FakeExchange::start(FakeConfig {
            faults,
            ..FakeConfig::default()
        })
        .await
        .err()
        .expect("refused");
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[tokio::test]
async fn error_rate_fails_about_that_share_reproducibly() {
    let faults = Faults {
        error_rate: 0.3,
        error_status: 502,
        ..Faults::default()
    };
    let c = with_faults(faults).await;
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let r = c.get("/api/v1/users/profile").await;
        if r.status == 502 {
            assert!(r.content_type.starts_with("text/html"));
            assert!(r.body.contains("502 Bad Gateway"));
        } else {
            assert_eq!(r.status, 200);
        }
        statuses.push(r.status);
    }
    let failed = statuses.iter().filter(|&&s| s == 502).count();
    assert!((35..=85).contains(&failed), "{failed} of 200 failed");
    let log = c.fake.requests();
    assert_eq!(log.len(), 200);
    assert_eq!(
        log.iter()
            .filter(|r| r.fault.as_deref() == Some("error"))
            .count(),
        failed
    );
    // The same seed fails the same requests; ground truth and discovery are untouched.
    let again = with_faults(faults).await;
    let mut replay = Vec::new();
    for _ in 0..200 {
        replay.push(again.get("/api/v1/users/profile").await.status);
    }
    assert_eq!(replay, statuses);
    for _ in 0..20 {
        assert_eq!(
            c.get_anonymous("/o/.well-known/openid-configuration")
                .await
                .status,
            200
        );
    }
    assert!(!c.fake.expected_observations(None, None, None).is_empty());
}

#[tokio::test]
async fn every_nth_request_is_rate_limited() {
    let c = with_faults(Faults {
        rate_limit_every: 3,
        retry_after_s: 2,
        ..Faults::default()
    })
    .await;
    for n in 1..=12 {
        let r = c.get(&study_page(&c, "")).await;
        if n % 3 == 0 {
            assert_eq!(r.status, 429, "request {n}");
            assert_eq!(r.headers["retry-after"], "2");
            assert!(r.json()["detail"].as_str().unwrap().contains("throttled"));
        } else {
            assert_eq!(r.status, 200, "request {n}");
        }
    }
    // Token and discovery requests are not counted.
    assert_eq!(
        c.get_anonymous("/o/.well-known/openid-configuration")
            .await
            .status,
        200
    );
    assert_eq!(c.get(&study_page(&c, "")).await.status, 200);
    let faults: Vec<Option<String>> = c.fake.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults
            .iter()
            .filter(|f| f.as_deref() == Some("rate_limit"))
            .count(),
        4
    );
}

#[tokio::test]
async fn latency_delays_api_responses() {
    let c = with_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(c.get("/api/v1/users/profile").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(
        token_request(&c, &[("grant_type", "password")], None)
            .await
            .status,
        400
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn dropped_connections_break_mid_response() {
    let c = with_faults(Faults {
        drop_connection_rate: 1.0,
        ..Faults::default()
    })
    .await;
    for path in [study_page(&c, ""), "/api/v1/users/profile".to_string()] {
        let sent = c
            .http()
            .get(c.url(&path))
            .bearer_auth(c.fake.token())
            .send()
            .await;
        let broken = match sent {
            Err(_) => true,
            Ok(r) => r.bytes().await.is_err(),
        };
        assert!(broken, "{path} answered cleanly");
    }
    let log = c.fake.requests();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|r| r.fault.as_deref() == Some("drop_connection") && r.status == 200)
    );
    // Not the token endpoint.
    assert_eq!(
        token_request(&c, &[("grant_type", "password")], None)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn tokens_expire_and_are_minted_and_refreshed() {
    let c = with_faults(Faults {
        token_ttl_s: Some(0.4),
        ..Faults::default()
    })
    .await;
    let path = "/api/v1/users/profile";
    let fhir = study_page(&c, "");
    assert_eq!(get_as(&c, path, c.fake.token()).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = c.get(&fhir).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    assert_eq!(get_as(&c, path, c.fake.token()).await, 401);
    let last = c.fake.requests().pop().unwrap();
    assert_eq!(last.fault.as_deref(), Some("token_expired"));

    client_credentials_are_granted(&c, path).await;
    token_errors_are_oauth_errors(&c).await;
    let (new_access, new_refresh) = refresh_rotates_the_pair(&c, path).await;
    // No credential ever reaches the log.
    for record in c.fake.requests() {
        let text = format!("{record:?}");
        for secret in [
            c.fake.client_secret(),
            c.fake.token(),
            &new_access,
            &new_refresh,
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

/// `client_credentials`, as HTTP Basic with the key and as form fields: tokens that expire.
async fn client_credentials_are_granted(c: &Client, path: &str) {
    let r = token_request(
        c,
        &[("grant_type", "client_credentials")],
        Some(c.fake.client_key()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let minted = r.json();
    assert_eq!(minted["token_type"], "Bearer");
    assert_eq!(minted["expires_in"], 1);
    assert!(minted["scope"].is_string());
    assert!(minted.get("refresh_token").is_none());
    let access = minted["access_token"].as_str().unwrap().to_string();
    assert_eq!(get_as(c, path, &access).await, 200);
    let r = token_request(
        c,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", c.fake.client_id()),
            ("client_secret", c.fake.client_secret()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let other = r.json()["access_token"].as_str().unwrap().to_string();
    assert_ne!(other, access);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get_as(c, path, &other).await, 401);
}

/// OAuth errors for a wrong secret, no client, the password grant, an unknown refresh token.
async fn token_errors_are_oauth_errors(c: &Client) {
    let bad = |status: u16, error: &str| (status, serde_json::json!({ "error": error }));
    let r = token_request(
        c,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", c.fake.client_id()),
            ("client_secret", "wrong"),
        ],
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), bad(401, "invalid_client"));
    let r = token_request(c, &[("grant_type", "client_credentials")], None).await;
    assert_eq!((r.status, r.json()), bad(401, "invalid_client"));
    let r = token_request(
        c,
        &[
            ("grant_type", "password"),
            ("username", "u"),
            ("password", "p"),
        ],
        Some(c.fake.client_key()),
    )
    .await;
    assert_eq!((r.status, r.json()), bad(400, "unauthorized_client"));
    let r = token_request(
        c,
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), bad(400, "invalid_grant"));
}

/// `refresh_token`: a new pair; the old access token is revoked, the old refresh token
/// spent. Returns the newest pair.
async fn refresh_rotates_the_pair(c: &Client, path: &str) -> (String, String) {
    let bad = |status: u16, error: &str| (status, serde_json::json!({ "error": error }));
    let r = token_request(
        c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.fake.refresh_token()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let pair = r.json();
    let new_access = pair["access_token"].as_str().unwrap().to_string();
    let new_refresh = pair["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(get_as(c, path, &new_access).await, 200);
    let r = token_request(
        c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.fake.refresh_token()),
        ],
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), bad(400, "invalid_grant"));
    let r = token_request(
        c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
            ("client_id", c.fake.client_id()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(get_as(c, path, &new_access).await, 401);
    (new_access, new_refresh)
}

#[tokio::test]
async fn token_endpoint_without_faults_and_in_legacy() {
    let c = Client::start(FakeConfig {
        patients: 1,
        days: 1,
        generation: Generation::Legacy,
        ..FakeConfig::default()
    })
    .await;
    let r = token_request(
        &c,
        &[("grant_type", "client_credentials")],
        Some(c.fake.client_key()),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (400, serde_json::json!({"error": "unauthorized_client"}))
    );
    let r = token_request(
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.fake.refresh_token()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let pair = r.json();
    assert_eq!(pair["expires_in"], 1_209_600);
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(get_as(&c, "/api/v1/users/profile", access).await, 200);
    assert_eq!(
        get_as(&c, "/api/v1/users/profile", c.fake.token()).await,
        401
    );
    // GET is not a token request.
    assert_eq!(c.get_anonymous("/o/token/").await.status, 405);
}

#[tokio::test]
async fn insert_during_fetch_shifts_a_running_fhir_fetch() {
    let c = with_faults(Faults {
        insert_during_fetch: 7,
        ..Faults::default()
    })
    .await;
    let study = c.fake.directory().main_study_id;
    let before = c.fake.expected_observations(Some(study), None, None);
    // A count-only search does not trigger it.
    let count = c.ok(&study_page(&c, "&_summary=count")).await;
    assert_eq!(count["total"].as_u64().unwrap() as usize, before.len());
    let page1 = c.ok(&study_page(&c, "&_sort=-_lastUpdated")).await;
    assert_eq!(page1["total"].as_u64().unwrap() as usize, before.len());
    let after = c.fake.expected_observations(Some(study), None, None);
    assert_eq!(after.len(), before.len() + 7);
    // The new rows are the newest, with new ids; page 2 now repeats page 1's rows.
    assert!(after[..7].iter().all(|e| e.id > before[0].id));
    assert!(after[0].last_updated > before[0].last_updated);
    let page2 = c.ok(&study_page(&c, "&_sort=-_lastUpdated&_page=2")).await;
    assert_eq!(page2["total"].as_u64().unwrap() as usize, before.len() + 7);
    let ids1 = super::ids(&page1);
    assert!(super::ids(&page2).iter().any(|id| ids1.contains(id)));
    // Once only.
    c.ok(&study_page(&c, "")).await;
    assert_eq!(
        c.fake.expected_observations(Some(study), None, None).len(),
        after.len()
    );
    let log = c.fake.requests();
    let marked: Vec<&RequestRecord> = log
        .iter()
        .filter(|r| r.fault.as_deref() == Some("insert_during_fetch"))
        .collect();
    assert_eq!(marked.len(), 1);
    assert!(marked[0].query.contains("_sort=-_lastUpdated") && !marked[0].query.contains("_page"));
}

#[tokio::test]
async fn insert_during_fetch_shifts_a_running_rest_fetch() {
    let c = Client::start(FakeConfig {
        patients: 3,
        days: 2,
        generation: Generation::Legacy,
        faults: Faults {
            insert_during_fetch: 4,
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let study = c.fake.directory().main_study_id;
    let n = c.fake.expected_observations(Some(study), None, None).len();
    // Other REST lists do not trigger it.
    c.ok("/api/v1/patients").await;
    assert_eq!(
        c.fake.expected_observations(Some(study), None, None).len(),
        n
    );
    let page1 = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=10"
        ))
        .await;
    assert_eq!(page1["count"].as_u64().unwrap() as usize, n);
    let page2: Value = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=10&page=2"
        ))
        .await;
    assert_eq!(page2["count"].as_u64().unwrap() as usize, n + 4);
    // Four rows went in at the top: page 2 starts with page 1's seventh row again.
    assert_eq!(page2["results"][0]["id"], page1["results"][6]["id"]);
}

#[tokio::test]
async fn the_request_log_records_and_clears() {
    let c = with_faults(Faults::default()).await;
    c.get("/api/v1/users/profile").await;
    c.get_anonymous("/api/v1/studies?organization_id=20001&access_token=leak")
        .await;
    c.get("/nowhere").await;
    let log = c.fake.requests();
    let seen: Vec<(String, String, String, u16, Option<String>)> =
        log.iter().map(|r| (r.method.clone(), r.path.clone(), r.query.clone(), r.status, r.fault.clone())).collect();
    let get = |path: &str, query: &str, status| ("GET".to_string(), path.to_string(), query.to_string(), status, None);
    assert_eq!(
        seen,
        vec![
            get("/api/v1/users/profile", "", 200),
            get("/api/v1/studies", "organization_id=20001&access_token=REDACTED", 401),
            get("/nowhere", "", 404),
        ]
    );
    // One after the other: each answered before the next arrived.
    let events: Vec<(u64, u64)> = log.iter().map(|r| (r.arrived, r.answered)).collect();
    assert_eq!(events, vec![(1, 2), (3, 4), (5, 6)]);
    assert!(!log[0].overlaps(&log[1]));
    c.fake.clear_requests();
    assert!(c.fake.requests().is_empty());
}

/// `n` requests for `path` sent at once.
async fn at_once(c: &Client, path: &str, n: usize) -> Vec<u16> {
    let sends = (0..n).map(|_| c.send(c.http().get(c.url(path)).bearer_auth(c.fake.token())));
    futures::future::join_all(sends).await.into_iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn requests_in_flight_are_counted_and_limited() {
    let c = with_faults(Faults { latency_ms: 300, rate_limit_above: 3, retry_after_s: 0, ..Faults::default() }).await;
    assert_eq!(c.fake.max_in_flight(), 0);
    let page = study_page(&c, "");
    let statuses = at_once(&c, &page, 5).await;
    assert_eq!(c.fake.max_in_flight(), 5, "all five were in flight at once (each sleeps the latency)");
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 2, "{statuses:?}");
    let log = c.fake.requests();
    assert!(log.iter().filter(|r| r.status == 429).all(|r| r.fault.as_deref() == Some("rate_limit")));
    assert!(log[0].overlaps(&log[4]));
    c.fake.reset_max_in_flight();
    assert_eq!(c.fake.max_in_flight(), 0);
    assert_eq!(at_once(&c, &page, 1).await, vec![200]);
    assert_eq!(c.fake.max_in_flight(), 1);
}
