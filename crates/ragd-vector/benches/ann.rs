//! Search latency of `HnswIndex` on 10k random 384-d unit vectors: the graph, exact search, and filtered
//! search at 10% and 1% selectivity, plus an upsert batch. The full table (100k, recall, clustered data)
//! comes from `cargo run --release -p ragd-vector --example ann_report`.
//!
//! Run: `cargo bench -p ragd-vector --bench ann`.

#[path = "support/data.rs"]
mod data;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ragd_vector::{HnswIndex, HnswOptions, VectorEntry, VectorIndex};

const DIMENSIONS: usize = 384;
const SIZE: usize = 10_000;

fn entries(vectors: &[Vec<f32>], first_key: u64) -> Vec<VectorEntry<'_>> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, vector)| {
            let key = first_key + i as u64;
            VectorEntry {
                key,
                document: data::document_of(key),
                vector,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()).expect("open");
    let vectors = data::random_vectors(1, SIZE, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).expect("upsert");
    let queries = data::random_vectors(2, 64, DIMENSIONS);
    let ten_percent = |document: u64| document.is_multiple_of(10);
    let one_percent = |document: u64| document.is_multiple_of(100);

    let mut group = c.benchmark_group("ann_10k");
    group.sample_size(20);
    let mut next = 0usize;
    let mut query = || {
        next = (next + 1) % queries.len();
        &queries[next]
    };
    group.bench_function("search", |b| {
        b.iter(|| black_box(index.search(query(), 10, None).unwrap()))
    });
    group.bench_function("search_exact", |b| {
        b.iter(|| black_box(index.search_exact(query(), 10, None).unwrap()))
    });
    group.bench_function("search_filtered_10pct", |b| {
        b.iter(|| black_box(index.search(query(), 10, Some(&ten_percent)).unwrap()))
    });
    group.bench_function("search_filtered_1pct", |b| {
        b.iter(|| black_box(index.search(query(), 10, Some(&one_percent)).unwrap()))
    });
    group.bench_function("score_keys_100", |b| {
        let keys: Vec<u64> = (0..100).map(|i| i * 97).collect();
        b.iter(|| black_box(index.score_keys(query(), &keys).unwrap()))
    });
    let extra = data::random_vectors(3, 100, DIMENSIONS);
    group.bench_function("upsert_100_replacing", |b| {
        b.iter_batched(
            || entries(&extra, 5_000),
            |batch| index.upsert(&batch).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
