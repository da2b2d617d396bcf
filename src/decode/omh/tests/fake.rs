//! The embedded fake Exchange's payloads (schema-valid, every code, several units and
//! time-frame forms) read through the catalogue without a single problem.

use std::collections::BTreeMap;

use serde_json::Value;

use jhe_fake::{FakeConfig, FakeExchange};
use crate::decode::omh::catalog::lookup;
use crate::decode::omh::time::read_time_frame;
use crate::decode::omh::{decode_base64, parse_document};

#[tokio::test]
async fn every_fake_payload_reads_cleanly() {
    let fx = FakeExchange::start(FakeConfig { patients: 3, days: 3, seed: 11, ..FakeConfig::default() }).await.unwrap();
    let study = fx.directory().main_study_id;
    crate::http::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut url = Some(format!("{}/FHIR/R5/Observation?patient._has:Group:member:_id={study}&_count=1000", fx.url()));
    let mut per_code: BTreeMap<String, usize> = BTreeMap::new();
    let mut units: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut bytes = Vec::new();
    while let Some(next) = url.take() {
        let response = client.get(&next).bearer_auth(fx.token()).send().await.unwrap().error_for_status().unwrap();
        let bundle: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            let resource = &entry["resource"];
            let code = resource["code"]["coding"][0]["code"].as_str().unwrap();
            let spec = lookup(code).unwrap_or_else(|| panic!("the fake serves {code}, not in the catalogue"));
            decode_base64(resource["valueAttachment"]["data"].as_str().unwrap(), &mut bytes).unwrap();
            let body = parse_document(&bytes).unwrap().body.unwrap();
            for measure in spec.measures {
                let reading = measure.read(&body);
                if let Some(problem) = reading.problem {
                    problems.push(format!("{code} {}: {problem}", measure.column));
                }
                if let crate::decode::omh::catalog::MeasureValue::Quantity { unit, .. } = reading.value {
                    *units.entry(format!("{} {unit}", measure.column)).or_default() += 1;
                }
            }
            if let Some(frame) = body.get("effective_time_frame") {
                if let Err(e) = read_time_frame(frame) {
                    problems.push(format!("{code} time frame: {e}"));
                }
            }
            *per_code.entry(code.to_string()).or_default() += 1;
        }
        url = bundle["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(String::from);
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(per_code.len(), super::schema::CODES.len(), "codes served: {per_code:?}");
    eprintln!("{per_code:?}\n{units:?}");
}
