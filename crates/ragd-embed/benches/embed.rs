//! Embedding benchmarks with the real model: query latency (batch 1) and document throughput at batch
//! sizes 8, 32 and 64. Texts are the committed fixture documents cut into sentence-sized passages.
//!
//! Run: `cargo bench -p ragd-embed --bench embed` (the model must be fetched: `ragd models fetch`).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ragd_config::Config;
use ragd_embed::{Embedder, OnnxEmbedder, OnnxEmbedderOptions};

/// Passages of 40 words (about 55 tokens, a typical retrieval chunk) of plain prose, the same eight
/// repeated, so that every batch size sees the same length mix (a batch is padded to its longest text).
fn passages() -> Vec<String> {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/docs");
    let text = std::fs::read_to_string(docs.join("guide.txt")).expect("fixture exists");
    let words: Vec<&str> = text.split_whitespace().collect();
    let passages: Vec<String> = words.chunks_exact(40).map(|w| w.join(" ")).collect();
    assert!(passages.len() >= 8, "{} passages", passages.len());
    passages.iter().take(8).cycle().take(64).cloned().collect()
}

fn embedder() -> OnnxEmbedder {
    let config = Config::load(None, std::env::vars()).expect("configuration loads");
    let mut options = OnnxEmbedderOptions::from_config(&config.models, &config.embed);
    options.batch_size = 64;
    OnnxEmbedder::load(&options).expect("model loads; run `ragd models fetch`")
}

fn bench(c: &mut Criterion) {
    let embedder = embedder();
    let passages = passages();

    let queries = [
        "how do bees survive the winter",
        "what temperature does the cluster keep",
        "when should hives be inspected in cold weather",
        "how much honey does a colony need",
        "why is ventilation important in a hive",
        "signs of a queenless colony",
        "feeding sugar syrup versus fondant",
        "protecting hives from mice",
    ];
    let mut group = c.benchmark_group("embed_query");
    group.throughput(Throughput::Elements(1));
    group.bench_function("batch_1", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(embedder.embed_query(queries[i]).unwrap())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("embed_documents");
    group.sample_size(20);
    for batch in [8usize, 32, 64] {
        let texts: Vec<&str> = passages.iter().take(batch).map(String::as_str).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &texts, |b, texts| {
            b.iter(|| black_box(embedder.embed_documents(texts).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
