//! Decode FHIR pages into Arrow the way a fetch does (each page read and prepared whole,
//! then appended in order), on one thread, for profiling with a steady instruction count
//! (`valgrind --tool=callgrind`) rather than a clock.
//!
//! `cargo run --release --example decode_profile -- save DIR [PATIENTS DAYS]` fetches the
//! main study's pages from the fake Exchange into DIR; `... -- decode DIR [wide|long]`
//! decodes them.

use std::path::Path;

use url::Url;

use jhe::decode::{PageOptions, PreparedPage};
use jhe::source::AdapterKind;
use jhe::table::{Layout, ObservationTableBuilder};
use jhe_fake::{FakeConfig, FakeExchange};

fn save(dir: &Path, patients: u32, days: u32) {
    std::fs::create_dir_all(dir).expect("a directory");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let config = FakeConfig { patients, days, seed: 1, ..Default::default() };
        let fx = FakeExchange::start(config).await.expect("the fake starts");
        jhe::http::install_crypto_provider();
        let client = reqwest::Client::new();
        let study = fx.directory().main_study_id;
        for page in 1.. {
            let url = format!("{}/FHIR/R5/Observation?patient._has:Group:member:_id={study}&_count=1000&_page={page}", fx.url());
            let response = client.get(&url).bearer_auth(fx.token()).send().await.expect("a page");
            if response.status() != 200 {
                break;
            }
            let bytes = response.bytes().await.expect("a body");
            std::fs::write(dir.join(format!("{page:05}.json")), &bytes).expect("written");
        }
    });
}

fn decode(dir: &Path, layout: Layout) {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("a directory").map(|entry| entry.expect("an entry").path()).collect();
    files.sort();
    let pages: Vec<Vec<u8>> = files.iter().map(|file| std::fs::read(file).expect("a page")).collect();
    let url = Url::parse("http://127.0.0.1/FHIR/R5/Observation").expect("a URL");
    let origin = Url::parse("http://127.0.0.1/").expect("a URL");
    let started = std::time::Instant::now();
    let mut builder = ObservationTableBuilder::new(layout, &[]);
    for bytes in &pages {
        let (_, page) = PreparedPage::read(AdapterKind::Fhir, bytes, &url, &origin, PageOptions::default()).expect("a page");
        builder.append_page(page);
    }
    let tables = builder.finish();
    let rows: usize = tables.tables.iter().map(|(_, batch)| batch.num_rows()).sum();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    println!("{} pages, {bytes} bytes, {rows} rows, {} errors, {:.3} s", pages.len(), tables.errors.num_rows(), started.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map_or(default, |text| text.parse().expect("a number"));
    match args.first().map(String::as_str) {
        Some("save") => save(Path::new(&args[1]), number(2, 61) as u32, number(3, 14) as u32),
        Some("decode") => {
            let layout = if args.get(2).map(String::as_str) == Some("long") { Layout::Long } else { Layout::Wide };
            decode(Path::new(&args[1]), layout)
        }
        _ => eprintln!("usage: decode_profile save DIR [PATIENTS DAYS] | decode DIR [wide|long]"),
    }
}
