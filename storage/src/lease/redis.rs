//! Leases in Redis, shared by every node: one atomic Lua script per operation over a sorted set
//! of holders scored by expiry (Redis's own clock, so nodes need not agree on time).
//!
//! Scripts are loaded once and called by SHA (`EVALSHA`), reloaded on `NOSCRIPT` after a Redis
//! restart. Commands time out (`command_timeout`): while Redis is unreachable every call fails
//! with [`LeaseError::Unavailable`] — an acquire never succeeds without Redis's answer.
//!
//! Each pool has an epoch key. A pool Redis does not know (first use, or Redis came back empty)
//! gets a new epoch and a quarantine (`quarantine`) in which only re-asserts are granted; a
//! node that sees a pool's epoch differ from the one it knew refuses fresh leases there itself
//! until its lease keeper has re-asserted what it holds ([`LeaseStore::settled`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{Acquire, LeaseError, LeaseStore, PoolId, check_ttl};

const ACQUIRE: &str = include_str!("lua/acquire.lua");
const ACQUIRE_ALL: &str = include_str!("lua/acquire_all.lua");
const RENEW: &str = include_str!("lua/renew.lua");
const RELEASE: &str = include_str!("lua/release.lua");
const RELEASE_MANY: &str = include_str!("lua/release_many.lua");
const COUNT: &str = include_str!("lua/count.lua");
const EPOCH: &str = include_str!("lua/epoch.lua");

/// The SHA-1 under which Redis knows a lease script (`acquire`, `renew`, `release`, `count`), for
/// tools that call it directly such as `redis-benchmark`.
pub fn script_sha(name: &str) -> String {
    let lua = match name {
        "acquire" => ACQUIRE,
        "acquire_all" => ACQUIRE_ALL,
        "renew" => RENEW,
        "release" => RELEASE,
        "release_many" => RELEASE_MANY,
        "epoch" => EPOCH,
        _ => COUNT,
    };
    Script::from_lua(lua).sha1().to_string()
}

#[derive(Debug, Clone)]
pub struct RedisLeaseConfig {
    /// `redis://host:port[/db]`
    pub url: String,
    /// Connections in the pool; concurrent calls are pipelined on each.
    pub connections: usize,
    /// How long a command may wait (including for a reconnection) before failing.
    pub command_timeout: Duration,
    /// Delay between reconnection attempts.
    pub reconnect_delay: Duration,
    /// How long a pool Redis no longer knows grants only re-asserts: long enough for every
    /// node's lease keeper to notice and re-assert (it watches every quarter second).
    pub quarantine: Duration,
}

impl RedisLeaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connections: 4,
            command_timeout: Duration::from_secs(1),
            reconnect_delay: Duration::from_millis(100),
            quarantine: DEFAULT_QUARANTINE,
        }
    }
}

/// Twice the lease keepers' watch interval (a quarter second): every node re-asserts in time,
/// and dialing resumes within a second of Redis returning.
pub const DEFAULT_QUARANTINE: Duration = Duration::from_millis(500);

pub struct RedisLeases {
    pool: Pool,
    /// Every key is in one keyspace (not Redis Cluster), so one script may take several pools.
    one_keyspace: bool,
    acquire: Script,
    acquire_all: Script,
    renew: Script,
    release: Script,
    release_many: Script,
    count: Script,
    epoch: Script,
    quarantine_ms: i64,
    /// The epoch this node last saw of each pool it used.
    known: Mutex<HashMap<PoolId, String>>,
    /// Pools whose epoch changed under this node and that it has not re-asserted yet.
    unsettled: Mutex<HashSet<PoolId>>,
}

impl std::fmt::Debug for RedisLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLeases")
            .field("connections", &self.pool.size())
            .finish()
    }
}

fn unavailable(e: Error) -> LeaseError {
    LeaseError::Unavailable(format!("redis: {e}"))
}

/// The keys of one pool. The `{pool}` hash tag keeps them in one Redis Cluster slot.
fn keys(pool: &PoolId) -> Vec<String> {
    let p = pool.as_str();
    vec![
        format!("dialer:lease:{{{p}}}:holders"),
        format!("dialer:lease:{{{p}}}:tokens"),
        format!("dialer:lease:{{{p}}}:fence"),
        format!("dialer:lease:{{{p}}}:epoch"),
        format!("dialer:lease:{{{p}}}:quarantine"),
    ]
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RedisLeases {
    /// Connects and loads the scripts. Fails if Redis cannot be reached now.
    pub async fn connect(config: &RedisLeaseConfig) -> Result<Self, LeaseError> {
        let redis_config = Config::from_url(&config.url)
            .map_err(|e| LeaseError::Invalid(format!("redis url {:?}: {e}", config.url)))?;
        let delay = u32::try_from(config.reconnect_delay.as_millis()).unwrap_or(u32::MAX);
        let one_keyspace = !redis_config.server.is_clustered();
        let pool = Builder::from_config(redis_config)
            .with_performance_config(|p| p.default_command_timeout = config.command_timeout)
            .with_connection_config(|c| {
                c.connection_timeout = config.command_timeout;
                c.internal_command_timeout = config.command_timeout;
            })
            .set_policy(ReconnectPolicy::new_constant(0, delay))
            .build_pool(config.connections.max(1))
            .map_err(unavailable)?;
        pool.init().await.map_err(unavailable)?;
        let leases = Self {
            pool,
            one_keyspace,
            acquire: Script::from_lua(ACQUIRE),
            acquire_all: Script::from_lua(ACQUIRE_ALL),
            renew: Script::from_lua(RENEW),
            release: Script::from_lua(RELEASE),
            release_many: Script::from_lua(RELEASE_MANY),
            count: Script::from_lua(COUNT),
            epoch: Script::from_lua(EPOCH),
            quarantine_ms: i64::try_from(config.quarantine.as_millis()).unwrap_or(i64::MAX),
            known: Mutex::new(HashMap::new()),
            unsettled: Mutex::new(HashSet::new()),
        };
        for script in [
            &leases.acquire,
            &leases.acquire_all,
            &leases.renew,
            &leases.release,
            &leases.release_many,
            &leases.count,
            &leases.epoch,
        ] {
            leases.load(script).await?;
        }
        Ok(leases)
    }

    async fn load(&self, script: &Script) -> Result<(), LeaseError> {
        let lua = script.lua().cloned().unwrap_or_default();
        self.pool
            .script_load::<String, _>(lua)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn call<R: FromValue>(
        &self,
        script: &Script,
        pool: &PoolId,
        args: Vec<Value>,
    ) -> Result<R, LeaseError> {
        self.call_keys(script, keys(pool), args).await
    }

    async fn call_keys<R: FromValue>(
        &self,
        script: &Script,
        k: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, LeaseError> {
        match self
            .pool
            .evalsha::<R, _, _, _>(script.sha1().clone(), k.clone(), args.clone())
            .await
        {
            // Scripts live in Redis's memory: after a restart they must be loaded again.
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                self.load(script).await?;
                self.pool
                    .evalsha(script.sha1().clone(), k, args)
                    .await
                    .map_err(unavailable)
            }
            other => other.map_err(unavailable),
        }
    }

    /// Waits until every pooled connection is up (after `connect`, or a Redis restart).
    pub async fn wait_connected(&self) -> Result<(), LeaseError> {
        self.pool.wait_for_connect().await.map_err(unavailable)
    }

    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
    }

    /// Records the epoch Redis answered for `pool`: a change from the one this node knew means
    /// the pool lost its state under it.
    fn saw_epoch(&self, pool: &PoolId, epoch: String) -> bool {
        let previous = lock(&self.known).insert(pool.clone(), epoch.clone());
        let changed = previous.is_some_and(|p| p != epoch);
        if changed {
            lock(&self.unsettled).insert(pool.clone());
        }
        changed
    }

    async fn take(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
        reassert: bool,
    ) -> Result<Acquire, LeaseError> {
        let ttl = check_ttl(ttl)?;
        if !reassert && lock(&self.unsettled).contains(pool) {
            return Ok(Acquire::Quarantined);
        }
        let known = lock(&self.known).get(pool).cloned().unwrap_or_default();
        let args = vec![
            Value::from(holder),
            Value::from(ttl as i64),
            Value::from(i64::from(limit)),
            Value::from(known),
            Value::from(self.quarantine_ms),
            Value::from(if reassert { "1" } else { "0" }),
        ];
        let (code, token, held, epoch): (i64, i64, i64, String) =
            self.call(&self.acquire, pool, args).await?;
        // A changed epoch refused a fresh acquire in the script already (code 2).
        self.saw_epoch(pool, epoch);
        Ok(acquired(code, token, held))
    }

    /// [`LeaseStore::acquire_all`] in one script: every pool's keys in one call.
    async fn take_all(
        &self,
        pools: &[(PoolId, u32)],
        holder: &str,
        ttl: Duration,
    ) -> Result<Acquire, LeaseError> {
        let ttl = check_ttl(ttl)?;
        {
            let unsettled = lock(&self.unsettled);
            if pools.iter().any(|(pool, _)| unsettled.contains(pool)) {
                return Ok(Acquire::Quarantined);
            }
        }
        let mut k = Vec::with_capacity(pools.len() * 5);
        let mut args = vec![
            Value::from(holder),
            Value::from(ttl as i64),
            Value::from(self.quarantine_ms),
        ];
        {
            let known = lock(&self.known);
            for (pool, limit) in pools {
                k.extend(keys(pool));
                args.push(Value::from(i64::from(*limit)));
                args.push(Value::from(known.get(pool).cloned().unwrap_or_default()));
            }
        }
        let answer: Vec<Value> = self.call_keys(&self.acquire_all, k, args).await?;
        let malformed =
            || LeaseError::Unavailable(format!("redis: acquire_all answered {answer:?}"));
        let int = |i: usize| answer.get(i).and_then(Value::as_i64).ok_or_else(malformed);
        let (code, token, held) = (int(0)?, int(1)?, int(2)?);
        if answer.len() != 3 + pools.len() {
            return Err(malformed());
        }
        for ((pool, _), epoch) in pools.iter().zip(&answer[3..]) {
            let epoch = epoch.as_string().ok_or_else(malformed)?;
            // A changed epoch refused the grant in the script already (code 2).
            self.saw_epoch(pool, epoch);
        }
        Ok(acquired(code, token, held))
    }
}

/// Holders given back by one `release_many` script call.
const RELEASE_CHUNK: usize = 512;

/// What the acquire scripts' `{code, token, held}` mean.
fn acquired(code: i64, token: i64, held: i64) -> Acquire {
    match code {
        1 => Acquire::Granted {
            token: u64::try_from(token).unwrap_or(0),
        },
        2 => Acquire::Quarantined,
        _ => Acquire::Full { held: u32_of(held) },
    }
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

#[async_trait]
impl LeaseStore for RedisLeases {
    async fn acquire(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        self.take(pool, holder, ttl, limit, false).await
    }

    async fn reassert(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        self.take(pool, holder, ttl, limit, true).await
    }

    async fn acquire_all(
        &self,
        pools: &[(PoolId, u32)],
        holder: &str,
        ttl: Duration,
    ) -> Result<Acquire, LeaseError> {
        if self.one_keyspace {
            self.take_all(pools, holder, ttl).await
        } else {
            // Each pool's keys hash to a cluster slot of their own.
            super::acquire_each(self, pools, holder, ttl).await
        }
    }

    async fn changed(&self, pools: &[PoolId]) -> Result<Vec<PoolId>, LeaseError> {
        let answers = futures::future::join_all(pools.iter().map(|pool| async move {
            let epoch: String = self
                .call(&self.epoch, pool, vec![Value::from(self.quarantine_ms)])
                .await?;
            Ok::<_, LeaseError>((pool, epoch))
        }))
        .await;
        for answer in answers {
            let (pool, epoch) = answer?;
            self.saw_epoch(pool, epoch);
        }
        let mut unsettled: Vec<PoolId> = lock(&self.unsettled).iter().cloned().collect();
        unsettled.sort();
        Ok(unsettled)
    }

    fn settled(&self, pool: &PoolId) {
        lock(&self.unsettled).remove(pool);
    }

    async fn renew(&self, pool: &PoolId, holder: &str, ttl: Duration) -> Result<bool, LeaseError> {
        let ttl = check_ttl(ttl)?;
        let renewed: i64 = self
            .call(
                &self.renew,
                pool,
                vec![Value::from(holder), Value::from(ttl as i64)],
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError> {
        let released: i64 = self
            .call(&self.release, pool, vec![Value::from(holder)])
            .await?;
        Ok(released == 1)
    }

    async fn release_many(
        &self,
        pool: &PoolId,
        holders: &[String],
    ) -> Result<Vec<bool>, LeaseError> {
        let mut released = Vec::with_capacity(holders.len());
        // Lua's `unpack` and a script's arguments stay well inside their limits per call.
        for chunk in holders.chunks(RELEASE_CHUNK) {
            let args = chunk.iter().map(|h| Value::from(h.as_str())).collect();
            let answers: Vec<i64> = self.call(&self.release_many, pool, args).await?;
            released.extend(answers.into_iter().map(|a| a == 1));
        }
        Ok(released)
    }

    async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError> {
        let n: i64 = self.call(&self.count, pool, Vec::new()).await?;
        Ok(u32_of(n))
    }

    async fn ping(&self) -> Result<(), LeaseError> {
        self.pool
            .ping::<String>(None)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
