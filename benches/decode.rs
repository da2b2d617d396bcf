//! Decode throughput: FHIR Bundle pages of every code (served by the fake Exchange, fetched
//! once into memory) decoded into Arrow on one thread, each page as a fetch does it (read
//! and prepared whole, then appended), beside plain `serde_json` parsing of
//! the same bytes, the practical limit. Two corpora: the Exchange's own (OMH) observations
//! (`fhir_pages`), and those imported from EHRs (`clinical_pages`: LOINC vitals and labs,
//! every value form), so the two paths are compared per observation.
//! `cargo bench --bench decode`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use url::Url;

use jhe::decode::PreparedPage;
use jhe_fake::{FakeConfig, FakeExchange};
use jhe::source::AdapterKind;
use jhe::table::{Layout, ObservationTableBuilder};

/// Every page of the main study's search, 1000 observations each, as the server sends them:
/// of the Exchange's own records, or with `_source:below` of the imported ones.
fn corpus(config: FakeConfig, source: &str) -> (Vec<Vec<u8>>, usize) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let fx = FakeExchange::start(config).await.expect("the fake starts");
        jhe::http::install_crypto_provider();
        let client = reqwest::Client::new();
        let study = fx.directory().main_study_id;
        let mut pages = Vec::new();
        let mut observations = 0;
        for page in 1.. {
            let url = format!(
                "{}/FHIR/R5/Observation?patient._has:Group:member:_id={study}{source}&_count=1000&_page={page}",
                fx.url()
            );
            let response = client.get(&url).bearer_auth(fx.token()).send().await.expect("a page");
            if response.status() != 200 {
                break;
            }
            let bytes = response.bytes().await.expect("a body").to_vec();
            let bundle: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            let entries = bundle["entry"].as_array().map_or(0, Vec::len);
            if entries == 0 {
                break;
            }
            observations += entries;
            pages.push(bytes);
        }
        (pages, observations)
    })
}

fn decode(c: &mut Criterion) {
    let own = corpus(FakeConfig { patients: 10, days: 7, seed: 1, ..Default::default() }, "");
    // 15 imported Observations a patient: enough patients for pages of 1000.
    let imported = corpus(FakeConfig { patients: 600, days: 1, seed: 1, ..Default::default() }, "&_source:below=https://jupyterhealth.org/fhir/fhir-source/");
    measure(c, "fhir_pages", own, false);
    measure(c, "clinical_pages", imported, true);
}

/// One corpus decoded in each layout, and parsed by `serde_json`, per byte and per observation.
fn measure(c: &mut Criterion, group: &str, (pages, observations): (Vec<Vec<u8>>, usize), origins: bool) {
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let origin = Url::parse("http://127.0.0.1/").expect("a URL");
    let page_url = origin.join("FHIR/R5/Observation").expect("a URL");
    eprintln!("{group}: {} pages, {observations} observations, {:.1} MB", pages.len(), bytes as f64 / 1e6);
    assert!(observations > 0, "{group}: the fake served no observations");

    let mut group = c.benchmark_group(group);
    group.measurement_time(Duration::from_secs(8)).sample_size(20);
    for (name, unit) in [("bytes", Throughput::Bytes(bytes as u64)), ("observations", Throughput::Elements(observations as u64))] {
        group.throughput(unit);
        group.bench_function(format!("serde_json_value/{name}"), |b| {
            b.iter(|| {
                for page in &pages {
                    black_box(serde_json::from_slice::<serde_json::Value>(page).expect("JSON"));
                }
            })
        });
        for (label, layout) in [("jhe_wide", Layout::Wide), ("jhe_long", Layout::Long)] {
            group.bench_function(format!("{label}/{name}"), |b| {
                b.iter(|| {
                    // As a fetch of imported records builds its tables: with their origins.
                    let mut builder = ObservationTableBuilder::new(layout, &[]).with_origins(origins);
                    for page in &pages {
                        let (_, prepared) = PreparedPage::read(AdapterKind::Fhir, page, &page_url, &origin, jhe::decode::PageOptions::default()).expect("a bundle");
                        builder.append_page(prepared);
                    }
                    let tables = builder.finish();
                    assert_eq!((tables.observations as usize, tables.errors.num_rows()), (observations, 0), "every observation decoded");
                    black_box(tables)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
