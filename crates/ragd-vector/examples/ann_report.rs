//! Measures `HnswIndex` on synthetic 384-d vectors and prints Markdown tables: build time, recall@10
//! against exact search over 200 queries, single-thread queries/s of the graph and of exact search, and
//! filtered search at 10% and 1% selectivity; plus the exact-vs-graph crossover that sets `exact_below`.
//!
//! Run: `cargo run --release -p ragd-vector --example ann_report -- [options]`
//!   --sizes 10000,100000      corpus sizes
//!   --data random,clustered   data sets
//!   --ef 16,32,64,128,256     search beam widths to sweep
//!   --connectivity N          --expansion-add N      graph options (default: HnswOptions::default())
//!   --queries N               (default 200)
//!   --crossover 500,1000,...  sizes for the exact-vs-graph crossover on clustered data (empty to skip)

#[path = "../benches/support/data.rs"]
mod data;

use std::time::{Duration, Instant};

use ragd_vector::{HnswIndex, HnswOptions, VectorEntry, VectorHit, VectorIndex};

const DIMENSIONS: usize = 384;
const K: usize = 10;

struct Args {
    sizes: Vec<usize>,
    data: Vec<String>,
    ef: Vec<usize>,
    options: HnswOptions,
    queries: usize,
    crossover: Vec<usize>,
}

fn parse_list(value: &str) -> Vec<usize> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse().expect("a number"))
        .collect()
}

fn parse_args() -> Args {
    let mut args = Args {
        sizes: vec![10_000, 100_000],
        data: vec!["random".into(), "clustered".into()],
        ef: vec![16, 32, 64, 128, 256],
        options: HnswOptions::default(),
        queries: 200,
        crossover: vec![250, 500, 1_000, 2_000, 4_000, 8_000],
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().unwrap_or_default();
        match flag.as_str() {
            "--sizes" => args.sizes = parse_list(&value),
            "--data" => args.data = value.split(',').map(str::to_owned).collect(),
            "--ef" => args.ef = parse_list(&value),
            "--connectivity" => args.options.connectivity = value.parse().expect("a number"),
            "--expansion-add" => args.options.expansion_add = value.parse().expect("a number"),
            "--queries" => args.queries = value.parse().expect("a number"),
            "--crossover" => args.crossover = parse_list(&value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn corpus(kind: &str, size: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    match kind {
        "random" => (
            data::random_vectors(1, size, DIMENSIONS),
            data::random_vectors(2, queries, DIMENSIONS),
        ),
        "clustered" => {
            // About 100 vectors per topic; queries come from the same topics.
            let mut clusters = data::Clusters::new(3, (size / 100).max(1), DIMENSIONS);
            (clusters.samples(size), clusters.samples(queries))
        }
        other => panic!("unknown data set {other}"),
    }
}

fn build(vectors: &[Vec<f32>], options: HnswOptions) -> (tempfile::TempDir, HnswIndex, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = HnswIndex::open(dir.path(), DIMENSIONS, options).expect("open");
    let started = Instant::now();
    for (batch_number, batch) in vectors.chunks(1_000).enumerate() {
        let entries: Vec<VectorEntry<'_>> = batch
            .iter()
            .enumerate()
            .map(|(i, vector)| {
                let key = (batch_number * 1_000 + i) as u64;
                VectorEntry {
                    key,
                    document: data::document_of(key),
                    vector,
                }
            })
            .collect();
        index.upsert(&entries).expect("upsert");
    }
    (dir, index, started.elapsed())
}

/// Runs every query once; returns the results and queries per second.
fn run(
    queries: &[Vec<f32>],
    mut search: impl FnMut(&[f32]) -> Vec<VectorHit>,
) -> (Vec<Vec<VectorHit>>, f64) {
    let started = Instant::now();
    let results: Vec<Vec<VectorHit>> = queries.iter().map(|q| search(q)).collect();
    (
        results,
        queries.len() as f64 / started.elapsed().as_secs_f64(),
    )
}

fn recall(truth: &[Vec<VectorHit>], found: &[Vec<VectorHit>]) -> f64 {
    let mut hit = 0usize;
    let mut total = 0usize;
    for (truth, found) in truth.iter().zip(found) {
        total += truth.len();
        hit += truth
            .iter()
            .filter(|t| found.iter().any(|f| f.key == t.key))
            .count();
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

fn main() {
    let args = parse_args();
    println!(
        "ragd-vector ann_report: {DIMENSIONS}-d, k={K}, {} queries, options {:?}\n",
        args.queries, args.options
    );

    for kind in &args.data {
        for &size in &args.sizes {
            let (vectors, queries) = corpus(kind, size, args.queries);
            let (_dir, index, build_time) = build(&vectors, args.options);
            let started = Instant::now();
            index.persist().expect("persist");
            let persist_time = started.elapsed();

            println!("### {kind}, N = {size}\n");
            println!(
                "build {:.2} s ({:.0} vectors/s, including calibrations), persist {:.2} s\n",
                build_time.as_secs_f64(),
                size as f64 / build_time.as_secs_f64(),
                persist_time.as_secs_f64()
            );
            let calibration = index.calibration();
            match calibration {
                Some(c) => println!(
                    "calibration: beam {} (recall {:.3} on its queries), graph {:.0} us vs exact {:.0} us, {}\n",
                    c.expansion_search,
                    c.recall,
                    c.graph_micros,
                    c.exact_micros,
                    if c.uses_graph() {
                        "uses the graph"
                    } else {
                        "uses exact search"
                    }
                ),
                None => println!("calibration: none (below exact_below or disabled)\n"),
            }
            let beam = calibration.map_or(args.options.expansion_search, |c| c.expansion_search);
            println!("| search | recall@10 | queries/s |");
            println!("|---|---|---|");
            let (truth, exact_qps) = run(&queries, |q| index.search_exact(q, K, None).unwrap());
            println!("| exact | 1.000 | {exact_qps:.0} |");
            for &ef in &args.ef {
                let (found, qps) = run(&queries, |q| index.search_graph(q, K, None, ef).unwrap());
                println!(
                    "| graph ef={ef} | {:.3} | {qps:.0} |",
                    recall(&truth, &found)
                );
            }
            let (found, qps) = run(&queries, |q| index.search(q, K, None).unwrap());
            println!(
                "| **`search`** | {:.3} | {qps:.0} |",
                recall(&truth, &found)
            );

            for (label, modulus) in [("10%", 10u64), ("1%", 100u64)] {
                let allowed = move |document: u64| document.is_multiple_of(modulus);
                let filter: &(dyn Fn(u64) -> bool + Sync) = &allowed;
                let (truth, exact_qps) = run(&queries, |q| {
                    index.search_exact(q, K, Some(filter)).unwrap()
                });
                let (graph, graph_qps) = run(&queries, |q| {
                    index.search_graph(q, K, Some(filter), beam).unwrap()
                });
                let (found, qps) = run(&queries, |q| index.search(q, K, Some(filter)).unwrap());
                let short = graph.iter().filter(|hits| hits.len() < K).count();
                println!("| filtered {label}: exact | 1.000 | {exact_qps:.0} |");
                println!(
                    "| filtered {label}: graph only, ef={beam} | {:.3} ({short} short) | {graph_qps:.0} |",
                    recall(&truth, &graph)
                );
                println!(
                    "| **filtered {label}: `search`** | {:.3} | {qps:.0} |",
                    recall(&truth, &found)
                );
            }
            println!();
        }
    }

    if !args.crossover.is_empty() {
        println!("### exact vs graph on clustered data: where exact stops being faster\n");
        println!("| N | exact queries/s | graph queries/s (ef) | graph recall@10 |");
        println!("|---|---|---|---|");
        for &size in &args.crossover {
            let (vectors, queries) = corpus("clustered", size, args.queries);
            let options = HnswOptions {
                exact_below: 1,
                ..args.options
            };
            let (_dir, index, _) = build(&vectors, options);
            let beam = index
                .calibrate()
                .unwrap()
                .map_or(options.expansion_search, |c| c.expansion_search);
            // Repeat the queries so that small sizes run long enough to time.
            let repeated: Vec<Vec<f32>> = queries
                .iter()
                .cycle()
                .take(args.queries * 5)
                .cloned()
                .collect();
            let (truth, exact_qps) = run(&repeated, |q| index.search_exact(q, K, None).unwrap());
            let (found, graph_qps) =
                run(&repeated, |q| index.search_graph(q, K, None, beam).unwrap());
            println!(
                "| {size} | {exact_qps:.0} | {graph_qps:.0} ({beam}) | {:.3} |",
                recall(&truth, &found)
            );
        }
    }
}
