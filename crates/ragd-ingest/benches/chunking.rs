//! Chunking throughput in MB/s with the real model tokenizer: Dify's automatic rule and a custom rule on
//! about 1 MB of text (the committed fixtures, repeated), and cleaning alone.
//!
//! Run: `cargo bench -p ragd-ingest --bench chunking` (needs the model's tokenizer: `ragd models fetch`).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ragd_config::Config;
use ragd_core::ProcessRule;
use ragd_embed::ModelTokenizer;
use ragd_ingest::{ParseOptions, chunk_text, clean_text, parse_file};

fn corpus() -> String {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/docs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&docs).expect("fixtures exist") {
        let path = entry.expect("entry").path();
        for document in parse_file(&path, &ParseOptions::default()).expect("fixture parses") {
            text.push_str(&document.text);
            text.push_str("\n\n");
        }
    }
    text.repeat((1_000_000 / text.len()).max(1))
}

fn bench(c: &mut Criterion) {
    let config = Config::load(None, std::env::vars()).expect("configuration loads");
    let tokenizer = ModelTokenizer::from_model_dir(&config.model_dir()).expect("tokenizer loads");
    let text = corpus();
    let automatic = ProcessRule::automatic().resolve().unwrap();
    let custom = ProcessRule::custom(200, 20).resolve().unwrap();

    let mut group = c.benchmark_group("chunking");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("automatic_500_50", |b| {
        b.iter(|| black_box(chunk_text(&text, &automatic, &tokenizer).unwrap()))
    });
    group.bench_function("custom_200_20", |b| {
        b.iter(|| black_box(chunk_text(&text, &custom, &tokenizer).unwrap()))
    });
    group.bench_function("clean_automatic", |b| {
        b.iter(|| black_box(clean_text(&text, &automatic.cleaning)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
