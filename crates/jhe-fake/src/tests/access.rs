//! Who may see what: credentials, Django's error pages, and the hidden study, patients and
//! organization.

use std::collections::BTreeSet;

use crate::Directory;

use super::{Client, obs_path};

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

    hidden_patients_are_unreachable(&c, &d).await;

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

/// Hidden patients' records and observations: 404 or 403 by id, nothing in any list.
async fn hidden_patients_are_unreachable(c: &Client, d: &Directory) {
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
}
