//! Paging and links: FHIR `_page`/`_count` and `next`/`previous`, REST `page`/`page_size`,
//! `POST _search`, reads, and links that follow the host the client used.

use serde_json::Value;

use super::{Client, all_pages, ids, link, obs_path, payload_text, resources};

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
