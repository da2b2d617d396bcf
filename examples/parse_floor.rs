//! The minimal parse floor for `benchmarks/run.py`: the least work any decoder of these pages
//! must do, over FHIR Bundle pages saved as files (one page per file).
//!
//!     cargo build --release --example parse_floor
//!     parse_floor [--mode typed|value] [--threads 2] PAGE_DIR
//!
//! `typed` (the floor): each page read with borrowed typed structures that keep only each
//! entry's `resource.valueAttachment.data`, as a raw slice of the page; the payload
//! base64-decoded; the OMH document parsed and thrown away (`IgnoredAny`), so nothing is
//! built. `value` (a reference): `serde_json::Value` trees on both layers, as a decoder that
//! builds generic trees would.
//!
//! The pages are read into memory before the clock. Threads take pages in turn from a shared
//! counter. It prints one JSON line: wall and CPU seconds of the parse (CPU summed over the
//! parsing threads), pages, bytes, observations.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::GeneralPurposeConfig;
use base64::engine::{DecodePaddingMode, Simd};
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(borrow, default)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    resource: Resource<'a>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(rename = "valueAttachment", borrow)]
    value_attachment: Option<Attachment<'a>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    // Bytes, not str: serde_json hands back the raw slice without checking its UTF-8.
    #[serde(borrow)]
    data: &'a [u8],
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Typed,
    Value,
}

struct Args {
    mode: Mode,
    threads: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut mode = Mode::Typed;
    let mut threads = 2;
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("typed") => Mode::Typed,
                    Some("value") => Mode::Value,
                    other => return Err(format!("--mode typed|value, not {other:?}")),
                }
            }
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--threads takes a positive number")?
            }
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let dir = dir.ok_or("usage: parse_floor [--mode typed|value] [--threads N] PAGE_DIR")?;
    Ok(Args { mode, threads, dir })
}

fn read_pages(dir: &PathBuf) -> Result<Vec<Vec<u8>>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))).collect()
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`), or, where the
/// kernel does not keep it, user+sys clock ticks from `/proc/thread-self/stat`.
fn thread_cpu_ns() -> u64 {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
    {
        return ns;
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 and 15 of stat (utime, stime), counted from after the command name.
    (tick(11) + tick(12)) * 10_000_000
}

/// Observations on one page.
fn parse_page(mode: Mode, engine: &Simd, page: &[u8], buffer: &mut Vec<u8>) -> Result<usize, String> {
    let mut observations = 0;
    match mode {
        Mode::Typed => {
            let bundle: Bundle = serde_json::from_slice(page).map_err(|e| format!("a page: {e}"))?;
            for entry in &bundle.entry {
                let Some(attachment) = &entry.resource.value_attachment else { continue };
                buffer.clear();
                engine.decode_vec(attachment.data, buffer).map_err(|e| format!("base64: {e}"))?;
                serde_json::from_slice::<IgnoredAny>(buffer).map_err(|e| format!("an OMH document: {e}"))?;
                observations += 1;
            }
        }
        Mode::Value => {
            let bundle: serde_json::Value = serde_json::from_slice(page).map_err(|e| format!("a page: {e}"))?;
            for entry in bundle["entry"].as_array().into_iter().flatten() {
                let Some(data) = entry["resource"]["valueAttachment"]["data"].as_str() else { continue };
                buffer.clear();
                engine.decode_vec(data, buffer).map_err(|e| format!("base64: {e}"))?;
                let document: serde_json::Value =
                    serde_json::from_slice(buffer).map_err(|e| format!("an OMH document: {e}"))?;
                std::hint::black_box(document);
                observations += 1;
            }
        }
    }
    Ok(observations)
}

/// (observations, CPU ns) of one thread's share of the pages.
fn worker(mode: Mode, pages: &[Vec<u8>], next: &AtomicUsize) -> Result<(usize, u64), String> {
    let cpu0 = thread_cpu_ns();
    let engine = Simd::standard(GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));
    let mut buffer = Vec::new();
    let mut observations = 0;
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(page) = pages.get(index) else { break };
        observations += parse_page(mode, &engine, page, &mut buffer)?;
    }
    Ok((observations, thread_cpu_ns().saturating_sub(cpu0)))
}

fn run() -> Result<String, String> {
    let args = parse_args()?;
    let pages = read_pages(&args.dir)?;
    if pages.is_empty() {
        return Err(format!("no pages in {}", args.dir.display()));
    }
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let results: Vec<Result<(usize, u64), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads).map(|_| scope.spawn(|| worker(args.mode, &pages, &next))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into()))).collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let (mut observations, mut cpu_ns) = (0, 0);
    for result in results {
        let (n, ns) = result?;
        observations += n;
        cpu_ns += ns;
    }
    let bytes: usize = pages.iter().map(Vec::len).sum();
    Ok(format!(
        "{{\"mode\": \"{}\", \"threads\": {}, \"wall_s\": {wall:.6}, \"cpu_s\": {:.6}, \"pages\": {}, \"bytes\": {bytes}, \"observations\": {observations}}}",
        if args.mode == Mode::Typed { "typed" } else { "value" },
        args.threads,
        cpu_ns as f64 / 1e9,
        pages.len(),
    ))
}

fn main() {
    match run() {
        Ok(line) => println!("{line}"),
        Err(message) => {
            eprintln!("parse_floor: {message}");
            std::process::exit(1);
        }
    }
}
