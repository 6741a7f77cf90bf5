//! Synthetic 384-d vectors shared by the bench, the `ann_report` example and the integration tests:
//! uniformly random unit vectors (the hard case for HNSW) and clustered ones (closer to real embeddings).
//! Deterministic: a seed gives the same vectors everywhere.

#![allow(dead_code)]

/// SplitMix64: small, fast and good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f32 {
        let u = self.next_f64().max(f64::MIN_POSITIVE);
        let v = self.next_f64();
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn random_unit(rng: &mut Rng, dimensions: usize) -> Vec<f32> {
    let mut vector: Vec<f32> = (0..dimensions).map(|_| rng.gaussian()).collect();
    normalize(&mut vector);
    vector
}

/// `count` random unit vectors.
pub fn random_vectors(seed: u64, count: usize, dimensions: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| random_unit(&mut rng, dimensions))
        .collect()
}

/// Unit vectors around `clusters` random centres, with per-component noise 0.05 (cosine to the centre
/// about 0.7 in 384-d, similar in spread to sentence embeddings of one topic).
pub struct Clusters {
    centres: Vec<Vec<f32>>,
    rng: Rng,
}

impl Clusters {
    pub fn new(seed: u64, clusters: usize, dimensions: usize) -> Self {
        let mut rng = Rng::new(seed);
        let centres = (0..clusters)
            .map(|_| random_unit(&mut rng, dimensions))
            .collect();
        Clusters { centres, rng }
    }

    pub fn sample(&mut self) -> Vec<f32> {
        let centre = &self.centres[(self.rng.next_u64() % self.centres.len() as u64) as usize];
        let mut vector: Vec<f32> = centre
            .iter()
            .map(|c| c + 0.05 * self.rng.gaussian())
            .collect();
        normalize(&mut vector);
        vector
    }

    pub fn samples(&mut self, count: usize) -> Vec<Vec<f32>> {
        (0..count).map(|_| self.sample()).collect()
    }
}

/// Document of a key in the synthetic corpora: 10 consecutive keys per document.
pub fn document_of(key: u64) -> u64 {
    key / 10
}
