//! The admin API's `observations` list as an adapter: both spellings of its rows (the
//! servers' and the guide's), integer ids as integers.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::admin::rest_url;
use super::{Adapter, ObservationId, ObservationInput, Page, Payload, TotalOnly};
use crate::query::ObservationQuery;

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

/// A page of `observations`.
#[derive(Deserialize)]
pub struct ObservationPage<'a> {
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

impl<'a> RestObservation<'a> {
    /// "Given Family", or whichever part there is, into `name` (cleared first).
    fn patient_name(&self, name: &mut String) {
        name.clear();
        match (self.name_given.as_deref(), self.name_family.as_deref(), self.name_display.as_deref()) {
            (Some(given), Some(family), _) => {
                name.push_str(given);
                name.push(' ');
                name.push_str(family);
            }
            (given, family, display) => name.push_str(given.or(family).or(display).unwrap_or("")),
        }
    }

    fn input<'s>(&'s self, name: &'s str) -> ObservationInput<'s> {
        ObservationInput {
            observation_id: match &self.id {
                Some(IdValue::Number(n)) => ObservationId::Number(*n),
                Some(IdValue::Text(t)) => ObservationId::Text(t),
                None => ObservationId::Text(""),
            },
            patient_id: match &self.patient {
                Some(IdValue::Number(n)) => Some(*n),
                Some(IdValue::Text(t)) => t.trim().parse().ok(),
                None => None,
            },
            code: self.code.as_deref(),
            last_updated: self.last_updated.as_deref(),
            payload: match self.omh {
                Some(raw) if raw.get() != "null" => Payload::Json(raw.get().as_bytes()),
                _ => Payload::Missing,
            },
            patient_name: (!name.is_empty()).then_some(name),
            data_source: self.data_source.as_deref(),
            resource: None,
            not_an_observation: None,
            source: None,
            clinical: None,
        }
    }
}

impl<'a> Page<'a> for ObservationPage<'a> {
    fn total(&self) -> Option<u64> {
        self.count
    }

    fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    fn entries(&self) -> usize {
        self.results.len()
    }

    fn observations(&self, each: &mut impl FnMut(&ObservationInput<'_>)) -> std::result::Result<(), String> {
        let mut name = String::new();
        for row in &self.results {
            row.patient_name(&mut name);
            each(&row.input(&name));
        }
        Ok(())
    }
}

/// A page of `observations` read for its count.
#[derive(Deserialize)]
pub struct ObservationCount {
    count: Option<u64>,
}

impl TotalOnly<'_> for ObservationCount {
    fn total(&self) -> Option<u64> {
        self.count
    }
}

/// The admin API's `observations`, paged by `page_size` and `page`.
pub struct Rest;

impl Adapter for Rest {
    const PAGE: &'static str = "a page of observations";
    type Page<'a> = ObservationPage<'a>;
    type Total<'a> = ObservationCount;

    fn page_url(search: &Url, page: u64, size: u32) -> Url {
        let mut url = search.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page_size", &size.to_string());
            // The guide pages REST by limit/offset; real servers ignore it, so ask both ways.
            pairs.append_pair("limit", &size.to_string());
            if page > 1 {
                pairs.append_pair("page", &page.to_string());
            }
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PreparedPage;
    use crate::source::{AdapterKind, read_total};
    use crate::table::{Layout, ObservationTableBuilder};

    #[test]
    fn reads_the_real_sample_page_and_the_older_spelling() {
        let bytes = include_bytes!("../../tests/reference/samples/rest_observations_page.json");
        let url = Url::parse("http://localhost:8000/api/v1/observations?page=2&page_size=3&study_id=30006").unwrap();
        let origin = Url::parse("https://jhe.example/").unwrap();
        let mut builder = ObservationTableBuilder::new(Layout::Wide, &[]);
        let (page, prepared) = PreparedPage::read(AdapterKind::Rest, bytes, &url, &origin, crate::decode::PageOptions::default()).unwrap();
        builder.append_page(prepared);
        assert_eq!((page.total, page.entries), (Some(45300), 3));
        assert_eq!(page.next.unwrap().as_str(), "https://jhe.example/api/v1/observations?page=3&page_size=3&study_id=30006");
        let older = br#"{"count":1,"next":null,"previous":null,"results":[{"id":61104,"subjectPatient":40002,"codingCode":"omh:blood-pressure:4.0","lastUpdated":"2026-11-26T07:33:20.750810Z","valueAttachmentData":{"body":{"effective_time_frame":{"date_time":"2026-11-26T08:33:20+00:00"},"systolic_blood_pressure":{"unit":"mmHg","value":115},"diastolic_blood_pressure":{"unit":"mmHg","value":60}},"header":{"uuid":"c8"}}}]}"#;
        builder.append_page(PreparedPage::read(AdapterKind::Rest, older, &url, &origin, crate::decode::PageOptions::default()).unwrap().1);
        assert_eq!(read_total::<Rest>(older, &url).unwrap(), 1);
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
