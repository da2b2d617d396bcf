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
use crate::table::{Appended, ObservationInput, ObservationTableBuilder, Payload};

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
}

/// Read one page of `observations` into `builder`.
pub fn read_observation_page(
    bytes: &[u8],
    page_url: &Url,
    origin: &Url,
    builder: &mut ObservationTableBuilder,
) -> Result<PageSummary> {
    let page: ObservationPage<'_> = serde_json::from_slice(bytes).map_err(|e| JheError::Protocol {
        url: redact_url(page_url),
        message: format!("the response is not a page of observations: {e}"),
    })?;
    let mut duplicates = 0;
    let mut id_text = String::new();
    for row in &page.results {
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
        };
        if builder.append(&input) == Appended::Duplicate {
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
        let mut builder = ObservationTableBuilder::new(&[]);
        let page = read_observation_page(bytes, &url, &origin, &mut builder).unwrap();
        assert_eq!((page.total, page.entries), (Some(45300), 3));
        assert_eq!(page.next.unwrap().as_str(), "https://jhe.example/api/v1/observations?page=3&page_size=3&study_id=30006");
        let older = br#"{"count":1,"next":null,"previous":null,"results":[{"id":61104,"subjectPatient":40002,"codingCode":"omh:blood-pressure:4.0","lastUpdated":"2026-11-26T07:33:20.750810Z","valueAttachmentData":{"body":{"effective_time_frame":{"date_time":"2026-11-26T08:33:20+00:00"},"systolic_blood_pressure":{"unit":"mmHg","value":115},"diastolic_blood_pressure":{"unit":"mmHg","value":60}},"header":{"uuid":"c8"}}}]}"#;
        read_observation_page(older, &url, &origin, &mut builder).unwrap();
        let tables = builder.finish();
        assert_eq!(tables.observations.num_rows(), 4);
        assert_eq!(tables.errors.num_rows(), 0, "{:?}", tables.errors);
        let systolic = tables.observations.column_by_name("systolic_mmhg").unwrap();
        assert_eq!(systolic.null_count(), 3);
    }
}
