//! Leases inside one process, for the single-node default: the same semantics as the Redis
//! store (expiry, renewal, fencing tokens never below the clock in microseconds), on a mutex.
//! It never loses its state on its own; [`InProcessLeases::forget_all`] makes it, as Redis
//! restarting empty would, to test the holders' re-assertion.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::Clock;

use super::{Acquire, LeaseError, LeaseStore, PoolId, check_ttl};

#[derive(Debug, Default)]
struct Pool {
    /// holder -> (expiry ms, token)
    holders: HashMap<String, (i64, u64)>,
    /// (expiry ms, holder), soonest first: what the Redis store's sorted set is, so that
    /// reclaiming costs what expired, not what is held.
    by_expiry: BTreeSet<(i64, String)>,
    fence: u64,
}

impl Pool {
    fn reclaim(&mut self, now_ms: i64) {
        while let Some((expiry, _)) = self.by_expiry.first() {
            if *expiry > now_ms {
                break;
            }
            if let Some((_, holder)) = self.by_expiry.pop_first() {
                self.holders.remove(&holder);
            }
        }
    }

    /// Sets a held lease's expiry; false when `holder` holds nothing.
    fn extend(&mut self, holder: &str, expiry: i64) -> Option<u64> {
        let (old, token) = self.holders.get_mut(holder)?;
        let previous = std::mem::replace(old, expiry);
        let token = *token;
        self.by_expiry.remove(&(previous, holder.to_owned()));
        self.by_expiry.insert((expiry, holder.to_owned()));
        Some(token)
    }

    fn insert(&mut self, holder: &str, expiry: i64, token: u64) {
        self.holders.insert(holder.to_owned(), (expiry, token));
        self.by_expiry.insert((expiry, holder.to_owned()));
    }

    fn remove(&mut self, holder: &str) -> bool {
        match self.holders.remove(holder) {
            Some((expiry, _)) => self.by_expiry.remove(&(expiry, holder.to_owned())),
            None => false,
        }
    }
}

#[derive(Debug)]
pub struct InProcessLeases {
    clock: Arc<dyn Clock>,
    pools: Mutex<HashMap<PoolId, Pool>>,
    /// Pools that lost their leases, until their holders re-asserted them: no fresh lease.
    lost: Mutex<HashSet<PoolId>>,
    /// Fault injection: while set, every operation waits this long and fails, as calls to an
    /// unreachable Redis time out.
    unreachable: Mutex<Option<Duration>>,
    /// Fault injection: while set, a lease is granted (or refused) only after this long, as by
    /// a slow Redis.
    grant_delay: Mutex<Option<Duration>>,
}

impl InProcessLeases {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            pools: Mutex::new(HashMap::new()),
            lost: Mutex::new(HashSet::new()),
            unreachable: Mutex::new(None),
            grant_delay: Mutex::new(None),
        }
    }

    /// Fault injection: every acquisition waits `delay` before it reaches the store (`None`:
    /// at once again).
    pub fn set_grant_delay(&self, delay: Option<Duration>) {
        *self.grant_delay.lock().unwrap_or_else(|p| p.into_inner()) = delay;
    }

    /// Fault injection: every operation takes `timeout` and fails (`None`: reachable again).
    pub fn set_unreachable(&self, timeout: Option<Duration>) {
        *self.unreachable.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    async fn reachable(&self) -> Result<(), LeaseError> {
        let outage = *self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        match outage {
            Some(timeout) => {
                tokio::time::sleep(timeout).await;
                Err(LeaseError::Unavailable("injected outage".into()))
            }
            None => Ok(()),
        }
    }

    /// Loses every lease, as Redis restarting without persistence does (fault injection for
    /// tests). Fencing tokens keep increasing; fresh leases wait until the holders re-assert.
    pub fn forget_all(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        for (id, pool) in pools.iter_mut() {
            lost.insert(id.clone());
            pool.holders.clear();
            pool.by_expiry.clear();
        }
    }

    fn is_lost(&self, pool: &PoolId) -> bool {
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(pool)
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
        let delay = *self.grant_delay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.reachable().await?;
        if self.is_lost(pool) {
            return Ok(Acquire::Quarantined);
        }
        self.reassert(pool, holder, ttl, limit).await
    }

    async fn reassert(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        self.reachable().await?;
        let ttl = ms_i64(check_ttl(ttl)?);
        Ok(self.with_pool(pool, |p, now_ms, now_us| {
            if let Some(token) = p.extend(holder, now_ms + ttl) {
                return Acquire::Granted { token };
            }
            let held = u32::try_from(p.holders.len()).unwrap_or(u32::MAX);
            if held >= limit {
                return Acquire::Full { held };
            }
            p.fence = (p.fence + 1).max(now_us);
            p.insert(holder, now_ms + ttl, p.fence);
            Acquire::Granted { token: p.fence }
        }))
    }

    async fn changed(&self, _pools: &[PoolId]) -> Result<Vec<PoolId>, LeaseError> {
        self.reachable().await?;
        let mut lost: Vec<PoolId> = self
            .lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        lost.sort();
        Ok(lost)
    }

    fn settled(&self, pool: &PoolId) {
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(pool);
    }

    async fn renew(&self, pool: &PoolId, holder: &str, ttl: Duration) -> Result<bool, LeaseError> {
        self.reachable().await?;
        let ttl = ms_i64(check_ttl(ttl)?);
        Ok(self.with_pool(pool, |p, now_ms, _| {
            p.extend(holder, now_ms + ttl).is_some()
        }))
    }

    async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError> {
        self.reachable().await?;
        Ok(self.with_pool(pool, |p, _, _| p.remove(holder)))
    }

    async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError> {
        Ok(self.with_pool(pool, |p, _, _| {
            u32::try_from(p.holders.len()).unwrap_or(u32::MAX)
        }))
    }

    async fn ping(&self) -> Result<(), LeaseError> {
        self.reachable().await
    }

    fn backend(&self) -> &'static str {
        "in_process"
    }

    /// Expiry runs on the injected clock.
    fn ttl_in_real_time(&self) -> bool {
        false
    }
}
