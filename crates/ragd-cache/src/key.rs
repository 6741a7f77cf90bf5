//! Cache keys: the normalized query, the group (everything but the query that decides a result), and the
//! 128-bit hashes both tiers index by.
//!
//! A **group** is the set of queries whose results are comparable: the same embedding model, the same
//! datasets at the same versions, the same retrieval settings and the same `explain` flag. Semantic hits
//! only ever match within a group, and a version bump moves a dataset's queries to a new group, so no
//! entry computed before a change is reachable after it.

use ragd_core::retrieval::RetrievalSettings;
use xxhash_rust::xxh3::Xxh3;

/// Normalizes a query for cache keys: trimmed, runs of whitespace collapsed to one space, lowercased.
///
/// Only changes that cannot alter a result are made: the BM25 analyzers lowercase and split on
/// whitespace, and the embedding model's tokenizer (all-MiniLM-L6-v2, uncased BERT) lowercases and
/// splits on whitespace too, so `"  Reset  PASSWORD "` and `"reset password"` retrieve the same records
/// (`tests/cache.rs` checks this against the real model). Accents, punctuation and word
/// order are kept.
pub fn normalize_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for word in query.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A 128-bit cache key (xxh3-128 of the key material).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u128);

impl Key {
    /// Lowercase hex, 32 characters (used in Redis keys).
    pub fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

/// The datasets, their versions, the settings and the model: what a result depends on besides the
/// query.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Key,
    /// `(dataset id, version)` in request order.
    pub datasets: Vec<(String, u64)>,
}

impl Group {
    /// The group of a retrieval. `datasets` are in request order (order can break ties in the fused
    /// ranking, so it is part of the key).
    pub fn new(
        model_id: &str,
        datasets: Vec<(String, u64)>,
        settings: &RetrievalSettings,
        explain: bool,
    ) -> Self {
        let mut hasher = Xxh3::new();
        field(&mut hasher, b"ragd-retrieval-v1");
        field(&mut hasher, model_id.as_bytes());
        for (id, version) in &datasets {
            field(&mut hasher, id.as_bytes());
            hasher.update(&version.to_le_bytes());
        }
        // Serializing a struct is deterministic (fields in declaration order; maps in metadata filters
        // are BTreeMaps); a setting added later changes every key, which only costs misses. The JSON
        // goes straight into the hasher (no buffer), closed by a separator no JSON text contains.
        let _ = serde_json::to_writer(HashWriter(&mut hasher), settings);
        hasher.update(&[0xff]);
        hasher.update(&[u8::from(explain)]);
        Group {
            key: Key(hasher.digest128()),
            datasets,
        }
    }

    /// The key of one normalized query in this group.
    pub fn entry(&self, normalized_query: &str) -> Key {
        let mut hasher = Xxh3::new();
        hasher.update(&self.key.0.to_le_bytes());
        field(&mut hasher, normalized_query.as_bytes());
        Key(hasher.digest128())
    }

    /// Whether this group reads `dataset_id`.
    pub fn reads(&self, dataset_id: &str) -> bool {
        self.datasets.iter().any(|(id, _)| id == dataset_id)
    }
}

/// The key of a query embedding: the model and the normalized query.
pub fn embedding_key(model_id: &str, normalized_query: &str) -> Key {
    let mut hasher = Xxh3::new();
    field(&mut hasher, b"ragd-embedding-v1");
    field(&mut hasher, model_id.as_bytes());
    field(&mut hasher, normalized_query.as_bytes());
    Key(hasher.digest128())
}

/// Feeds written bytes to the hasher.
struct HashWriter<'a>(&'a mut Xxh3);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Length-prefixed, so `("ab", "c")` and `("a", "bc")` hash differently.
fn field(hasher: &mut Xxh3, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragd_core::retrieval::RetrievalModel;

    fn settings(top_k: usize) -> RetrievalSettings {
        let model: RetrievalModel = serde_json::from_value(
            serde_json::json!({"search_method": "hybrid_search", "top_k": top_k}),
        )
        .unwrap();
        model.resolve().unwrap()
    }

    #[test]
    fn normalization_trims_collapses_and_lowercases() {
        assert_eq!(
            normalize_query("  Reset \t PASSWORD\n now "),
            "reset password now"
        );
        assert_eq!(normalize_query("ÉCOLE  Straße"), "école straße");
        assert_eq!(normalize_query(""), "");
        assert_eq!(normalize_query("a,b"), "a,b", "punctuation is kept");
    }

    #[test]
    fn every_part_of_the_group_changes_the_key() {
        let base = Group::new("m", vec![("d".into(), 1)], &settings(4), false);
        let variants = [
            Group::new("m2", vec![("d".into(), 1)], &settings(4), false),
            Group::new("m", vec![("d".into(), 2)], &settings(4), false),
            Group::new("m", vec![("e".into(), 1)], &settings(4), false),
            Group::new("m", vec![("d".into(), 1)], &settings(5), false),
            Group::new("m", vec![("d".into(), 1)], &settings(4), true),
            Group::new(
                "m",
                vec![("d".into(), 1), ("e".into(), 1)],
                &settings(4),
                false,
            ),
        ];
        for variant in variants {
            assert_ne!(base.key, variant.key, "{variant:?}");
            assert_ne!(base.entry("q"), variant.entry("q"));
        }
        let again = Group::new("m", vec![("d".into(), 1)], &settings(4), false);
        assert_eq!(base.entry("q"), again.entry("q"));
        assert_ne!(base.entry("q"), base.entry("q2"));
        assert_eq!(base.key.hex().len(), 32);
    }

    #[test]
    fn embedding_keys_depend_on_model_and_query() {
        assert_eq!(embedding_key("m", "q"), embedding_key("m", "q"));
        assert_ne!(embedding_key("m", "q"), embedding_key("n", "q"));
        assert_ne!(embedding_key("m", "q"), embedding_key("m", "r"));
        assert_ne!(embedding_key("ab", "c"), embedding_key("a", "bc"));
    }
}
