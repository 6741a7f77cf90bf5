//! The exact copy of every vector: the source of truth that the HNSW graph is built from.
//!
//! Vectors are stored unit-normalized (so cosine similarity is a dot product) in one contiguous
//! `Vec<f32>`, one slot per vector; removal swaps the last slot into the hole, so slots stay dense.
//! `slot_of` maps a key to its slot and `by_document` a document to its (sorted) keys. Exact search is a
//! single pass of dot products over the contiguous slots, or over the gathered slots of allowed documents.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// The vectors, their keys and documents, and the lookups between them.
#[derive(Debug, Default)]
pub(crate) struct VectorStore {
    dimensions: usize,
    /// `len * dimensions` unit-norm components, slot-major.
    vectors: Vec<f32>,
    keys: Vec<u64>,
    documents: Vec<u64>,
    slot_of: HashMap<u64, usize>,
    by_document: HashMap<u64, BTreeSet<u64>>,
}

impl VectorStore {
    pub(crate) fn new(dimensions: usize) -> Self {
        VectorStore {
            dimensions,
            ..VectorStore::default()
        }
    }

    /// Rebuilds a store from persisted columns (vectors already normalized). Fails on a duplicate key.
    pub(crate) fn from_columns(
        dimensions: usize,
        keys: Vec<u64>,
        documents: Vec<u64>,
        vectors: Vec<f32>,
    ) -> Result<Self, u64> {
        debug_assert_eq!(keys.len(), documents.len());
        debug_assert_eq!(vectors.len(), keys.len() * dimensions);
        let mut slot_of = HashMap::with_capacity(keys.len());
        let mut by_document: HashMap<u64, BTreeSet<u64>> = HashMap::new();
        for (slot, (&key, &document)) in keys.iter().zip(&documents).enumerate() {
            if slot_of.insert(key, slot).is_some() {
                return Err(key);
            }
            by_document.entry(document).or_default().insert(key);
        }
        Ok(VectorStore {
            dimensions,
            vectors,
            keys,
            documents,
            slot_of,
            by_document,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn keys(&self) -> &[u64] {
        &self.keys
    }

    pub(crate) fn documents(&self) -> &[u64] {
        &self.documents
    }

    /// All vectors, slot-major.
    pub(crate) fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.slot_of.contains_key(&key)
    }

    pub(crate) fn vector(&self, key: u64) -> Option<&[f32]> {
        self.slot_of.get(&key).map(|&slot| self.slot_vector(slot))
    }

    pub(crate) fn document_of(&self, key: u64) -> Option<u64> {
        self.slot_of.get(&key).map(|&slot| self.documents[slot])
    }

    pub(crate) fn document_keys(&self, document: u64) -> Vec<u64> {
        self.by_document
            .get(&document)
            .map(|keys| keys.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn document_len(&self, document: u64) -> usize {
        self.by_document.get(&document).map_or(0, BTreeSet::len)
    }

    /// Number of vectors whose document passes `allowed`, calling it once per document.
    pub(crate) fn count_allowed(&self, allowed: &dyn Fn(u64) -> bool) -> usize {
        self.by_document
            .iter()
            .filter(|(document, _)| allowed(**document))
            .map(|(_, keys)| keys.len())
            .sum()
    }

    fn slot_vector(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dimensions..(slot + 1) * self.dimensions]
    }

    /// Inserts or replaces `key` with an already normalized vector.
    pub(crate) fn upsert(&mut self, key: u64, document: u64, normalized: &[f32]) {
        debug_assert_eq!(normalized.len(), self.dimensions);
        if let Some(&slot) = self.slot_of.get(&key) {
            let previous = self.documents[slot];
            if previous != document {
                self.unlink_document(previous, key);
                self.by_document.entry(document).or_default().insert(key);
                self.documents[slot] = document;
            }
            let dims = self.dimensions;
            self.vectors[slot * dims..(slot + 1) * dims].copy_from_slice(normalized);
            return;
        }
        self.slot_of.insert(key, self.keys.len());
        self.keys.push(key);
        self.documents.push(document);
        self.vectors.extend_from_slice(normalized);
        self.by_document.entry(document).or_default().insert(key);
    }

    /// Removes `key`; returns whether it was present.
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&key) else {
            return false;
        };
        let document = self.documents[slot];
        self.unlink_document(document, key);
        let last = self.keys.len() - 1;
        if slot != last {
            let dims = self.dimensions;
            self.vectors
                .copy_within(last * dims..(last + 1) * dims, slot * dims);
            self.keys[slot] = self.keys[last];
            self.documents[slot] = self.documents[last];
            self.slot_of.insert(self.keys[slot], slot);
        }
        self.keys.truncate(last);
        self.documents.truncate(last);
        self.vectors.truncate(last * self.dimensions);
        true
    }

    fn unlink_document(&mut self, document: u64, key: u64) {
        if let Some(keys) = self.by_document.get_mut(&document) {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_document.remove(&document);
            }
        }
    }

    /// Exact cosine of a normalized query with a stored key.
    pub(crate) fn score(&self, query: &[f32], key: u64) -> Option<f32> {
        self.vector(key).map(|vector| dot(query, vector))
    }

    /// Exact top-k over every vector, best first.
    pub(crate) fn top_k(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let mut top = TopK::new(k);
        if self.dimensions == 0 {
            self.keys.iter().for_each(|&key| top.push(key, 0.0));
            return top.into_sorted();
        }
        for (slot, vector) in self.vectors.chunks_exact(self.dimensions).enumerate() {
            top.push(self.keys[slot], dot(query, vector));
        }
        top.into_sorted()
    }

    /// Exact top-k over the vectors of documents that pass `allowed`, best first.
    pub(crate) fn top_k_allowed(
        &self,
        query: &[f32],
        k: usize,
        allowed: &dyn Fn(u64) -> bool,
    ) -> Vec<(u64, f32)> {
        let mut slots: Vec<usize> = self
            .by_document
            .iter()
            .filter(|(document, _)| allowed(**document))
            .flat_map(|(_, keys)| keys.iter().map(|key| self.slot_of[key]))
            .collect();
        // Visiting slots in memory order keeps the scan close to sequential.
        slots.sort_unstable();
        let mut top = TopK::new(k);
        for slot in slots {
            top.push(self.keys[slot], dot(query, self.slot_vector(slot)));
        }
        top.into_sorted()
    }
}

/// Returns `vector` scaled to unit norm (a zero vector stays zero: its cosine with anything is 0).
pub(crate) fn normalized(vector: &[f32]) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return vec![0.0; vector.len()];
    }
    vector
        .iter()
        .map(|&x| (f64::from(x) / norm) as f32)
        .collect()
}

/// Dot product with 16 independent accumulators, which the compiler turns into SIMD lanes.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// A scored key ordered best-first: higher score, then lower key.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    key: u64,
}

impl Ord for Ranked {
    /// `Greater` means better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.key.cmp(&self.key))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// Keeps the best `k` of a stream of scored keys (a min-heap whose top is the worst kept).
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1).min(4096)),
        }
    }

    pub(crate) fn push(&mut self, key: u64, score: f32) {
        let candidate = Ranked { score, key };
        if self.heap.len() < self.k {
            self.heap.push(Reverse(candidate));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate > worst.0
        {
            *worst = Reverse(candidate);
        }
    }

    /// The kept keys, best first (ties by key ascending).
    pub(crate) fn into_sorted(self) -> Vec<(u64, f32)> {
        // Ascending `Reverse` order is descending `Ranked` order: best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(ranked)| (ranked.key, ranked.score))
            .collect()
    }
}

/// Sorts scored keys best first, ties by key ascending.
pub(crate) fn sort_best_first(hits: &mut [(u64, f32)]) {
    hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(entries: &[(u64, u64, [f32; 2])]) -> VectorStore {
        let mut store = VectorStore::new(2);
        for (key, document, vector) in entries {
            store.upsert(*key, *document, &normalized(vector));
        }
        store
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_key() {
        let mut top = TopK::new(3);
        for (key, score) in [(5, 0.5), (1, 0.9), (4, 0.5), (2, 0.1), (3, 0.5)] {
            top.push(key, score);
        }
        assert_eq!(top.into_sorted(), vec![(1, 0.9), (3, 0.5), (4, 0.5)]);
    }

    #[test]
    fn top_k_of_zero_is_empty() {
        let mut top = TopK::new(0);
        top.push(1, 1.0);
        assert!(top.into_sorted().is_empty());
    }

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn normalized_has_unit_norm_and_zero_stays_zero() {
        let v = normalized(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn remove_swaps_the_last_slot_in_and_keeps_lookups_right() {
        let mut store = store_with(&[
            (1, 10, [1.0, 0.0]),
            (2, 10, [0.0, 1.0]),
            (3, 20, [1.0, 1.0]),
        ]);
        assert!(store.remove(1));
        assert!(!store.remove(1));
        assert_eq!(store.len(), 2);
        assert_eq!(store.document_of(3), Some(20));
        assert_eq!(store.document_keys(10), vec![2]);
        let v = store.vector(3).unwrap();
        assert!((v[0] - v[1]).abs() < 1e-6);
        assert!(store.remove(2) && store.remove(3));
        assert_eq!(store.len(), 0);
        assert!(store.vectors().is_empty());
        assert_eq!(store.document_len(10), 0);
    }

    #[test]
    fn upsert_moves_a_key_between_documents() {
        let store = store_with(&[(1, 10, [1.0, 0.0]), (1, 20, [0.0, 1.0])]);
        assert_eq!(store.len(), 1);
        assert_eq!(store.document_len(10), 0);
        assert_eq!(store.document_keys(20), vec![1]);
        assert_eq!(store.top_k(&[0.0, 1.0], 1), vec![(1, 1.0)]);
    }

    #[test]
    fn allowed_search_only_sees_allowed_documents() {
        let store = store_with(&[
            (1, 10, [1.0, 0.0]),
            (2, 20, [0.9, 0.1]),
            (3, 30, [0.0, 1.0]),
        ]);
        let allowed = |document: u64| document != 10;
        assert_eq!(store.count_allowed(&allowed), 2);
        let hits = store.top_k_allowed(&[1.0, 0.0], 5, &allowed);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn from_columns_rejects_duplicate_keys() {
        assert_eq!(
            VectorStore::from_columns(1, vec![1, 1], vec![0, 0], vec![1.0, 1.0]).unwrap_err(),
            1
        );
    }
}
