//! Concurrency leases: a counting semaphore per pool whose permits expire unless renewed.
//!
//! A dial holds a lease in the global pool (`MAX_CONCURRENT_CALLS`) and one in its campaign's
//! pool for as long as the call is live; the lease keeper renews them, and a terminal status
//! releases them. A holder that dies stops renewing, so its slots come back by themselves after
//! the TTL. Each grant carries a fencing token that strictly increases per pool, so a stale holder
//! can be told apart from its successor.
//!
//! Campaign ownership is the same mechanism with a limit of one: the node holding
//! `owner:campaign:<id>` runs that campaign.
//!
//! Two stores implement [`LeaseStore`]: [`RedisLeases`] (one atomic Lua script per operation,
//! shared by every node) and [`InProcessLeases`] (the single-node default). When the store
//! cannot be reached, `acquire` fails closed: an error, never a grant.
//!
//! A store can lose its leases while calls still hold them (Redis restarted without
//! persistence). Counting from an empty pool would then let new calls take lines that are in
//! use. So a pool the store no longer knows starts a new *epoch* in *quarantine*: only
//! [`LeaseStore::reassert`] is granted until the quarantine ends, and a node that learns a pool
//! it holds leases in changed ([`LeaseStore::changed`]) gets no fresh lease there until it has
//! re-asserted its own and said so ([`LeaseStore::settled`]). Each node's lease keeper watches
//! the pools it holds, so holders re-assert within a watch interval of Redis coming back.

mod inproc;
mod redis;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::{CampaignId, NodeId};
use futures::future::join_all;

pub use inproc::InProcessLeases;
pub use redis::{DEFAULT_QUARANTINE, RedisLeaseConfig, RedisLeases, script_sha};

/// A lease pool's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId(String);

impl PoolId {
    /// Every call of the engine (the seed's `MAX_CONCURRENT_CALLS`).
    pub fn global() -> Self {
        Self("global".into())
    }

    /// A campaign's own concurrency cap.
    pub fn campaign(id: CampaignId) -> Self {
        Self(format!("campaign:{id}"))
    }

    /// Ownership of a running campaign (limit one).
    pub fn owner(id: CampaignId) -> Self {
        Self(format!("owner:campaign:{id}"))
    }

    /// A pool with any other name (tests, benchmarks).
    pub fn named(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The answer to an acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// The lease is held until its TTL passes without a renewal. Re-acquiring a held lease
    /// renews it and returns the same token.
    Granted { token: u64 },
    /// `held` holders already fill the pool; try again when one releases.
    Full { held: u32 },
    /// Not now: the pool lost its state and its holders are re-asserting their leases first.
    Quarantined,
}

impl Acquire {
    pub fn token(self) -> Option<u64> {
        match self {
            Self::Granted { token } => Some(token),
            Self::Full { .. } | Self::Quarantined => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The store cannot be reached; nothing was granted.
    #[error("lease store unavailable: {0}")]
    Unavailable(String),
    /// The request itself is malformed (e.g. a zero TTL).
    #[error("invalid lease request: {0}")]
    Invalid(String),
}

#[async_trait]
pub trait LeaseStore: Send + Sync + fmt::Debug {
    async fn acquire(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError>;
    /// Takes `holder`'s lease in every one of `pools` (pool, limit), all or none: granted with
    /// the last pool's fencing token; otherwise nothing is held and the answer says why —
    /// quarantined when any pool is, else full. A store that can do it in one step does (Redis:
    /// one script, one round trip); the default asks every pool at once and gives back what
    /// was granted when any refused.
    async fn acquire_all(
        &self,
        pools: &[(PoolId, u32)],
        holder: &str,
        ttl: Duration,
    ) -> Result<Acquire, LeaseError> {
        acquire_each(self, pools, holder, ttl).await
    }
    /// Takes again a lease `holder` held before (its call is still in flight): granted during
    /// a quarantine too, still within `limit`. A holder that still holds it renews it.
    async fn reassert(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        self.acquire(pool, holder, ttl, limit).await
    }
    /// Checks whether `pools` (those this node holds leases in) lost their state since this
    /// node last looked (a new epoch); returns every pool this node must settle before it takes
    /// a fresh lease there — these, and any other it found changed on the way. Re-assert what
    /// is held there, then call [`settled`](Self::settled).
    async fn changed(&self, _pools: &[PoolId]) -> Result<Vec<PoolId>, LeaseError> {
        Ok(Vec::new())
    }
    /// This node re-asserted every lease it holds in `pool`.
    fn settled(&self, _pool: &PoolId) {}
    /// Extends a held lease; `false` when the holder lost it (expired or released).
    async fn renew(&self, pool: &PoolId, holder: &str, ttl: Duration) -> Result<bool, LeaseError>;
    /// Gives a lease back; `false` when the holder did not hold it.
    async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError>;
    /// Gives several holders' leases of one pool back at once (one round trip to a remote
    /// store); answers, in `holders`' order, whether each held it.
    async fn release_many(
        &self,
        pool: &PoolId,
        holders: &[String],
    ) -> Result<Vec<bool>, LeaseError> {
        let mut released = Vec::with_capacity(holders.len());
        for holder in holders {
            released.push(self.release(pool, holder).await?);
        }
        Ok(released)
    }
    /// Live holders of a pool.
    async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError>;
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), LeaseError>;
    /// `redis` or `in_process`.
    fn backend(&self) -> &'static str;
    /// Whether TTLs run on real time (Redis's own clock) rather than the engine's clock, which
    /// a benchmark or a test may run faster: renewals are paced on the clock the TTL runs on.
    fn ttl_in_real_time(&self) -> bool {
        true
    }
}

/// [`LeaseStore::acquire_all`] by one acquire per pool, all at once: when any pool refuses, the
/// leases the others granted are given back (an error wins over a quarantine, a quarantine over
/// a full pool).
pub async fn acquire_each<S: LeaseStore + ?Sized>(
    store: &S,
    pools: &[(PoolId, u32)],
    holder: &str,
    ttl: Duration,
) -> Result<Acquire, LeaseError> {
    let answers = join_all(
        pools
            .iter()
            .map(|(pool, limit)| store.acquire(pool, holder, ttl, *limit)),
    )
    .await;
    if let [.., Ok(Acquire::Granted { token })] = answers.as_slice()
        && answers
            .iter()
            .all(|a| matches!(a, Ok(Acquire::Granted { .. })))
    {
        return Ok(Acquire::Granted { token: *token });
    }
    let granted = pools
        .iter()
        .zip(&answers)
        .filter(|(_, a)| matches!(a, Ok(Acquire::Granted { .. })));
    join_all(granted.map(|((pool, _), _)| store.release(pool, holder))).await;
    let mut refusal = None;
    for answer in answers {
        match answer? {
            Acquire::Quarantined => refusal = Some(Acquire::Quarantined),
            full @ Acquire::Full { .. } => {
                refusal.get_or_insert(full);
            }
            Acquire::Granted { .. } => {}
        }
    }
    // No pools at all: nothing was asked, nothing is held.
    Ok(refusal.unwrap_or(Acquire::Full { held: 0 }))
}

/// Checks the arguments every store refuses alike.
pub(crate) fn check_ttl(ttl: Duration) -> Result<u64, LeaseError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 || ms > 24 * 3_600_000 {
        return Err(LeaseError::Invalid(format!(
            "ttl must be between 1 ms and 24 h, got {ttl:?}"
        )));
    }
    Ok(ms)
}

/// Campaign ownership on a lease store: exactly one node runs a campaign.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub node: NodeId,
    pub ttl: Duration,
}

impl Ownership {
    /// Claims `campaign` for this node; the fencing token when it is ours.
    pub async fn claim(
        &self,
        leases: &dyn LeaseStore,
        campaign: CampaignId,
    ) -> Result<Option<u64>, LeaseError> {
        Ok(leases
            .acquire(&PoolId::owner(campaign), self.node.as_str(), self.ttl, 1)
            .await?
            .token())
    }

    /// Keeps a claimed campaign; `false` when another node has taken it over.
    pub async fn keep(
        &self,
        leases: &dyn LeaseStore,
        campaign: CampaignId,
    ) -> Result<bool, LeaseError> {
        leases
            .renew(&PoolId::owner(campaign), self.node.as_str(), self.ttl)
            .await
    }

    pub async fn give_up(
        &self,
        leases: &dyn LeaseStore,
        campaign: CampaignId,
    ) -> Result<bool, LeaseError> {
        leases
            .release(&PoolId::owner(campaign), self.node.as_str())
            .await
    }
}
