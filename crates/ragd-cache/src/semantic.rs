//! The semantic index of L1: for each group, the embeddings of its cached queries, searched for one
//! within a cosine similarity threshold of a new query.
//!
//! A linear scan of float vectors costs ~15 ms at 100k cached queries of 384 dimensions (150 MB of
//! memory traffic), more than the retrieval it would save. So each vector also gets a 256-bit SimHash
//! signature (the signs of its projections on 256 fixed random hyperplanes): two vectors at angle θ
//! disagree on each bit with probability θ/π, independently per hyperplane, so their Hamming distance
//! is Binomial(256, θ/π). A lookup scans the signatures (32 bytes each, 3.2 MB at 100k) and computes the
//! exact cosine only for signatures within a cutoff set six standard deviations above the expected
//! distance at the threshold: a vector at the threshold is missed with probability below 10⁻⁸, and a
//! miss only costs a recomputation, never a wrong answer (the exact cosine decides every hit).

use std::collections::HashMap;

use crate::key::Key;

/// Signature length in 64-bit words (256 bits).
const WORDS: usize = 4;
const BITS: usize = WORDS * 64;

/// A 256-bit SimHash signature.
pub type Signature = [u64; WORDS];

/// The fixed random hyperplanes for one dimension count (seeded: every replica hashes alike).
#[derive(Debug)]
pub struct Hasher {
    dims: usize,
    /// `BITS` rows of `dims` floats.
    planes: Vec<f32>,
}

impl Hasher {
    pub fn new(dims: usize) -> Self {
        let mut rng = SplitMix64(0x5241_4744_2d63_6163); // "RAGD-cac"
        let mut planes = Vec::with_capacity(BITS * dims);
        while planes.len() < BITS * dims {
            let (a, b) = rng.normal_pair();
            planes.push(a as f32);
            planes.push(b as f32);
        }
        planes.truncate(BITS * dims);
        Self { dims, planes }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The signature of a vector of `dims` floats.
    pub fn sign(&self, vector: &[f32]) -> Signature {
        let mut signature = [0u64; WORDS];
        for (bit, plane) in self.planes.chunks_exact(self.dims).enumerate() {
            if dot(plane, vector) >= 0.0 {
                signature[bit / 64] |= 1 << (bit % 64);
            }
        }
        signature
    }
}

/// Dot product with eight independent accumulators, so the compiler vectorizes it (a plain `sum()` is
/// sequential for floats): signing a query is 256 of these.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Largest Hamming distance worth an exact check for a cosine threshold (see the module docs).
pub fn hamming_cutoff(threshold: f32) -> u32 {
    let p = f64::from(threshold.clamp(-1.0, 1.0)).acos() / std::f64::consts::PI;
    let n = BITS as f64;
    let cutoff = n * p + 6.0 * (n * p * (1.0 - p)).sqrt() + 2.0;
    cutoff.ceil().min(n) as u32
}

fn hamming(a: &Signature, b: &Signature) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// The cached queries of one group.
#[derive(Debug, Default)]
pub struct GroupIndex {
    keys: Vec<Key>,
    signatures: Vec<Signature>,
    /// `keys.len() * dims` floats.
    vectors: Vec<f32>,
    positions: HashMap<Key, usize>,
}

/// The best match of a lookup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub key: Key,
    pub similarity: f32,
}

impl GroupIndex {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds (or replaces) the vector of `key`.
    pub fn insert(&mut self, key: Key, signature: Signature, vector: &[f32]) {
        let dims = vector.len();
        if let Some(&at) = self.positions.get(&key) {
            self.signatures[at] = signature;
            self.vectors[at * dims..(at + 1) * dims].copy_from_slice(vector);
            return;
        }
        self.positions.insert(key, self.keys.len());
        self.keys.push(key);
        self.signatures.push(signature);
        self.vectors.extend_from_slice(vector);
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &Key, dims: usize) -> bool {
        let Some(at) = self.positions.remove(key) else {
            return false;
        };
        let last = self.keys.len() - 1;
        self.keys.swap_remove(at);
        self.signatures.swap_remove(at);
        if at != last {
            let (head, tail) = self.vectors.split_at_mut(last * dims);
            head[at * dims..(at + 1) * dims].copy_from_slice(&tail[..dims]);
            self.positions.insert(self.keys[at], at);
        }
        self.vectors.truncate(last * dims);
        true
    }

    /// The most similar cached query with cosine similarity ≥ `threshold` (vectors are unit-norm, so the
    /// dot product is the cosine).
    pub fn best(
        &self,
        signature: &Signature,
        vector: &[f32],
        threshold: f32,
        cutoff: u32,
    ) -> Option<Match> {
        let dims = vector.len();
        let mut best: Option<Match> = None;
        for (at, candidate) in self.signatures.iter().enumerate() {
            if hamming(candidate, signature) > cutoff {
                continue;
            }
            let similarity = dot(&self.vectors[at * dims..(at + 1) * dims], vector);
            if similarity >= threshold && best.is_none_or(|b| similarity > b.similarity) {
                best = Some(Match {
                    key: self.keys[at],
                    similarity,
                });
            }
        }
        best
    }

    /// Bytes held, for the cache's size accounting.
    pub fn bytes(&self) -> usize {
        self.keys.len() * (size_of::<Key>() * 2 + size_of::<Signature>() + size_of::<usize>())
            + self.vectors.len() * size_of::<f32>()
    }
}

/// SplitMix64: a tiny deterministic generator for the hyperplanes (no cryptographic need); the bench
/// draws its vectors from it too.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Two independent standard normal samples (Box–Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        (r * theta.cos(), r * theta.sin())
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    fn random_unit(rng: &mut SplitMix64, dims: usize) -> Vec<f32> {
        unit((0..dims).map(|_| rng.next_f64() as f32 - 0.5).collect())
    }

    /// A unit vector at exactly cosine `c` from `a`.
    fn at_cosine(a: &[f32], c: f32, rng: &mut SplitMix64) -> Vec<f32> {
        let r = random_unit(rng, a.len());
        let dot: f32 = r.iter().zip(a).map(|(x, y)| x * y).sum();
        let orth = unit(r.iter().zip(a).map(|(x, y)| x - dot * y).collect());
        let s = (1.0 - c * c).sqrt();
        a.iter().zip(&orth).map(|(x, o)| c * x + s * o).collect()
    }

    #[test]
    fn signatures_are_deterministic_and_track_the_angle() {
        let hasher = Hasher::new(16);
        let again = Hasher::new(16);
        let mut rng = SplitMix64(7);
        let a = random_unit(&mut rng, 16);
        assert_eq!(hasher.sign(&a), again.sign(&a));
        assert_eq!(hamming(&hasher.sign(&a), &hasher.sign(&a)), 0);
        let opposite: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!(hamming(&hasher.sign(&a), &hasher.sign(&opposite)) > 240);
    }

    #[test]
    fn cutoffs_grow_as_the_threshold_loosens() {
        assert!(hamming_cutoff(0.99) < hamming_cutoff(0.95));
        assert!(hamming_cutoff(0.95) < hamming_cutoff(0.80));
        assert_eq!(hamming_cutoff(-1.0), 256);
    }

    #[test]
    fn vectors_at_the_threshold_are_found_and_below_it_are_not() {
        let dims = 384;
        let hasher = Hasher::new(dims);
        let mut rng = SplitMix64(11);
        let threshold = 0.9;
        let cutoff = hamming_cutoff(threshold);
        let mut found = 0;
        for round in 0..200 {
            let query = random_unit(&mut rng, dims);
            let mut index = GroupIndex::default();
            for k in 0..20 {
                let other = random_unit(&mut rng, dims);
                index.insert(Key(k), hasher.sign(&other), &other);
            }
            let near = at_cosine(&query, 0.9005, &mut rng);
            let far = at_cosine(&query, 0.8995, &mut rng);
            index.insert(Key(1000 + round), hasher.sign(&near), &near);
            index.insert(Key(5000 + round), hasher.sign(&far), &far);
            let hit = index.best(&hasher.sign(&query), &query, threshold, cutoff);
            if let Some(hit) = hit {
                assert_eq!(
                    hit.key,
                    Key(1000 + round),
                    "only the vector above the threshold"
                );
                assert!(hit.similarity >= threshold);
                found += 1;
            }
        }
        assert_eq!(found, 200, "every vector at the threshold is found");
    }

    #[test]
    fn removal_keeps_the_rest_findable() {
        let dims = 8;
        let hasher = Hasher::new(dims);
        let mut rng = SplitMix64(3);
        let vectors: Vec<Vec<f32>> = (0..5).map(|_| random_unit(&mut rng, dims)).collect();
        let mut index = GroupIndex::default();
        for (k, v) in vectors.iter().enumerate() {
            index.insert(Key(k as u128), hasher.sign(v), v);
        }
        assert!(index.remove(&Key(1), dims));
        assert!(!index.remove(&Key(1), dims));
        assert_eq!(index.len(), 4);
        for (k, v) in vectors.iter().enumerate() {
            let hit = index.best(&hasher.sign(v), v, 0.999, hamming_cutoff(0.999));
            if k == 1 {
                assert!(hit.is_none_or(|h| h.key != Key(1)));
            } else {
                assert_eq!(hit.map(|h| h.key), Some(Key(k as u128)));
            }
        }
        index.insert(Key(2), hasher.sign(&vectors[0]), &vectors[0]);
        assert_eq!(index.len(), 4, "re-inserting a key replaces it");
    }
}
