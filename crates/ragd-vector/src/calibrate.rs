//! Calibration: measuring, on the index's own data, the beam width that reaches the target recall and
//! whether the graph beats an exact scan at all.
//!
//! Why: how hard HNSW finds a data set varies enormously. On clustered vectors (real sentence embeddings
//! look like this) a beam of 64 already gives recall@10 = 1.0 several times faster than a scan; on
//! uniformly random 384-d vectors even a beam of 2048 stays below 0.98 at 100k and is slower than the
//! scan. A fixed beam would be either wasteful or inaccurate, so the index measures instead.
//!
//! How: 32 synthetic queries, each a stored vector plus an equally long random vector (cosine ~0.7 to its
//! source: near its neighbourhood, not on it), chosen by a PRNG seeded with the index size so the
//! measurement is repeatable. Their exact top-10 is the truth; the beam starts at `expansion_search` and
//! doubles until recall reaches `target_recall`, or until a graph search costs more than a scan (then
//! exact search is used at this size: it is both exact and faster). Times are the fastest of three runs.
//! Cost: per query 3 exact scans plus 4 graph searches per beam tried, about 1 s at 100k clustered
//! vectors and 3 s at 100k random ones. It runs at open and after writes that change the size by half,
//! under the read lock (so it delays writers, not searches).

use std::time::Instant;

use crate::graph::Graph;
use crate::hnsw::graph_search;
use crate::store::{VectorStore, normalized};
use crate::{HnswOptions, VectorError};

const QUERIES: usize = 32;
/// Timing runs per measurement (the fastest counts).
const ROUNDS: usize = 3;
const K: usize = 10;
/// Widest beam tried (beyond it a graph search costs about as much as scanning tens of thousands of
/// vectors anyway).
const MAX_EXPANSION: usize = 8192;

/// What calibration measured and decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Vectors in the index when measured.
    pub len: usize,
    /// Beam width used for graph searches: the narrowest that reached the target recall (or the widest
    /// tried, if none did).
    pub expansion_search: usize,
    /// Recall@10 of the graph at that width on the calibration queries.
    pub recall: f64,
    /// Mean time of one graph search at that width, and of one exact scan of the whole index.
    pub graph_micros: f64,
    pub exact_micros: f64,
    /// Number of vectors whose exact scan costs as much as one graph search: searches over fewer
    /// candidates scan. `usize::MAX` when the graph missed the target recall or is slower than a scan.
    pub exact_below: usize,
}

impl Calibration {
    /// Whether unfiltered searches use the graph.
    pub fn uses_graph(&self) -> bool {
        self.exact_below <= self.len
    }
}

/// Measures the graph against exact search over the current contents.
pub(crate) fn calibrate(
    store: &VectorStore,
    graph: &Graph,
    options: &HnswOptions,
) -> Result<Calibration, VectorError> {
    let len = store.len();
    let queries = synthetic_queries(store, QUERIES);

    let mut truth: Vec<Vec<u64>> = Vec::with_capacity(queries.len());
    let exact_micros = fastest_of_rounds(queries.len(), || {
        for query in &queries {
            let top: Vec<u64> = store
                .top_k(query, K)
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            if truth.len() < queries.len() {
                truth.push(top);
            }
        }
        Ok(())
    })?;

    let mut expansion = options.expansion_search.max(K);
    // A beam over an eighth of the index makes the graph touch most vectors (each visit compares about
    // `connectivity` neighbours) in random order: a scan is cheaper, so stop widening there.
    let widest = MAX_EXPANSION.min(len / 8).max(expansion);
    loop {
        let found: Vec<Vec<(u64, f32)>> = queries
            .iter()
            .map(|query| graph_search(store, graph, expansion, query, K, None))
            .collect::<Result<_, _>>()?;
        let recall = recall(&truth, &found);
        let graph_micros = fastest_of_rounds(queries.len(), || {
            for query in &queries {
                std::hint::black_box(graph_search(store, graph, expansion, query, K, None)?);
            }
            Ok(())
        })?;
        let reached = recall >= options.target_recall;
        let slower = graph_micros >= exact_micros;
        if reached || slower || expansion >= widest {
            let exact_below = if reached && !slower {
                ((len as f64) * graph_micros / exact_micros).ceil() as usize
            } else {
                usize::MAX
            };
            return Ok(Calibration {
                len,
                expansion_search: expansion,
                recall,
                graph_micros,
                exact_micros,
                exact_below,
            });
        }
        expansion = (expansion * 2).min(widest);
    }
}

/// Mean time per query of the fastest of `ROUNDS` runs: the minimum filters out time lost to other
/// processes on a shared machine, which would otherwise tip the graph-or-exact decision.
fn fastest_of_rounds(
    queries: usize,
    mut run: impl FnMut() -> Result<(), VectorError>,
) -> Result<f64, VectorError> {
    let mut fastest = f64::INFINITY;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        run()?;
        fastest = fastest.min(micros_per_query(started, queries));
    }
    Ok(fastest)
}

fn micros_per_query(started: Instant, queries: usize) -> f64 {
    started.elapsed().as_secs_f64() * 1e6 / queries.max(1) as f64
}

fn recall(truth: &[Vec<u64>], found: &[Vec<(u64, f32)>]) -> f64 {
    let total: usize = truth.iter().map(Vec::len).sum();
    if total == 0 {
        return 1.0;
    }
    let hit: usize = truth
        .iter()
        .zip(found)
        .map(|(truth, found)| {
            truth
                .iter()
                .filter(|key| found.iter().any(|hit| hit.0 == **key))
                .count()
        })
        .sum();
    hit as f64 / total as f64
}

/// Stored vectors pushed off by a random unit vector: normalize(v + r), cosine ~0.7 to v.
fn synthetic_queries(store: &VectorStore, count: usize) -> Vec<Vec<f32>> {
    let len = store.len();
    if len == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix64(len as u64);
    let dimensions = store.vectors().len() / len;
    (0..count)
        .map(|_| {
            let key = store.keys()[(rng.next() % len as u64) as usize];
            let source = store.vector(key).expect("stored key");
            let noise = normalized(&(0..dimensions).map(|_| rng.gaussian()).collect::<Vec<_>>());
            let shifted: Vec<f32> = source.iter().zip(&noise).map(|(v, n)| v + n).collect();
            normalized(&shifted)
        })
        .collect()
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f32 {
        let u = ((self.next() >> 11) as f64 / (1u64 << 53) as f64).max(f64::MIN_POSITIVE);
        let v = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}
