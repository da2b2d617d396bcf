//! The admin REST adapter (`/api/v1/...`): paginated lists followed to the end. Lists are
//! small (patients, studies, organizations), so they stay JSON values.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use crate::config::ClientConfig;
use crate::error::{JheError, Result};
use crate::fhir::{PageSummary, on_origin};
use crate::http::{HttpClient, redact_url};
use crate::query::ObservationQuery;
use crate::table::{Appended, ObservationInput, ObservationSink, Payload};
#[cfg(test)]
use crate::table::Layout;

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

/// Every item of a REST list: follows `next` links on the configured origin; also accepts
/// the endpoints that answer with a bare array.
pub async fn list_all(http: &HttpClient, config: &ClientConfig, path: &str, params: &[(String, String)]) -> Result<Vec<Value>> {
    let mut params = params.to_vec();
    if !params.iter().any(|(k, _)| k == "page_size" || k == "pageSize") {
        params.push(("page_size".into(), config.page_size.to_string()));
    }
    let mut url = rest_url(&config.base_url, path, &params)?;
    let mut items = Vec::new();
    let mut announced = None;
    let mut pages = 0usize;
    loop {
        let body = http.get_json(&url).await?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| JheError::Protocol {
            url: redact_url(&url),
            message: format!("the response is not JSON: {e}"),
        })?;
        if let Value::Array(list) = value {
            items.extend(list);
            break;
        }
        let page: Envelope = serde_json::from_value(value).map_err(|e| JheError::Protocol {
            url: redact_url(&url),
            message: format!("the response is not a paginated list: {e}"),
        })?;
        announced = announced.or(page.count);
        let received = page.results.len();
        items.extend(page.results);
        pages += 1;
        match page.next {
            Some(next) if received > 0 && pages < 1_000_000 => url = on_origin(&next, &config.base_url, &url)?,
            _ => break,
        }
    }
    if let Some(count) = announced {
        if count != items.len() as u64 {
            return Err(JheError::InconsistentResult {
                expected: count,
                received: items.len() as u64,
                detail: format!(" in {path} (the list changed while it was read; try again)"),
            });
        }
    }
    Ok(items)
}

/// `observations` for a query the REST API can answer (study, patient, organization).
pub fn observation_list_url(base_url: &Url, query: &ObservationQuery) -> Url {
    let mut params = Vec::new();
    for (name, id) in [
        ("study_id", query.study_id),
        ("patient_id", query.patient_id),
        ("organization_id", query.organization_id),
    ] {
        if let Some(id) = id {
            params.push((name.to_string(), id.to_string()));
        }
    }
    rest_url(base_url, "observations", &params).expect("a constant path is valid")
}

#[derive(Deserialize)]
struct ObservationPage<'a> {
    count: Option<u64>,
    #[serde(borrow)]
    next: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    results: Vec<RestObservation<'a>>,
}

/// Integer ids, or text where a server sends them quoted.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue<'a> {
    Number(i64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

/// Both spellings of the admin API: the servers' (`subjectPatientId`, `omhData` or
/// `valueAttachmentData`) and the guide's (`subjectPatient`).
#[derive(Deserialize)]
struct RestObservation<'a> {
    #[serde(borrow)]
    id: Option<IdValue<'a>>,
    #[serde(rename = "subjectPatientId", alias = "subjectPatient", borrow)]
    patient: Option<IdValue<'a>>,
    #[serde(rename = "codingCode", borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(rename = "lastUpdated", borrow)]
    last_updated: Option<Cow<'a, str>>,
    #[serde(rename = "omhData", alias = "valueAttachmentData", borrow)]
    omh: Option<&'a RawValue>,
    #[serde(rename = "patientNameGiven", borrow)]
    name_given: Option<Cow<'a, str>>,
    #[serde(rename = "patientNameFamily", borrow)]
    name_family: Option<Cow<'a, str>>,
    /// The guide's "Family, Given".
    #[serde(rename = "patientNameDisplay", borrow)]
    name_display: Option<Cow<'a, str>>,
    #[serde(rename = "dataSourceName", borrow)]
    data_source: Option<Cow<'a, str>>,
}

/// Read one page of `observations` into `builder`.
pub fn read_observation_page(
    bytes: &[u8],
    page_url: &Url,
    origin: &Url,
    sink: &mut impl ObservationSink,
) -> Result<PageSummary> {
    let page: ObservationPage<'_> = serde_json::from_slice(bytes).map_err(|e| JheError::Protocol {
        url: redact_url(page_url),
        message: format!("the response is not a page of observations: {e}"),
    })?;
    let mut duplicates = 0;
    let mut id_text = String::new();
    let mut name = String::new();
    for row in &page.results {
        name.clear();
        match (row.name_given.as_deref(), row.name_family.as_deref(), row.name_display.as_deref()) {
            (Some(given), Some(family), _) => {
                name.push_str(given);
                name.push(' ');
                name.push_str(family);
            }
            (given, family, display) => name.push_str(given.or(family).or(display).unwrap_or("")),
        }
        id_text.clear();
        match &row.id {
            Some(IdValue::Number(n)) => id_text.push_str(&n.to_string()),
            Some(IdValue::Text(t)) => id_text.push_str(t),
            None => {}
        }
        let patient_id = match &row.patient {
            Some(IdValue::Number(n)) => Some(*n),
            Some(IdValue::Text(t)) => t.trim().parse().ok(),
            None => None,
        };
        let input = ObservationInput {
            observation_id: &id_text,
            patient_id,
            code: row.code.as_deref(),
            last_updated: row.last_updated.as_deref(),
            payload: match row.omh {
                Some(raw) if raw.get() != "null" => Payload::Json(raw.get().as_bytes()),
                _ => Payload::Missing,
            },
            patient_name: (!name.is_empty()).then_some(name.as_str()),
            data_source: row.data_source.as_deref(),
            meta_source: None,
            identifier: None,
        };
        if sink.accept(&input) == Appended::Duplicate {
            duplicates += 1;
        }
    }
    let next = page.next.as_deref().map(|link| on_origin(link, origin, page_url)).transpose()?;
    Ok(PageSummary {
        total: page.count,
        next,
        entries: page.results.len(),
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ObservationTableBuilder;

    #[test]
    fn urls_have_no_trailing_slash_and_keep_params() {
        let base = Url::parse("https://jhe.example/").unwrap();
        let url = rest_url(&base, "/patients/", &[("study_id".into(), "30001".into())]).unwrap();
        assert_eq!(url.as_str(), "https://jhe.example/api/v1/patients?study_id=30001");
        assert!(rest_url(&base, "../o/token", &[]).is_err());
    }

    #[test]
    fn reads_the_real_sample_page_and_the_older_spelling() {
        let bytes = include_bytes!("../tests/reference/samples/rest_observations_page.json");
        let url = Url::parse("http://localhost:8000/api/v1/observations?page=2&page_size=3&study_id=30006").unwrap();
        let origin = Url::parse("https://jhe.example/").unwrap();
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let page = read_observation_page(bytes, &url, &origin, &mut builder).unwrap();
        assert_eq!((page.total, page.entries), (Some(45300), 3));
        assert_eq!(page.next.unwrap().as_str(), "https://jhe.example/api/v1/observations?page=3&page_size=3&study_id=30006");
        let older = br#"{"count":1,"next":null,"previous":null,"results":[{"id":61104,"subjectPatient":40002,"codingCode":"omh:blood-pressure:4.0","lastUpdated":"2026-11-26T07:33:20.750810Z","valueAttachmentData":{"body":{"effective_time_frame":{"date_time":"2026-11-26T08:33:20+00:00"},"systolic_blood_pressure":{"unit":"mmHg","value":115},"diastolic_blood_pressure":{"unit":"mmHg","value":60}},"header":{"uuid":"c8"}}}]}"#;
        read_observation_page(older, &url, &origin, &mut builder).unwrap();
        let tables = builder.finish();
        assert_eq!(tables.observations, 4);
        assert_eq!(tables.errors.num_rows(), 0, "{:?}", tables.errors);
        let (_, bp) = tables.tables.iter().find(|(c, _)| c.as_deref() == Some("omh:blood-pressure:4.0")).unwrap();
        assert_eq!(bp.num_rows(), 1);
        assert!(bp.column_by_name("patient_name").is_none(), "that row named no patient: no empty column");
        let (_, sleep) = tables.tables.iter().find(|(c, _)| c.as_deref() == Some("omh:sleep-duration:2.0")).unwrap();
        use arrow_array::cast::AsArray;
        assert_eq!(sleep.column_by_name("patient_name").unwrap().as_string::<i32>().value(0), "Zara Ali");
    }
}
