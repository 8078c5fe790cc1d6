//! Leases inside one process, for the single-node default: the same semantics as the Redis
//! store (expiry, renewal, fencing tokens never below the clock in microseconds), on a mutex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::Clock;

use super::{Acquire, LeaseError, LeaseStore, PoolId, check_ttl};

#[derive(Debug, Default)]
struct Pool {
    /// holder -> (expiry ms, token)
    holders: HashMap<String, (i64, u64)>,
    fence: u64,
}

impl Pool {
    fn reclaim(&mut self, now_ms: i64) {
        self.holders.retain(|_, (expiry, _)| *expiry > now_ms);
    }
}

#[derive(Debug)]
pub struct InProcessLeases {
    clock: Arc<dyn Clock>,
    pools: Mutex<HashMap<PoolId, Pool>>,
}

impl InProcessLeases {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn with_pool<T>(&self, pool: &PoolId, f: impl FnOnce(&mut Pool, i64, u64) -> T) -> T {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let now_us = u64::try_from(now.timestamp_micros()).unwrap_or(0);
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let p = pools.entry(pool.clone()).or_default();
        p.reclaim(now_ms);
        f(p, now_ms, now_us)
    }
}

fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[async_trait]
impl LeaseStore for InProcessLeases {
    async fn acquire(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        let ttl = ms_i64(check_ttl(ttl)?);
        Ok(self.with_pool(pool, |p, now_ms, now_us| {
            if let Some((expiry, token)) = p.holders.get_mut(holder) {
                *expiry = now_ms + ttl;
                return Acquire::Granted { token: *token };
            }
            let held = u32::try_from(p.holders.len()).unwrap_or(u32::MAX);
            if held >= limit {
                return Acquire::Full { held };
            }
            p.fence = (p.fence + 1).max(now_us);
            p.holders.insert(holder.to_owned(), (now_ms + ttl, p.fence));
            Acquire::Granted { token: p.fence }
        }))
    }

    async fn renew(&self, pool: &PoolId, holder: &str, ttl: Duration) -> Result<bool, LeaseError> {
        let ttl = ms_i64(check_ttl(ttl)?);
        Ok(
            self.with_pool(pool, |p, now_ms, _| match p.holders.get_mut(holder) {
                Some((expiry, _)) => {
                    *expiry = now_ms + ttl;
                    true
                }
                None => false,
            }),
        )
    }

    async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError> {
        Ok(self.with_pool(pool, |p, _, _| p.holders.remove(holder).is_some()))
    }

    async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError> {
        Ok(self.with_pool(pool, |p, _, _| {
            u32::try_from(p.holders.len()).unwrap_or(u32::MAX)
        }))
    }

    async fn ping(&self) -> Result<(), LeaseError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "in_process"
    }
}
