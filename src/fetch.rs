//! The fetch verb: walk every page of a search, decode as pages arrive, and check that what
//! was received is exactly what the server announced.

use std::collections::HashSet;

use url::Url;

use crate::config::ClientConfig;
use crate::error::{JheError, Result};
use crate::fhir;
use crate::http::{HttpClient, redact_url};
use crate::query::ObservationQuery;
use crate::table::{ObservationTableBuilder, ObservationTables};

#[derive(Debug)]
pub struct FetchOutcome {
    pub tables: ObservationTables,
    /// The server's count of matching observations.
    pub total: u64,
    pub pages: u32,
}

/// Fetch every observation matching `query` through the FHIR API.
pub async fn fetch_observations(
    http: &HttpClient,
    config: &ClientConfig,
    query: &ObservationQuery,
) -> Result<FetchOutcome> {
    let base = fhir::fhir_base(&config.base_url);
    let mut builder = ObservationTableBuilder::new(&query.code_names());
    let mut url = fhir::observation_search_url(&base, query, config.page_size);
    let mut visited: HashSet<Url> = HashSet::new();
    let mut total: Option<u64> = None;
    let mut pages = 0u32;
    loop {
        if !visited.insert(url.clone()) {
            return Err(JheError::Protocol {
                url: redact_url(&url),
                message: "the server's next links go round in a circle".into(),
            });
        }
        let body = http.get_json(&url).await?;
        let page = fhir::read_observation_bundle(&body, &url, &config.base_url, &mut builder)?;
        pages += 1;
        if total.is_none() {
            total = page.total;
        }
        match page.next {
            Some(next) if page.entries > 0 => url = next,
            _ => break,
        }
    }
    let received = builder.rows() as u64;
    let total = total.unwrap_or(received);
    if received != total {
        return Err(JheError::InconsistentResult {
            expected: total,
            received,
            detail: " (data changed while fetching; fetch again)".into(),
        });
    }
    Ok(FetchOutcome {
        tables: builder.finish(),
        total,
        pages,
    })
}
