//! L2: Redis, shared by every replica. Values are MessagePack (binary, compact); keys are independent
//! (`PREFIX:r:HEX` for results, `PREFIX:e:HEX` for embeddings), so a Redis Cluster spreads them over its
//! slots; the one hash of shared dataset versions, `PREFIX:{versions}`, sits in one slot.
//!
//! Every operation has a deadline (`cache.l2_timeout_ms`) and goes through the [`Breaker`]: Redis being
//! down, slow or restarted costs requests at most one deadline each until the breaker opens, then
//! nothing; L2 comes back by itself when a probe succeeds. Writes after a miss run in the background
//! (bounded; beyond the bound they are dropped and counted), never on the response path.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError};
use tokio::sync::Semaphore;

use crate::CacheError;
use crate::breaker::{Breaker, Transition};
use crate::stats::Stats;

/// Most background writes in flight.
const MAX_PENDING_WRITES: usize = 256;

/// Raises a dataset's shared version to ARGV[2] if it is lower; returns the version after.
const RAISE_VERSION: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local proposed = tonumber(ARGV[2])
if proposed > current then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PUBLISH', KEYS[2], ARGV[1] .. ' ' .. ARGV[2])
  return proposed
end
return current
";

/// The Redis tier.
pub struct L2 {
    client: Client,
    manager: ConnectionManager,
    breaker: Breaker,
    timeout: Duration,
    ttl_secs: u64,
    prefix: String,
    writes: Arc<Semaphore>,
    stats: Arc<Stats>,
    raise: redis::Script,
}

impl std::fmt::Debug for L2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl L2 {
    /// Connects lazily (a Redis that is down at start only means L2 starts open).
    pub fn new(
        url: &str,
        timeout: Duration,
        ttl_secs: u64,
        prefix: &str,
        breaker_failures: u32,
        breaker_cooldown: Duration,
        stats: Arc<Stats>,
    ) -> Result<Self, CacheError> {
        let client = Client::open(url).map_err(|source| CacheError::RedisUrl {
            url: redact(url),
            source,
        })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let manager =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|source| {
                CacheError::RedisUrl {
                    url: redact(url),
                    source,
                }
            })?;
        metrics::gauge!("ragd_cache_l2_up").set(1.0);
        Ok(Self {
            client,
            manager,
            breaker: Breaker::new(breaker_failures, breaker_cooldown, timeout),
            timeout,
            ttl_secs,
            prefix: prefix.to_owned(),
            writes: Arc::new(Semaphore::new(MAX_PENDING_WRITES)),
            stats,
            raise: redis::Script::new(RAISE_VERSION),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn result_key(&self, hex: &str) -> String {
        format!("{}:r:{hex}", self.prefix)
    }

    pub fn embedding_key(&self, hex: &str) -> String {
        format!("{}:e:{hex}", self.prefix)
    }

    pub fn versions_key(&self) -> String {
        format!("{}:{{versions}}", self.prefix)
    }

    pub fn versions_channel(&self) -> String {
        format!("{}:{{versions}}:bumps", self.prefix)
    }

    /// Whether L2 is usable now (the breaker is closed).
    pub fn is_up(&self) -> bool {
        self.breaker.is_closed()
    }

    /// Runs one operation under the breaker and the deadline; `None` when skipped or failed.
    async fn guarded<T, F>(&self, op: &'static str, work: F) -> Option<T>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        if !self.breaker.allow() {
            return None;
        }
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => {
                if let Transition::Closed(outage) = self.breaker.success() {
                    metrics::gauge!("ragd_cache_l2_up").set(1.0);
                    tracing::info!(
                        outage_secs = outage.as_secs_f64(),
                        "Redis (cache L2) is reachable again; L2 resumed"
                    );
                }
                Some(value)
            }
            Ok(Err(error)) => {
                self.failed(op, &error.to_string());
                None
            }
            Err(_) => {
                self.failed(op, &format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    fn failed(&self, op: &'static str, error: &str) {
        self.stats.l2_error(op);
        if self.breaker.failure() == Transition::Opened {
            self.stats
                .l2_outages
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::gauge!("ragd_cache_l2_up").set(0.0);
            metrics::counter!("ragd_cache_l2_outages_total").increment(1);
            tracing::warn!(
                op,
                error,
                "Redis (cache L2) is unavailable; serving from L1 only until it is back"
            );
        }
    }

    /// The value at `key`, if any (a failure reads as a miss).
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut connection = self.manager.clone();
        self.guarded("get", async move {
            connection.get::<_, Option<Vec<u8>>>(key).await
        })
        .await
        .flatten()
    }

    /// Writes `value` at `key` with the tier's TTL, in the background.
    pub fn put_in_background(self: &Arc<Self>, key: String, value: Vec<u8>) {
        let Ok(permit) = self.writes.clone().try_acquire_owned() else {
            self.stats
                .l2_writes_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("ragd_cache_l2_writes_dropped_total").increment(1);
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let mut connection = this.manager.clone();
            let ttl = this.ttl_secs;
            this.guarded("set", async move {
                connection.set_ex::<_, _, ()>(key, value, ttl).await
            })
            .await;
            drop(permit);
        });
    }

    /// Raises the shared version of `dataset` to at least `version` (publishing the bump when it
    /// rises); returns the shared version after, `None` if Redis could not be reached.
    pub async fn raise_version(&self, dataset: &str, version: u64) -> Option<u64> {
        let mut connection = self.manager.clone();
        let mut invocation = self.raise.key(self.versions_key());
        invocation
            .key(self.versions_channel())
            .arg(dataset)
            .arg(version);
        self.guarded("raise_version", async move {
            invocation.invoke_async::<u64>(&mut connection).await
        })
        .await
    }

    /// Every shared dataset version.
    pub async fn versions(&self) -> Option<Vec<(String, u64)>> {
        let mut connection = self.manager.clone();
        let key = self.versions_key();
        self.guarded("versions", async move {
            connection.hgetall::<_, Vec<(String, u64)>>(key).await
        })
        .await
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
