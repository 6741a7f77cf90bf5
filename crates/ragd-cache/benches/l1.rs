//! L1 lookup cost as the cache grows: an exact hit, and a semantic lookup (SimHash prefilter, exact
//! cosine on the candidates) among 1k, 10k and 100k cached queries of one group (the worst case: every
//! query of the same datasets and settings), for a query with a neighbour above the threshold and one
//! without (a full scan that finds nothing).
//!
//! Two kinds of vectors: isotropic random ones, and anisotropic ones shaped like sentence embeddings
//! (a shared direction, so unrelated vectors have cosine ≈ 0.36 on average, as all-MiniLM-L6-v2's do),
//! which let more candidates through the prefilter. Compare with an uncached hybrid retrieve: about
//! 4–5 ms on these machines (benches/load.sh, 1 connection).
//!
//! Run: `cargo bench -p ragd-cache --bench l1`.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ragd_cache::CachedRetrieval;
use ragd_cache::key::Key;
use ragd_cache::l1::L1;
use ragd_cache::semantic::SplitMix64;

const DIMS: usize = 384;
const THRESHOLD: f32 = 0.97;

/// Deterministic Gaussian samples from the cache's own generator.
struct Rng(SplitMix64);

impl Rng {
    fn gaussian(&mut self) -> f32 {
        self.0.normal_pair().0 as f32
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// `anisotropic`: 0.6 of a shared unit direction plus 0.8 of an isotropic one (cos ≈ 0.36 between two).
fn vector(rng: &mut Rng, mean: &[f32], anisotropic: bool) -> Vec<f32> {
    let noise = unit((0..DIMS).map(|_| rng.gaussian()).collect());
    if !anisotropic {
        return noise;
    }
    unit(
        mean.iter()
            .zip(&noise)
            .map(|(m, n)| 0.6 * m + 0.8 * n)
            .collect(),
    )
}

fn entry(group: Key, embedding: Vec<f32>) -> Arc<CachedRetrieval> {
    Arc::new(CachedRetrieval {
        query: String::new(),
        datasets: vec![("dataset".to_owned(), 1)],
        records: Vec::new(),
        embedding: Some(embedding),
        created_ms: 0,
        group,
        weight: 4_096,
        rendered: OnceLock::new(),
    })
}

fn bench(c: &mut Criterion) {
    let group_key = Key(7);
    for anisotropic in [false, true] {
        let kind = if anisotropic {
            "anisotropic"
        } else {
            "isotropic"
        };
        let mut benches = c.benchmark_group(format!("l1_{kind}"));
        benches.measurement_time(Duration::from_secs(3));
        for size in [1_000u128, 10_000, 100_000] {
            let mut rng = Rng(SplitMix64(size as u64 + u64::from(anisotropic)));
            let mean = unit((0..DIMS).map(|_| rng.gaussian()).collect());
            let l1 = L1::new(
                u64::MAX,
                Duration::from_secs(3_600),
                1 << 20,
                THRESHOLD,
                DIMS,
            );
            let mut stored = Vec::new();
            for k in 0..size {
                let v = vector(&mut rng, &mean, anisotropic);
                if k < 64 {
                    stored.push(v.clone());
                }
                l1.insert(Key(k), entry(group_key, v));
            }
            l1.sync();
            // A near neighbour of a stored query (cosine ≈ 0.99) and fresh queries with none.
            let near: Vec<Vec<f32>> = stored
                .iter()
                .map(|s| {
                    let noise = vector(&mut rng, &mean, false);
                    unit(s.iter().zip(&noise).map(|(a, b)| a + 0.14 * b).collect())
                })
                .collect();
            let fresh: Vec<Vec<f32>> = (0..64)
                .map(|_| vector(&mut rng, &mean, anisotropic))
                .collect();
            let mut i = 0usize;
            benches.bench_function(BenchmarkId::new("exact_hit", size), |b| {
                b.iter(|| {
                    i = (i + 1) % 64;
                    black_box(l1.get(&Key(i as u128)))
                })
            });
            benches.bench_function(BenchmarkId::new("semantic_hit", size), |b| {
                b.iter(|| {
                    i = (i + 1) % 64;
                    let q = &near[i];
                    let signature = l1.sign(q).unwrap();
                    let found = l1.nearest(&group_key, &signature, q);
                    assert!(found.is_some(), "the neighbour is found");
                    black_box(found)
                })
            });
            benches.bench_function(BenchmarkId::new("semantic_miss", size), |b| {
                b.iter(|| {
                    i = (i + 1) % 64;
                    let q = &fresh[i];
                    let signature = l1.sign(q).unwrap();
                    black_box(l1.nearest(&group_key, &signature, q))
                })
            });
        }
        benches.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
