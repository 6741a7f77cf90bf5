//! Hit statistics: Prometheus counters and histograms (through the `metrics` facade), the same figures
//! per dataset for the JSON endpoint, and per-second buckets of the last minutes for the page's plot.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::Outcome;

/// Seconds of per-second buckets kept for the plot.
const WINDOW_SECS: u64 = 600;
/// Latency histogram bucket bounds of the plot's percentiles, in microseconds (log scale).
const LATENCY_BOUNDS_US: [u64; 24] = [
    5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500,
    10_000, 20_000, 50_000, 100_000, 300_000, 1_000_000,
];

/// How one lookup ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    L1Exact,
    L1Semantic,
    L2,
    Miss,
    Bypass,
}

impl Counted {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::L1Exact { .. } => Counted::L1Exact,
            Outcome::L1Semantic { .. } => Counted::L1Semantic,
            Outcome::L2 { .. } => Counted::L2,
            Outcome::Miss | Outcome::Refresh => Counted::Miss,
            Outcome::Bypass | Outcome::Off => Counted::Bypass,
        }
    }
}

/// Counts of one dataset (or of all).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub l1_exact: u64,
    pub l1_semantic: u64,
    pub l2: u64,
    pub misses: u64,
    pub bypassed: u64,
}

impl Counts {
    fn add(&mut self, counted: Counted) {
        match counted {
            Counted::L1Exact => self.l1_exact += 1,
            Counted::L1Semantic => self.l1_semantic += 1,
            Counted::L2 => self.l2 += 1,
            Counted::Miss => self.misses += 1,
            Counted::Bypass => self.bypassed += 1,
        }
    }

    /// Hits over lookups (bypassed requests are not lookups); 0 before any lookup.
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.l1_exact + self.l1_semantic + self.l2;
        let lookups = hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        }
    }
}

/// One second of the plot.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    /// Unix time, seconds.
    pub t: u64,
    #[serde(flatten)]
    pub counts: Counts,
    pub hit_ratio: f64,
    /// Lookup latency percentiles of the second in milliseconds (upper bucket bounds), hits only.
    pub hit_p50_ms: Option<f64>,
    pub hit_p99_ms: Option<f64>,
    /// The same for requests answered by computing (misses, refreshes and bypasses): the whole retrieval.
    pub miss_p50_ms: Option<f64>,
    pub miss_p99_ms: Option<f64>,
}

#[derive(Debug, Clone)]
struct Bucket {
    t: u64,
    counts: Counts,
    hit_latency: [u32; LATENCY_BOUNDS_US.len() + 1],
    miss_latency: [u32; LATENCY_BOUNDS_US.len() + 1],
}

/// One dataset's counts and its Prometheus counter handles.
struct DatasetCounters {
    counts: Counts,
    l1_exact: metrics::Counter,
    l1_semantic: metrics::Counter,
    l2: metrics::Counter,
    misses: metrics::Counter,
}

impl DatasetCounters {
    fn new(dataset: &str) -> Self {
        let hits = |tier: &'static str, kind: &'static str| metrics::counter!("ragd_cache_hits_total", "tier" => tier, "kind" => kind, "dataset" => dataset.to_owned());
        Self {
            counts: Counts::default(),
            l1_exact: hits("l1", "exact"),
            l1_semantic: hits("l1", "semantic"),
            l2: hits("l2", "exact"),
            misses: metrics::counter!("ragd_cache_misses_total", "dataset" => dataset.to_owned()),
        }
    }
}

impl std::fmt::Debug for DatasetCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.counts.fmt(f)
    }
}

/// The cache's statistics.
#[derive(Debug, Default)]
pub struct Stats {
    per_dataset: Mutex<HashMap<String, DatasetCounters>>,
    /// `ragd_cache_lookup_seconds{result}` by [`Counted`], registered at the first request (after the
    /// server has installed its recorder; a handle taken before would record nowhere).
    latency: std::sync::OnceLock<[metrics::Histogram; 5]>,
    seconds: Mutex<VecDeque<Bucket>>,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_outages: AtomicU64,
    pub(crate) l2_writes_dropped: AtomicU64,
}

impl Stats {
    /// Records one request: its outcome, the datasets it read and how long the answer took.
    pub fn record(&self, outcome: &Outcome, datasets: &[(String, u64)], elapsed: Duration) {
        let counted = Counted::of(outcome);
        {
            let mut per_dataset = lock(&self.per_dataset);
            for (dataset, _) in datasets {
                let entry = match per_dataset.get_mut(dataset) {
                    Some(entry) => entry,
                    None => per_dataset
                        .entry(dataset.clone())
                        .or_insert_with(|| DatasetCounters::new(dataset)),
                };
                entry.counts.add(counted);
                // Registered once per dataset; incrementing a handle allocates nothing.
                match counted {
                    Counted::L1Exact => entry.l1_exact.increment(1),
                    Counted::L1Semantic => entry.l1_semantic.increment(1),
                    Counted::L2 => entry.l2.increment(1),
                    Counted::Miss => entry.misses.increment(1),
                    Counted::Bypass => {}
                }
            }
        }
        let latency = self.latency.get_or_init(|| {
            ["exact", "semantic", "l2", "miss", "bypass"]
                .map(|result| metrics::histogram!("ragd_cache_lookup_seconds", "result" => result))
        });
        latency[counted as usize].record(elapsed.as_secs_f64());
        let now = unix_secs();
        let latency = latency_bucket(elapsed);
        let mut seconds = lock(&self.seconds);
        if seconds.back().is_none_or(|b| b.t != now) {
            seconds.push_back(Bucket {
                t: now,
                counts: Counts::default(),
                hit_latency: [0; LATENCY_BOUNDS_US.len() + 1],
                miss_latency: [0; LATENCY_BOUNDS_US.len() + 1],
            });
            while seconds.front().is_some_and(|b| b.t + WINDOW_SECS <= now) {
                seconds.pop_front();
            }
        }
        if let Some(bucket) = seconds.back_mut() {
            bucket.counts.add(counted);
            match counted {
                Counted::L1Exact | Counted::L1Semantic | Counted::L2 => {
                    bucket.hit_latency[latency] += 1
                }
                Counted::Miss | Counted::Bypass => bucket.miss_latency[latency] += 1,
            }
        }
    }

    /// Totals over all datasets.
    pub fn totals(&self) -> Counts {
        let mut total = Counts::default();
        for counts in lock(&self.per_dataset).values().map(|d| &d.counts) {
            total.l1_exact += counts.l1_exact;
            total.l1_semantic += counts.l1_semantic;
            total.l2 += counts.l2;
            total.misses += counts.misses;
            total.bypassed += counts.bypassed;
        }
        total
    }

    /// Counts per dataset id.
    pub fn per_dataset(&self) -> BTreeMap<String, Counts> {
        lock(&self.per_dataset)
            .iter()
            .map(|(k, v)| (k.clone(), v.counts))
            .collect()
    }

    /// The per-second series of the last `secs` seconds (seconds without requests are omitted).
    pub fn series(&self, secs: u64) -> Vec<Second> {
        let now = unix_secs();
        lock(&self.seconds)
            .iter()
            .filter(|b| b.t + secs > now)
            .map(|b| Second {
                t: b.t,
                counts: b.counts,
                hit_ratio: b.counts.hit_ratio(),
                hit_p50_ms: percentile(&b.hit_latency, 0.50),
                hit_p99_ms: percentile(&b.hit_latency, 0.99),
                miss_p50_ms: percentile(&b.miss_latency, 0.50),
                miss_p99_ms: percentile(&b.miss_latency, 0.99),
            })
            .collect()
    }

    pub(crate) fn l2_error(&self, op: &'static str) {
        self.l2_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ragd_cache_l2_errors_total", "op" => op).increment(1);
    }
}

fn latency_bucket(elapsed: Duration) -> usize {
    let us = elapsed.as_micros() as u64;
    LATENCY_BOUNDS_US
        .iter()
        .position(|&bound| us <= bound)
        .unwrap_or(LATENCY_BOUNDS_US.len())
}

/// The upper bound (ms) of the bucket holding quantile `q`; `None` without samples.
fn percentile(histogram: &[u32], q: f64) -> Option<f64> {
    let total: u64 = histogram.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &count) in histogram.iter().enumerate() {
        seen += u64::from(count);
        if seen >= rank {
            let bound = LATENCY_BOUNDS_US.get(i).copied().unwrap_or(2_000_000);
            return Some(bound as f64 / 1_000.0);
        }
    }
    None
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_dataset_and_in_total() {
        let stats = Stats::default();
        let d = |id: &str| vec![(id.to_owned(), 1)];
        stats.record(&Outcome::Miss, &d("a"), Duration::from_millis(5));
        stats.record(
            &Outcome::L1Exact { age_ms: 1 },
            &d("a"),
            Duration::from_micros(20),
        );
        stats.record(
            &Outcome::L1Semantic {
                age_ms: 1,
                similarity: 0.97,
            },
            &d("b"),
            Duration::from_micros(300),
        );
        stats.record(
            &Outcome::L2 { age_ms: 1 },
            &d("b"),
            Duration::from_micros(900),
        );
        stats.record(&Outcome::Bypass, &d("b"), Duration::from_millis(4));
        let per = stats.per_dataset();
        assert_eq!(per["a"].l1_exact, 1);
        assert_eq!(per["a"].misses, 1);
        assert_eq!(per["b"].l1_semantic, 1);
        assert_eq!(per["b"].l2, 1);
        assert_eq!(per["b"].bypassed, 1);
        let totals = stats.totals();
        assert!((totals.hit_ratio() - 0.75).abs() < 1e-9);
        let series = stats.series(60);
        let sum: u64 = series.iter().map(|s| s.counts.misses + s.counts.l2).sum();
        assert_eq!(sum, 2);
        let last = series.last().unwrap();
        assert!(last.hit_p50_ms.is_some());
        assert_eq!(
            last.miss_p99_ms,
            Some(5.0),
            "4 and 5 ms land in the 5 ms bucket"
        );
    }

    #[test]
    fn percentiles_use_bucket_upper_bounds() {
        let mut histogram = [0u32; LATENCY_BOUNDS_US.len() + 1];
        assert_eq!(percentile(&histogram, 0.5), None);
        histogram[latency_bucket(Duration::from_micros(8))] += 99;
        histogram[latency_bucket(Duration::from_millis(40))] += 1;
        assert_eq!(percentile(&histogram, 0.5), Some(0.01));
        assert_eq!(percentile(&histogram, 0.99), Some(0.01));
        assert_eq!(percentile(&histogram, 1.0), Some(50.0));
    }
}
