//! Integration tests of ragd-vector: the `VectorIndex` conformance suite (run here against `HnswIndex`;
//! any other implementation runs the same functions), then `HnswIndex`'s own persistence, crash-safety,
//! recall and concurrency tests.

#[path = "../../benches/support/data.rs"]
mod data;

mod conformance;
mod hnsw;

use ragd_vector::VectorEntry;

pub const DIMENSIONS: usize = 384;

/// Entries for `vectors` with keys `first_key..` and the synthetic documents (10 keys per document).
pub fn entries(vectors: &[Vec<f32>], first_key: u64) -> Vec<VectorEntry<'_>> {
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

/// Exact cosine similarity, computed independently of the crate.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb)) as f32
}
