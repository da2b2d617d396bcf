//! Behaviour: auth, visibility, paging, filters, sorting, links and determinism.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::time::{MICROS_PER_DAY, parse_date, parse_datetime};
use super::super::{FakeConfig, FakeExchange};
use super::{Client, ids, link, payload_text, resources};

fn obs_path(query: &str) -> String {
    format!("/FHIR/R5/Observation?{query}")
}

/// Every page of a FHIR search, following `next` links.
async fn all_pages(c: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut bundle = c.ok(first).await;
    let total = bundle["total"].as_u64().unwrap() as usize;
    let mut out: Vec<Value> = resources(&bundle).into_iter().cloned().collect();
    while let Some(next) = link(&bundle, "next") {
        let path = next
            .strip_prefix(c.fake.url())
            .expect("absolute link to the fake")
            .to_string();
        bundle = c.ok(&path).await;
        out.extend(resources(&bundle).into_iter().cloned());
    }
    (out, total)
}

#[tokio::test]
async fn credentials_are_required() {
    let c = Client::default().await;
    for path in [
        "/api/v1/observations",
        "/api/v1/users/profile",
        "/api/v1/studies/30001",
    ] {
        let r = c.get_anonymous(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.json(),
            serde_json::json!({"detail": "Authentication credentials were not provided."})
        );
        assert!(r.headers.contains_key("www-authenticate"));
        let r = c
            .get_with(path, &[("authorization", "Bearer not-the-token")])
            .await;
        assert_eq!(r.status, 401, "{path}");
        let auth = format!("Token {}", c.fake.token());
        assert_eq!(
            c.get_with(path, &[("authorization", auth.as_str())])
                .await
                .status,
            401
        );
    }
    for path in [
        "/FHIR/R5/Observation",
        "/FHIR/R5/Patient",
        "/FHIR/R5/Observation/60001",
    ] {
        let r = c.get_with(path, &[("authorization", "Bearer nope")]).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
    }
    // Discovery documents need no token.
    for path in [
        "/FHIR/R5/metadata",
        "/FHIR/R5/.well-known/smart-configuration",
        "/o/.well-known/openid-configuration",
    ] {
        assert_eq!(c.get_anonymous(path).await.status, 200, "{path}");
    }
    let auth = format!("bearer {}", c.fake.token());
    assert_eq!(
        c.get_with("/api/v1/users/profile", &[("authorization", auth.as_str())])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn django_errors() {
    let c = Client::default().await;
    let r = c.get("/api/v1/observations/").await;
    assert_eq!(r.status, 404);
    assert!(r.content_type.starts_with("text/html"));
    assert_eq!(c.get_anonymous("/api/v1/nothing").await.status, 404);
    let r = c.get("/api/v1/observations?study_id=abc").await;
    assert_eq!(r.status, 500);
    assert!(
        r.content_type.starts_with("text/html") && r.body.contains("invalid literal for int()")
    );
    // Unknown params are ignored; camelCase keys work.
    let a = c
        .ok("/api/v1/observations?study_id=30002&page_size=5")
        .await;
    let b = c
        .ok("/api/v1/observations?studyId=30002&pageSize=5&limit=1&offset=9")
        .await;
    assert_eq!(a["count"], b["count"]);
    assert_eq!(a["results"], b["results"]);
    let r = c.get("/api/v1/patients/99999").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());
    let r = c.get("/FHIR/R5/Device").await;
    assert_eq!((r.status, r.json()["total"].as_u64()), (200, Some(0)));
    let r = c.get("/FHIR/R5/Nonsense").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    let r = c.get(&obs_path("patient._has:Group:member:_id=abc")).await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn hidden_study_and_patients_stay_hidden() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let hidden = d.hidden_study_id;
    assert_eq!(
        c.get(&format!("/api/v1/studies/{hidden}")).await.status,
        403
    );
    assert_eq!(
        c.get(&format!("/api/v1/studies/{hidden}/patients"))
            .await
            .status,
        403
    );
    let r = c
        .ok(&format!("/api/v1/observations?study_id={hidden}"))
        .await;
    assert_eq!(r["count"], 0);
    let r = c
        .get(&obs_path(&format!(
            "patient._has:Group:member:_id={hidden}"
        )))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["issue"][0]["diagnostics"],
        format!("Current user is not authorized to access Group/{hidden}.")
    );
    assert_eq!(
        c.get(&format!(
            "/FHIR/R5/Patient?patient._has:Group:member:_id={hidden}"
        ))
        .await
        .status,
        403
    );
    let studies = c.ok("/api/v1/studies").await;
    let listed: BTreeSet<i64> = studies["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, d.visible_study_ids.iter().copied().collect());

    for &p in &d.hidden_patient_ids {
        assert_eq!(c.get(&format!("/api/v1/patients/{p}")).await.status, 404);
        assert_eq!(c.get(&obs_path(&format!("patient={p}"))).await.status, 403);
        assert_eq!(
            c.ok(&format!("/api/v1/observations?patient_id={p}")).await["count"],
            0
        );
    }
    // Nothing of a hidden patient is reachable, even unfiltered.
    let w = &c.fake.state.world;
    let hidden_obs = c
        .fake
        .state
        .store
        .read()
        .iter()
        .position(|o| !w.patients[o.patient as usize].visible)
        .unwrap();
    let id = 60001 + hidden_obs as i64;
    assert_eq!(
        c.get(&format!("/FHIR/R5/Observation/{id}")).await.status,
        404
    );
    assert_eq!(
        c.get(&format!("/api/v1/observations/{id}")).await.status,
        404
    );
    let all = c.ok("/FHIR/R5/Observation?_summary=count").await;
    assert_eq!(
        all["total"].as_u64().unwrap() as usize,
        c.fake.expected_observations(None, None, None).len()
    );
    let everything = c.fake.state.store.read().len();
    assert!(everything > c.fake.expected_observations(None, None, None).len());

    // A patient outside the requested study is 403.
    let bp = 30002;
    let outsider = d.patients_by_study[&d.main_study_id]
        .iter()
        .find(|p| !d.patients_by_study[&bp].contains(p))
        .unwrap();
    let r = c
        .get(&obs_path(&format!(
            "patient._has:Group:member:_id={bp}&patient={outsider}"
        )))
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn fhir_paging() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let patient = d.patients_by_study[&d.main_study_id][1];
    let expected = c
        .fake
        .expected_observations(Some(d.main_study_id), Some(patient), None);
    let q = format!(
        "patient._has:Group:member:_id={}&patient={patient}",
        d.main_study_id
    );

    // Following next links yields every row once, newest first, matching the ground truth.
    let (rows, total) = all_pages(&c, &obs_path(&format!("{q}&_count=1000"))).await;
    assert_eq!(total, expected.len());
    let got: Vec<i64> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let want: Vec<i64> = expected.iter().map(|e| e.id).collect();
    assert_eq!(got, want);
    for (r, e) in rows.iter().zip(&expected).step_by(97) {
        assert_eq!(payload_text(r), e.omh_json);
        assert_eq!(r["meta"]["lastUpdated"], e.last_updated.as_str());
    }

    // Page 2 links back to page 1 without `_page`.
    let p2 = c.ok(&obs_path(&format!("{q}&_count=7&_page=2"))).await;
    assert_eq!(ids(&p2), want[7..14]);
    let prev = link(&p2, "previous").unwrap();
    assert!(
        !prev.contains("_page") && prev.contains("_count=7"),
        "{prev}"
    );
    assert!(link(&p2, "next").unwrap().contains("_page=3"));
    let last_page = expected.len().div_ceil(7);
    let last = c
        .ok(&obs_path(&format!("{q}&_count=7&_page={last_page}")))
        .await;
    assert_eq!(link(&last, "next"), None);

    for bad in [
        format!("_page={}", last_page + 1),
        "_page=0".into(),
        "_page=x".into(),
    ] {
        let r = c.get(&obs_path(&format!("{q}&_count=7&{bad}"))).await;
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(r.json()["issue"][0]["diagnostics"], "Invalid page.");
    }
    // _count: capped at 1000; zero, negative or junk mean 20.
    let study = format!("patient._has:Group:member:_id={}", d.main_study_id);
    assert_eq!(
        ids(&c.ok(&obs_path(&format!("{study}&_count=5000"))).await).len(),
        1000
    );
    for junk in ["0", "-1", "abc"] {
        assert_eq!(
            ids(&c.ok(&obs_path(&format!("{study}&_count={junk}"))).await).len(),
            20,
            "{junk}"
        );
    }
    // An empty result still has page 1.
    let empty = c
        .ok(&obs_path(&format!("{study}&code=omh:heart-rate:2.0")))
        .await;
    assert_eq!((empty["total"].as_u64(), ids(&empty).len()), (Some(0), 0));
    assert_eq!(
        c.get(&obs_path(&format!("{study}&code=x&_page=2")))
            .await
            .status,
        404
    );

    // _summary=count: total only.
    let count = c.ok(&obs_path(&format!("{q}&_summary=count"))).await;
    assert_eq!(count["total"].as_u64().unwrap() as usize, expected.len());
    assert_eq!(count["entry"], serde_json::json!([]));
}

#[tokio::test]
async fn rest_paging() {
    let c = Client::default().await;
    let study = c.fake.directory().main_study_id;
    let expected = c.fake.expected_observations(Some(study), None, None);
    let first = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=5000"
        ))
        .await;
    assert_eq!(first["count"].as_u64().unwrap() as usize, expected.len());
    let results = first["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(
        first["next"],
        c.url(&format!(
            "/api/v1/observations?page=2&page_size=5000&study_id={study}"
        ))
    );
    for (r, e) in results.iter().zip(&expected).step_by(61) {
        assert_eq!(r["id"].as_i64().unwrap(), e.id);
        assert_eq!(
            r["omhData"],
            serde_json::from_str::<Value>(&e.omh_json).unwrap()
        );
        assert_eq!(r["lastUpdated"], e.last_updated.as_str());
    }
    let default = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=0"
        ))
        .await;
    assert_eq!(default["results"].as_array().unwrap().len(), 20);
    let pages = expected.len().div_ceil(1000);
    let last = c
        .ok(&format!(
            "/api/v1/observations?study_id={study}&page_size=1000&page={pages}"
        ))
        .await;
    assert_eq!(last["next"], Value::Null);
    let r = c
        .get(&format!(
            "/api/v1/observations?study_id={study}&page_size=1000&page={}",
            pages + 1
        ))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, serde_json::json!({"detail": "Invalid page."}))
    );
    // A single observation, by filter and by id.
    let one = c
        .ok(&format!(
            "/api/v1/observations?observation_id={}",
            expected[3].id
        ))
        .await;
    assert_eq!(one["count"], 1);
    let by_id = c
        .ok(&format!("/api/v1/observations/{}", expected[3].id))
        .await;
    assert_eq!(by_id, one["results"][0]);
}

#[tokio::test]
async fn fhir_filters() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let study = d.main_study_id;
    let base = format!("patient._has:Group:member:_id={study}");
    let total = |b: &Value| b["total"].as_u64().unwrap() as usize;

    // code: exact system|code; a bare code matches nothing; commas OR.
    let hr = "https://w3id.org/openmhealth|omh:heart-rate:2.0";
    let bp = "https://w3id.org/openmhealth|omh:blood-pressure:4.0";
    let n_hr = c
        .fake
        .expected_observations(Some(study), None, Some("omh:heart-rate:2.0"))
        .len();
    let n_bp = c
        .fake
        .expected_observations(Some(study), None, Some(bp))
        .len();
    assert!(n_hr > 0 && n_bp > 0);
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!("{base}&code={hr}&_summary=count")))
                .await
        ),
        n_hr
    );
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!("{base}&code=omh:heart-rate:2.0")))
                .await
        ),
        0
    );
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!(
                "{base}&code=https://w3id.org/ieee1752|omh:heart-rate:2.0"
            )))
            .await
        ),
        0
    );
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!("{base}&code={hr},{bp}&_summary=count")))
                .await
        ),
        n_hr + n_bp
    );
    let food = c
        .ok(&obs_path(&format!(
            "{base}&code=https://w3id.org/ieee1752|ieee:food-entry:0.1&_count=1"
        )))
        .await;
    assert!(total(&food) > 0);

    // patient.identifier: system|value matches the value; a bare value is ignored.
    let (patient, ident) = d
        .patient_identifiers
        .iter()
        .find(|(_, v)| !v.is_empty())
        .map(|(p, v)| (*p, v[0].clone()))
        .unwrap();
    let n_patient = c
        .fake
        .expected_observations(None, Some(patient), None)
        .len();
    let by_ident = c
        .ok(&obs_path(&format!(
            "patient.identifier=anything|{}&_summary=count",
            ident.1
        )))
        .await;
    assert_eq!(total(&by_ident), n_patient);
    let by_ident = c
        .ok(&obs_path(&format!(
            "identifier={}|{}&_summary=count",
            ident.0, ident.1
        )))
        .await;
    assert_eq!(total(&by_ident), n_patient);
    let everything = total(&c.ok(&obs_path("_summary=count")).await);
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!(
                "patient.identifier={}&_summary=count",
                ident.1
            )))
            .await
        ),
        everything
    );

    // date: prefixes on the effective start (UTC day for a date, instant for a date-time).
    let patient = d.patients_by_study[&study][2];
    let (rows, _) = all_pages(&c, &obs_path(&format!("patient={patient}&_count=1000"))).await;
    let start = |r: &Value| -> i64 {
        let t = r["effectiveDateTime"]
            .as_str()
            .or(r["effectivePeriod"]["start"].as_str())
            .unwrap();
        parse_datetime(t).unwrap()
    };
    let count_where = |f: &dyn Fn(i64) -> bool| rows.iter().filter(|r| f(start(r))).count();
    let day = parse_date("2025-12-25").unwrap();
    type Case = (String, Box<dyn Fn(i64) -> bool>);
    let cases: Vec<Case> = vec![
        (
            "date=2025-12-25".into(),
            Box::new(move |t| t.div_euclid(MICROS_PER_DAY) == day),
        ),
        (
            "date=ge2025-12-25".into(),
            Box::new(move |t| t.div_euclid(MICROS_PER_DAY) >= day),
        ),
        (
            "date=gt2025-12-25".into(),
            Box::new(move |t| t.div_euclid(MICROS_PER_DAY) > day),
        ),
        (
            "date=lt2025-12-25".into(),
            Box::new(move |t| t.div_euclid(MICROS_PER_DAY) < day),
        ),
        (
            "date=ge2025-12-20&date=le2025-12-22".into(),
            Box::new(move |t| (day - 5..=day - 3).contains(&t.div_euclid(MICROS_PER_DAY))),
        ),
        (
            // `+` must be sent as %2B; the offset is respected.
            "date=ge2025-12-25T10:00:00%2B05:30&date=lt2025-12-26T00:00:00Z".into(),
            Box::new(|t| {
                t >= parse_datetime("2025-12-25T04:30:00Z").unwrap()
                    && t < parse_datetime("2025-12-26T00:00:00Z").unwrap()
            }),
        ),
    ];
    for (query, f) in &cases {
        let got = total(
            &c.ok(&obs_path(&format!(
                "patient={patient}&{query}&_summary=count"
            )))
            .await,
        );
        let want = count_where(f.as_ref());
        assert_eq!(got, want, "{query}");
        assert!(
            want > 0 || query.contains("lt2025"),
            "{query} selects nothing"
        );
    }
    let r = c.get(&obs_path("date=notadate")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["issue"][0]["diagnostics"],
        "Invalid date value: 'notadate'."
    );
    assert_eq!(
        c.get(&obs_path("_lastUpdated=ge2025-13-01")).await.status,
        400
    );

    // _lastUpdated: on meta.lastUpdated.
    let lu = |r: &Value| parse_datetime(r["meta"]["lastUpdated"].as_str().unwrap()).unwrap();
    let mid = lu(&rows[rows.len() / 2]);
    let mid_text = rows[rows.len() / 2]["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .to_string();
    let got = total(
        &c.ok(&obs_path(&format!(
            "patient={patient}&_lastUpdated=gt{mid_text}&_summary=count"
        )))
        .await,
    );
    assert_eq!(got, rows.iter().filter(|r| lu(r) > mid).count());
    let got = total(
        &c.ok(&obs_path(&format!(
            "patient={patient}&_lastUpdated=le2025-12-24&_summary=count"
        )))
        .await,
    );
    assert_eq!(
        got,
        rows.iter()
            .filter(|r| lu(r).div_euclid(MICROS_PER_DAY) < day)
            .count()
    );

    // _sort: date ascending/descending with the id as tiebreaker; -_lastUpdated = default.
    let (by_date, _) = all_pages(
        &c,
        &obs_path(&format!("patient={patient}&_sort=date&_count=1000")),
    )
    .await;
    let keys: Vec<(i64, i64)> = by_date
        .iter()
        .map(|r| (start(r), r["id"].as_str().unwrap().parse().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let (by_date_desc, _) = all_pages(
        &c,
        &obs_path(&format!("patient={patient}&_sort=-date&_count=1000")),
    )
    .await;
    assert!(
        by_date_desc
            .windows(2)
            .all(|w| start(&w[0]) >= start(&w[1]))
    );
    let (by_lu, _) = all_pages(
        &c,
        &obs_path(&format!(
            "patient={patient}&_sort=-_lastUpdated&_count=1000"
        )),
    )
    .await;
    assert_eq!(by_lu, rows);
    let (by_lu_asc, _) = all_pages(
        &c,
        &obs_path(&format!("patient={patient}&_sort=_lastUpdated&_count=1000")),
    )
    .await;
    assert!(by_lu_asc.windows(2).all(|w| lu(&w[0]) < lu(&w[1])));

    // _id and status.
    let id = rows[5]["id"].as_str().unwrap();
    assert_eq!(
        ids(&c.ok(&obs_path(&format!("_id={id}"))).await),
        vec![id.parse::<i64>().unwrap()]
    );
    assert_eq!(total(&c.ok(&obs_path("_id=abc")).await), 0);
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!(
                "patient={patient}&status=final&_summary=count"
            )))
            .await
        ),
        rows.len()
    );
    assert_eq!(
        total(
            &c.ok(&obs_path(&format!("patient={patient}&status=preliminary")))
                .await
        ),
        0
    );

    // Organization filter: the lab's patients only.
    let lab = 20002;
    let lab_patients: BTreeSet<i64> = d.patients_by_study[&30002].iter().copied().collect();
    let (org_rows, _) = all_pages(
        &c,
        &obs_path(&format!("patient.organization={lab}&_count=1000&code={bp}")),
    )
    .await;
    assert!(!org_rows.is_empty());
    assert!(org_rows.iter().all(|r| {
        let p: i64 = r["subject"]["reference"].as_str().unwrap()["Patient/".len()..]
            .parse()
            .unwrap();
        lab_patients.contains(&p)
    }));
    assert_eq!(
        c.get(&obs_path(&format!(
            "patient.organization={}",
            d.hidden_organization_id
        )))
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn study_rows_need_enrollment_and_a_requested_code() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let bp_study = 30002;
    let codes: BTreeSet<&str> = d.codes_by_study[&bp_study]
        .iter()
        .map(String::as_str)
        .collect();
    let members: BTreeSet<i64> = d.patients_by_study[&bp_study].iter().copied().collect();
    let expected = c.fake.expected_observations(Some(bp_study), None, None);
    assert!(!expected.is_empty());
    assert!(
        expected
            .iter()
            .all(|e| codes.contains(e.code.as_str()) && members.contains(&e.patient_id))
    );
    let rest = c
        .ok(&format!(
            "/api/v1/observations?study_id={bp_study}&page_size=1"
        ))
        .await;
    assert_eq!(rest["count"].as_u64().unwrap() as usize, expected.len());
    let fhir = c
        .ok(&obs_path(&format!(
            "patient._has:Group:member:_id={bp_study}&_summary=count"
        )))
        .await;
    assert_eq!(fhir["total"].as_u64().unwrap() as usize, expected.len());
    // Main study: every code occurs.
    let main = c
        .fake
        .expected_observations(Some(d.main_study_id), None, None);
    let seen: BTreeSet<&str> = main.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(seen.len(), 16, "{seen:?}");
    assert!((25_000..45_000).contains(&main.len()), "{}", main.len());
}

#[tokio::test]
async fn post_search_reads_and_links() {
    let c = Client::default().await;
    let study = c.fake.directory().main_study_id;
    let q = format!(
        "patient._has:Group:member:_id={study}&_count=5&code=https://w3id.org/openmhealth|omh:step-count:3.0"
    );
    let get = c.ok(&obs_path(&q)).await;
    let post = c
        .post_form(
            "/FHIR/R5/Observation/_search",
            &q.replace('|', "%7C").replace(':', "%3A"),
        )
        .await;
    assert_eq!(post.status, 200);
    let post = post.json();
    assert_eq!(resources(&get), resources(&post));
    assert_eq!(link(&get, "next"), link(&post, "next"));

    // A read returns the same resource as the search.
    let first = resources(&get)[0].clone();
    let read = c
        .ok(&format!(
            "/FHIR/R5/Observation/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read, first);
    let patient = c.ok("/FHIR/R5/Patient/40001").await;
    assert_eq!(patient["resourceType"], "Patient");

    // Links follow the host the client used, and a proxy's forwarded host and scheme.
    let r = c
        .get_with(
            &obs_path(&q),
            &[
                ("authorization", &format!("Bearer {}", c.fake.token())),
                ("host", "jhe.example.org"),
            ],
        )
        .await;
    assert!(
        link(&r.json(), "next")
            .unwrap()
            .starts_with("http://jhe.example.org/FHIR/R5/Observation?")
    );
    let r = c
        .get_with(
            &obs_path(&q),
            &[
                ("authorization", &format!("Bearer {}", c.fake.token())),
                ("x-forwarded-host", "proxy.example.org"),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
    let bundle = r.json();
    assert!(
        link(&bundle, "self")
            .unwrap()
            .starts_with("https://proxy.example.org/FHIR/R5/Observation?")
    );
    assert!(
        link(&bundle, "next")
            .unwrap()
            .starts_with("https://proxy.example.org/FHIR/R5/Observation?")
    );
}

#[tokio::test]
async fn rest_entities() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let orgs = c.ok("/api/v1/users/organizations").await;
    let mine: Vec<i64> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(mine, d.member_organization_ids);
    let lab = c.ok("/api/v1/organizations?part_of=20001").await;
    assert_eq!(lab["count"], 1);
    assert_eq!(c.ok("/api/v1/organizations/20002").await["partOf"], 20001);
    let patients = c.ok("/api/v1/patients?page_size=1000").await;
    let listed: Vec<i64> = patients["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, d.visible_patient_ids);
    let in_bp = c.ok("/api/v1/studies/30002/patients?page_size=1000").await;
    assert_eq!(
        in_bp["count"].as_u64().unwrap() as usize,
        d.patients_by_study[&30002].len()
    );
    let filtered = c.ok("/api/v1/patients?study_id=30002&page_size=1000").await;
    assert_eq!(filtered["count"], in_bp["count"]);
    let (patient, ident) = d
        .patient_identifiers
        .iter()
        .find(|(_, v)| !v.is_empty())
        .map(|(p, v)| (*p, v[0].1.clone()))
        .unwrap();
    let by_ident = c
        .ok(&format!(
            "/api/v1/patients?patient_identifier_value={ident}"
        ))
        .await;
    assert_eq!(by_ident["results"][0]["id"], patient);
    let consents = c.ok(&format!("/api/v1/patients/{patient}/consents")).await;
    assert_eq!(consents["patient"]["id"], patient);
    assert!(
        !consents["consolidatedConsentedScopes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn same_seed_same_data() {
    let config = FakeConfig {
        patients: 4,
        days: 3,
        seed: 7,
        ..FakeConfig::default()
    };
    let a = FakeExchange::start(config).await.unwrap();
    let b = FakeExchange::start(config).await.unwrap();
    let other = FakeExchange::start(FakeConfig { seed: 8, ..config })
        .await
        .unwrap();
    assert_eq!(a.token(), b.token());
    assert_ne!(a.token(), other.token());
    assert_eq!(a.directory(), b.directory());
    let ea = a.expected_observations(None, None, None);
    assert!(!ea.is_empty());
    assert_eq!(ea, b.expected_observations(None, None, None));
    assert_ne!(ea, other.expected_observations(None, None, None));
    assert_ne!(a.url(), b.url());
}

#[tokio::test]
async fn appended_observations_are_served_newest() {
    let c = Client::start(FakeConfig {
        patients: 3,
        days: 2,
        seed: 1,
        ..FakeConfig::default()
    })
    .await;
    let study = c.fake.directory().main_study_id;
    let path = obs_path(&format!("patient._has:Group:member:_id={study}&_count=3"));
    let before = c.ok(&path).await;
    let store = &c.fake.state.store;
    let template = store.read()[store.read().len() - 1];
    let visible_template = if c.fake.state.world.patients[template.patient as usize].visible {
        template
    } else {
        *store
            .read()
            .iter()
            .rev()
            .find(|o| c.fake.state.world.patients[o.patient as usize].visible)
            .unwrap()
    };
    let range = store.append(vec![visible_template]);
    let after = c.ok(&path).await;
    assert_eq!(
        after["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() + 1
    );
    assert_eq!(ids(&after)[0], range.start);
}

#[tokio::test]
async fn stop_is_idempotent() {
    let mut fake = FakeExchange::start(FakeConfig {
        patients: 1,
        days: 1,
        seed: 0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    let address = fake.url().trim_start_matches("http://").to_string();
    fake.stop();
    fake.stop();
    // The listener closes soon after.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "still accepting connections after stop()");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FakeExchange>();
}

#[tokio::test]
async fn render_cache_serves_the_same_resources() {
    let config = FakeConfig {
        patients: 3,
        days: 2,
        seed: 5,
        damaged_every: 7,
        unknown_codes: true,
        duplicate_uuid_every: 5,
        ..FakeConfig::default()
    };
    let plain = Client::start(config).await;
    let cached = Client::start(FakeConfig { render_cache: true, ..config }).await;
    let study = plain.fake.directory().main_study_id;
    let path = obs_path(&format!("patient._has:Group:member:_id={study}&_count=40&_page=2"));
    let expected = plain.ok(&path).await["entry"].clone();
    assert_eq!(expected.as_array().unwrap().len(), 40);
    // Rendered, then served from memory.
    assert_eq!(cached.ok(&path).await["entry"], expected);
    assert_eq!(cached.ok(&path).await["entry"], expected);
    // An observation stored later is rendered too (the cache grows with the store).
    for c in [&plain, &cached] {
        let store = &c.fake.state.store;
        let last = store.read()[store.read().len() - 1];
        store.append(vec![last]);
    }
    let newest = obs_path("_count=1");
    let expected = plain.ok(&newest).await["entry"].clone();
    assert_eq!(cached.ok(&newest).await["entry"], expected);
}
