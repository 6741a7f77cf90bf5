//! The two-tier semantic cache of ragd: L1 in-process (moka) with exact and semantic hits, L2 shared
//! (Redis), exact invalidation by dataset versions, hit statistics.
//!
//! [`RetrievalCache`] wraps a [`ragd_retrieve::Retriever`] (cross-cutting behaviour wraps, it doesn't leak
//! in): callers ask it for a retrieval and get the records with an [`Outcome`] saying where they came
//! from. What it caches:
//!
//! - **retrieval results**, keyed by the embedding model, the datasets and their versions, the full
//!   retrieval settings, `explain`, and the normalized query ([`key`]);
//! - **query embeddings**, keyed by model and normalized query, so no replica embeds the same text twice.
//!
//! The tiers: [`l1::L1`] (moka, bounded by bytes and TTL, semantic hits within a group through a SimHash
//! prefilter and an exact cosine check, see [`semantic`]) and [`l2::L2`] (Redis, MessagePack values, TTL,
//! deadlines and a circuit breaker, background writes). Invalidation: a dataset's version is part of
//! every key, so a bump makes older entries unreachable at once; replicas share versions through a Redis
//! hash and learn of bumps by pub/sub, with a periodic re-read as the fallback ([`RetrievalCache::start`]).

pub mod breaker;
mod cache;
pub mod key;
pub mod l1;
pub mod l2;
pub mod semantic;
pub mod stats;

pub use cache::{Answer, CacheMode, CachedRetrieval, Outcome, RetrievalCache, Snapshot};
pub use key::{Group, Key, embedding_key, normalize_query};

/// Errors of the cache. Only setting it up can fail (a bad Redis URL); at run time a failing Redis is
/// counted, logged once per outage and skipped, never an error to a request.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid Redis URL {url}: {source}")]
    RedisUrl {
        url: String,
        #[source]
        source: redis::RedisError,
    },
}
