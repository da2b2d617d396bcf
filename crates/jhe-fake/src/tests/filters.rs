//! FHIR search filters: `code`, identifiers, `date` and `_lastUpdated` with prefixes,
//! `_sort`, `_id`, `status`, organizations, and which rows a study search returns.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::Directory;
use crate::generate::time::{MICROS_PER_DAY, parse_date, parse_datetime};

use super::{Client, all_pages, ids, obs_path};

const BP: &str = "https://w3id.org/openmhealth|omh:blood-pressure:4.0";

fn total(b: &Value) -> usize {
    b["total"].as_u64().unwrap() as usize
}

/// The effective start of an Observation resource, microseconds.
fn start(r: &Value) -> i64 {
    let t = r["effectiveDateTime"]
        .as_str()
        .or(r["effectivePeriod"]["start"].as_str())
        .unwrap();
    parse_datetime(t).unwrap()
}

/// `meta.lastUpdated` of a resource, microseconds.
fn last_updated(r: &Value) -> i64 {
    parse_datetime(r["meta"]["lastUpdated"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn fhir_filters() {
    let c = Client::default().await;
    let d = c.fake.directory().clone();
    let study = d.main_study_id;
    code_filters(&c, study).await;
    identifier_filters(&c, &d).await;
    let patient = d.patients_by_study[&study][2];
    let (rows, _) = all_pages(&c, &obs_path(&format!("patient={patient}&_count=1000"))).await;
    date_filters(&c, patient, &rows).await;
    last_updated_filters(&c, patient, &rows).await;
    sort_orders(&c, patient, &rows).await;
    id_and_status_filters(&c, patient, &rows).await;
    organization_filter(&c, &d).await;
}

async fn code_filters(c: &Client, study: i64) {
    let base = format!("patient._has:Group:member:_id={study}");
    // code: exact system|code; a bare code matches nothing; commas OR.
    let hr = "https://w3id.org/openmhealth|omh:heart-rate:2.0";
    let n_hr = c
        .fake
        .expected_observations(Some(study), None, Some("omh:heart-rate:2.0"))
        .len();
    let n_bp = c
        .fake
        .expected_observations(Some(study), None, Some(BP))
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
            &c.ok(&obs_path(&format!("{base}&code={hr},{BP}&_summary=count")))
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
}

async fn identifier_filters(c: &Client, d: &Directory) {
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
}

/// `rows`: every observation of `patient`, newest first.
async fn date_filters(c: &Client, patient: i64, rows: &[Value]) {
    // date: prefixes on the effective start (UTC day for a date, instant for a date-time).
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
}

async fn last_updated_filters(c: &Client, patient: i64, rows: &[Value]) {
    // _lastUpdated: on meta.lastUpdated.
    let lu = last_updated;
    let day = parse_date("2025-12-25").unwrap();
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
}

async fn sort_orders(c: &Client, patient: i64, rows: &[Value]) {
    let lu = last_updated;
    // _sort: date ascending/descending with the id as tiebreaker; -_lastUpdated = default.
    let (by_date, _) = all_pages(
        c,
        &obs_path(&format!("patient={patient}&_sort=date&_count=1000")),
    )
    .await;
    let keys: Vec<(i64, i64)> = by_date
        .iter()
        .map(|r| (start(r), r["id"].as_str().unwrap().parse().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let (by_date_desc, _) = all_pages(
        c,
        &obs_path(&format!("patient={patient}&_sort=-date&_count=1000")),
    )
    .await;
    assert!(
        by_date_desc
            .windows(2)
            .all(|w| start(&w[0]) >= start(&w[1]))
    );
    let (by_lu, _) = all_pages(
        c,
        &obs_path(&format!(
            "patient={patient}&_sort=-_lastUpdated&_count=1000"
        )),
    )
    .await;
    assert_eq!(by_lu, rows);
    let (by_lu_asc, _) = all_pages(
        c,
        &obs_path(&format!("patient={patient}&_sort=_lastUpdated&_count=1000")),
    )
    .await;
    assert!(by_lu_asc.windows(2).all(|w| lu(&w[0]) < lu(&w[1])));
}

async fn id_and_status_filters(c: &Client, patient: i64, rows: &[Value]) {
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
}

async fn organization_filter(c: &Client, d: &Directory) {
    // Organization filter: the lab's patients only.
    let lab = 20002;
    let lab_patients: BTreeSet<i64> = d.patients_by_study[&30002].iter().copied().collect();
    let (org_rows, _) = all_pages(
        c,
        &obs_path(&format!("patient.organization={lab}&_count=1000&code={BP}")),
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
