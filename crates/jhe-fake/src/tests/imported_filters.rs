//! Searches of the imported records: location filters, the declared token, code and
//! date parameters (dates compared as text, as the server does), `_lastUpdated`, `_id`,
//! paging, `_summary=count` and `_sort`.

use serde_json::Value;

use crate::generate::ehr_codes::{ENCOUNTER_IDENTIFIER, LOCAL_LAB};
use crate::generate::imported::{ImportedType, instant_text};
use crate::generate::time::{MICROS_PER_SEC, utc_micros};
use crate::generate::world::{BP_STUDY_ID, LAB_ID};

use super::imported::{BASE, expected, small, total, uuids};
use super::{Client, all_pages, resources};

async fn count(c: &Client, t: &str, query: &str) -> usize {
    total(
        &c.ok(&format!(
            "/FHIR/R5/{t}?_source:below={BASE}/&_summary=count&{query}"
        ))
        .await,
    )
}

/// `effectiveDateTime` or `effectivePeriod.start`.
fn effective(r: &Value) -> Option<&str> {
    r["effectiveDateTime"]
        .as_str()
        .or(r["effectivePeriod"]["start"].as_str())
}

#[tokio::test]
async fn location_filters() {
    let c = small().await;
    let d = c.fake.directory().clone();
    let w = &c.fake.state.world;
    for &p in &d.visible_patient_ids {
        let (rows, _) = all_pages(
            &c,
            &format!("/FHIR/R5/Observation?_source:below={BASE}/&patient={p}&_count=100"),
        )
        .await;
        assert_eq!(rows, expected(&c, "Observation", Some(p), None));
    }
    // The study's enrolment alone decides (pending consents included).
    let in_bp = w
        .patients
        .iter()
        .filter(|p| p.visible && p.in_study(BP_STUDY_ID))
        .count();
    assert!(in_bp > 0 && in_bp < 4, "{in_bp}");
    let study = format!("patient._has:Group:member:_id={BP_STUDY_ID}");
    assert_eq!(count(&c, "Observation", &study).await, 15 * in_bp);
    assert_eq!(count(&c, "Condition", &study).await, 3 * in_bp);
    let in_lab = w
        .patients
        .iter()
        .filter(|p| p.visible && p.organization_ids.contains(&LAB_ID))
        .count();
    assert_eq!(
        count(&c, "Encounter", &format!("patient.organization={LAB_ID}")).await,
        2 * in_lab
    );
    // A patient and another patient's source: nothing.
    let (p0, p1) = (d.visible_patient_ids[0], d.visible_patient_ids[1]);
    let q = format!("/FHIR/R5/Condition?_source={BASE}/90002&patient={p0}&_summary=count");
    assert_eq!(total(&c.ok(&q).await), 0);
    let q = format!("/FHIR/R5/Condition?_source={BASE}/90002&patient={p1}&_summary=count");
    assert_eq!(total(&c.ok(&q).await), 3);
}

#[tokio::test]
async fn token_and_code_filters() {
    let c = small().await;
    let cc = &c;
    let obs = |q: &'static str| count(cc, "Observation", q);
    for q in [
        "code=http://loinc.org|4548-4",
        "code=4548-4",
        "code=|4548-4",
        "code=4548-4,9999-9",
    ] {
        assert_eq!(obs(q).await, 8, "{q}");
    }
    assert_eq!(obs("code=http://loinc.org|").await, 60);
    assert_eq!(obs("code=http://snomed.info/sct|4548-4").await, 0);
    assert_eq!(obs("code=4548-4,2345-7").await, 12);
    assert_eq!(obs("code=4548-4&code=2345-7").await, 0);
    assert_eq!(obs("code=4548-4&code=http://loinc.org|").await, 8);
    assert_eq!(
        count(&c, "Observation", &format!("code={LOCAL_LAB}|GLU")).await,
        4
    );
    assert_eq!(
        count(&c, "Observation", &format!("code={LOCAL_LAB}|&code=2345-7")).await,
        4
    );
    let (lab, vitals) = (
        obs("category=laboratory").await,
        obs("category=vital-signs").await,
    );
    assert_eq!(lab + vitals, 60);
    assert_eq!(
        obs("category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory").await,
        lab
    );
    assert_eq!(obs("status=amended").await, 4);
    assert_eq!(obs("status=whatever|preliminary").await, 4);
    assert_eq!(obs("status=final,amended").await, 56);
    // An undeclared parameter is ignored; a declared one with no piece is too.
    assert_eq!(obs("intent=order&code=,").await, 60);

    let cond = |q: &'static str| count(cc, "Condition", q);
    assert_eq!(cond("clinical-status=resolved").await, 4);
    assert_eq!(cond("clinicalStatus=active").await, 8);
    assert_eq!(cond("category=problem-list-item").await, 8);
    let diabetes = expected(&c, "Condition", None, None)
        .iter()
        .filter(|r| r["code"]["coding"][0]["code"] == "44054006")
        .count();
    assert_eq!(cond("code=http://snomed.info/sct|44054006").await, diabetes);
    assert_eq!(cond("encounter=Encounter/1").await, 0);

    let meds = |q: &'static str| count(cc, "MedicationRequest", q);
    assert_eq!(meds("code=860975").await, 12); // no `code` parameter for MedicationRequest
    assert_eq!(meds("status=completed").await, 4);
    assert_eq!(meds("intent=order").await, 12);

    let enc = |q: &'static str| count(cc, "Encounter", q);
    assert_eq!(enc("class=AMB").await, 4);
    assert_eq!(enc("type=http://snomed.info/sct|185317003").await, 4);
    assert_eq!(enc("status=completed").await, 8);
    let one = &expected(&c, "Encounter", None, None)[0];
    let csn = one["identifier"][0]["value"].as_str().unwrap();
    let b = c
        .ok(&format!(
            "/FHIR/R5/Encounter?identifier={ENCOUNTER_IDENTIFIER}|{csn}"
        ))
        .await;
    assert_eq!(resources(&b), [one]);
}

#[tokio::test]
async fn date_filters_compare_text() {
    let c = small().await;
    let all = expected(&c, "Observation", None, None);
    let mut times: Vec<&str> = all.iter().filter_map(effective).collect();
    assert_eq!(times.len(), 60 - 4); // one issued-only record per patient
    times.sort();
    let t = times[times.len() / 2];
    let n = |f: &dyn Fn(&str) -> bool| times.iter().filter(|x| f(x)).count();
    assert_eq!(
        count(&c, "Observation", &format!("date=ge{t}")).await,
        n(&|x| x >= t)
    );
    assert_eq!(
        count(&c, "Observation", &format!("date=gt{t}")).await,
        n(&|x| x > t)
    );
    assert_eq!(
        count(&c, "Observation", &format!("date=lt{t}")).await,
        n(&|x| x < t)
    );
    let day = &t[..10];
    // A bare value is a prefix; `le` a day is before that day's times, as text.
    let on_day = n(&|x| x.starts_with(day));
    assert!(on_day > 0);
    assert_eq!(
        count(&c, "Observation", &format!("date={day}")).await,
        on_day
    );
    assert_eq!(
        count(&c, "Observation", &format!("date=le{day}")).await,
        n(&|x| x < day)
    );
    assert_eq!(
        count(
            &c,
            "Observation",
            &format!("date=ge{day}&date=le{day}T23:59:59Z")
        )
        .await,
        on_day
    );
    assert_eq!(count(&c, "Observation", "date=").await, 56);
    // Encounters are dated `actualPeriod`, which the server's `period.start` misses.
    assert_eq!(count(&c, "Encounter", "date=ge2000-01-01").await, 0);
    // MedicationRequest has `authoredon`, no `date`.
    assert_eq!(count(&c, "MedicationRequest", "date=ge2100").await, 12);
    assert_eq!(count(&c, "MedicationRequest", "authoredon=ge2100").await, 0);
    assert_eq!(
        count(&c, "MedicationRequest", "authoredOn=ge2000").await,
        12
    );
    assert_eq!(
        count(&c, "Condition", "onset-date=lt2100&recorded-date=ge2000").await,
        12
    );
    assert_eq!(count(&c, "Condition", "abatement-date=ge2000").await, 4);
}

#[tokio::test]
async fn last_updated_and_id() {
    let c = small().await;
    let store = c.fake.state.imported();
    let rows = store.rows(ImportedType::Observation);
    // Patient 1's records were imported after patient 0's.
    let first_of_1 = rows
        .iter()
        .find(|r| r.patient == 1)
        .unwrap()
        .last_updated_us;
    let cut = utc_micros(first_of_1);
    assert_eq!(
        count(&c, "Observation", &format!("_lastUpdated=ge{cut}")).await,
        45
    );
    assert_eq!(
        count(&c, "Observation", &format!("_lastUpdated=lt{cut}")).await,
        15
    );
    let day = &instant_text(first_of_1 / MICROS_PER_SEC)[..10];
    assert_eq!(
        count(&c, "Condition", &format!("_lastUpdated={day}")).await,
        12
    );
    let r = c.get("/FHIR/R5/Condition?_lastUpdated=soon").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.get("/FHIR/R5/Condition?_source=x&_lastUpdated=soon")
            .await
            .status,
        400
    );

    let one = &expected(&c, "Condition", None, None)[2];
    let id = one["id"].as_str().unwrap();
    let b = c.ok(&format!("/FHIR/R5/Condition?_id={id}")).await;
    assert_eq!(resources(&b), [one]);
    assert_eq!(count(&c, "Encounter", &format!("_id={id}")).await, 0);
    assert_eq!(count(&c, "Condition", "_id=60001").await, 0);
    assert_eq!(count(&c, "Condition", "_id=").await, 12);
}

#[tokio::test]
async fn paging_and_count() {
    let c = small().await;
    let all = expected(&c, "Observation", None, None);
    let first = format!("/FHIR/R5/Observation?_source:below={BASE}/&_count=7");
    let (rows, n) = all_pages(&c, &first).await;
    assert_eq!((n, rows), (60, all.clone()));
    let last = c.ok(&format!("{first}&_page=9")).await;
    assert_eq!(resources(&last).len(), 4);
    assert_eq!(c.get(&format!("{first}&_page=10")).await.status, 404);
    let b = c.ok(&format!("{first}&_summary=count")).await;
    assert_eq!((total(&b), resources(&b).len()), (60, 0));
    assert_eq!(
        resources(&c.ok("/FHIR/R5/Condition?_count=0").await).len(),
        12
    );
    assert_eq!(
        resources(
            &c.ok(&format!("/FHIR/R5/Observation?_source:below={BASE}"))
                .await
        )
        .len(),
        20
    );
    let (rows, _) = all_pages(&c, "/FHIR/R5/Encounter?_count=3").await;
    assert_eq!(rows, expected(&c, "Encounter", None, None));
}

#[tokio::test]
async fn sort_orders() {
    let c = small().await;
    let all = expected(&c, "Observation", None, None);
    let cc = &c;
    let sorted = |q: &str| {
        let path = format!("/FHIR/R5/Observation?_source:below={BASE}/&_count=100&_sort={q}");
        async move { cc.ok(&path).await }
    };
    let b = sorted("date").await;
    let rows = resources(&b);
    let starts: Vec<Option<&str>> = rows.iter().map(|r| effective(r)).collect();
    // Undated (issued-only) records last in either direction; the UUID breaks ties.
    assert!(starts[..56].iter().all(Option::is_some) && starts[56..].iter().all(Option::is_none));
    assert!(starts[..56].windows(2).all(|w| w[0] <= w[1]));
    let undated: Vec<&str> = rows[56..]
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(undated.windows(2).all(|w| w[0] < w[1]));
    let b = sorted("-date").await;
    let starts: Vec<Option<&str>> = resources(&b).iter().map(|r| effective(r)).collect();
    assert!(
        starts[..56].windows(2).all(|w| w[0] >= w[1]) && starts[56..].iter().all(Option::is_none)
    );
    let newest = sorted("-_lastUpdated").await;
    assert_eq!(
        uuids(&resources(&newest).into_iter().cloned().collect::<Vec<_>>()),
        uuids(&all)
    );
    let oldest = sorted("_lastUpdated,date").await;
    let mut reversed = uuids(&all);
    reversed.reverse();
    assert_eq!(
        uuids(&resources(&oldest).into_iter().cloned().collect::<Vec<_>>()),
        reversed
    );
    // Encounters have no sort date: the UUID alone orders them.
    let b = c.ok("/FHIR/R5/Encounter?_sort=-date").await;
    let ids: Vec<&str> = resources(&b)
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids.len(), 8);
}
