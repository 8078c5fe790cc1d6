//! The LeaseKeeper holds the leases of this node's calls in flight: it renews them every third
//! of their TTL while the calls are live, gives them back when the calls end, and takes them
//! again when the lease store lost them.
//!
//! Leases are named after the call (`holder = call id`), so taking one again after a restart
//! renews the same lease rather than adding a second. A store that lost its state (Redis back
//! empty) starts the pool in quarantine: the keeper watches the pools its calls hold leases in
//! (every `watch` interval), re-asserts every lease in a pool that changed, and only then lets
//! this node take fresh leases there again — so the cap holds across a Redis restart.
//!
//! Nothing here waits on a caller: lease-store latency and outages never hold up dialing or
//! provider reports, which reach the keeper only by fire-and-forget casts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dialer_engine::{CallId, Clock};
use dialer_storage::lease::{Acquire, LeaseStore, PoolId};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};

pub(crate) enum LeaseKeeperMessage {
    /// The call holds these (pool, limit) leases until released. `held`: they were just granted;
    /// otherwise (adopting a call after a restart) the keeper re-asserts them first.
    Track {
        call_id: CallId,
        pools: Vec<(PoolId, u32)>,
        held: bool,
    },
    Release {
        call_id: CallId,
        /// Answered once the leases are given back (or giving them back failed).
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
    Renew,
    Watch,
}

/// How calls reach the lease keeper, whichever generation of it is running.
#[derive(Debug, Default)]
pub(crate) struct KeeperHandle {
    actor: RwLock<Option<ActorRef<LeaseKeeperMessage>>>,
}

impl KeeperHandle {
    pub(crate) fn set(&self, actor: Option<ActorRef<LeaseKeeperMessage>>) {
        *self.actor.write().unwrap_or_else(|p| p.into_inner()) = actor;
    }

    pub(crate) fn is_up(&self) -> bool {
        self.actor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn cast(&self, msg: LeaseKeeperMessage) {
        let actor = self.actor.read().unwrap_or_else(|p| p.into_inner()).clone();
        // A restarting keeper loses nothing that matters: a lease it does not renew expires by
        // itself, and calls it does not know are re-tracked by their slots' adoption.
        if let Some(actor) = actor {
            let _ = actor.cast(msg);
        }
    }

    pub(crate) fn track(&self, call_id: CallId, pools: Vec<(PoolId, u32)>, held: bool) {
        self.cast(LeaseKeeperMessage::Track {
            call_id,
            pools,
            held,
        });
    }

    pub(crate) fn release(&self, call_id: CallId) {
        self.cast(LeaseKeeperMessage::Release {
            call_id,
            done: None,
        });
    }

    /// Gives a call's leases back and waits until they are (so that its line can be taken by
    /// the next call at once). Returns at once when no keeper runs.
    pub(crate) async fn release_now(&self, call_id: CallId) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cast(LeaseKeeperMessage::Release {
            call_id,
            done: Some(tx),
        });
        let _ = rx.await;
    }
}

/// The real time `d` lasts on the clock a lease store's TTLs and quarantines run on: Redis's
/// own (real) clock, or the engine's, which a benchmark or a test may run faster.
pub(crate) fn on_store_clock(leases: &dyn LeaseStore, clock: &dyn Clock, d: Duration) -> Duration {
    if leases.ttl_in_real_time() {
        d
    } else {
        clock.real_duration(d)
    }
}

pub(crate) struct KeeperArgs {
    pub leases: Arc<dyn LeaseStore>,
    pub clock: Arc<dyn Clock>,
    pub ttl: Duration,
    /// How often the pools in use are checked for lost state (real time).
    pub watch: Duration,
}

pub(crate) struct LeaseKeeperActor;

pub(crate) struct LeaseKeeperState {
    leases: Arc<dyn LeaseStore>,
    ttl: Duration,
    held: HashMap<CallId, Vec<(PoolId, u32)>>,
}

impl Actor for LeaseKeeperActor {
    type Msg = LeaseKeeperMessage;
    type State = LeaseKeeperState;
    type Arguments = KeeperArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        args: KeeperArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Every third of the TTL, on the clock the store's TTLs run on: Redis expires leases by
        // its own (real) clock, so a clock sped up 100× must not renew them 100× as often.
        let every = on_store_clock(args.leases.as_ref(), args.clock.as_ref(), args.ttl / 3);
        me.send_interval(every, || LeaseKeeperMessage::Renew);
        me.send_interval(args.watch, || LeaseKeeperMessage::Watch);
        Ok(LeaseKeeperState {
            leases: args.leases,
            ttl: args.ttl,
            held: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LeaseKeeperMessage::Track {
                call_id,
                pools,
                held,
            } => state.on_track(call_id, pools, held).await,
            LeaseKeeperMessage::Release { call_id, done } => {
                state.on_release(call_id).await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            LeaseKeeperMessage::Renew => state.on_renew().await,
            LeaseKeeperMessage::Watch => state.on_watch().await,
        }
        crate::metrics::leases_held(state.held.len());
        Ok(())
    }
}

/// Renewals in flight at once: enough to pipeline on a Redis connection, few enough that a round
/// never holds a runtime thread for long.
const RENEW_CHUNK: usize = 256;

impl LeaseKeeperState {
    async fn on_track(&mut self, call_id: CallId, pools: Vec<(PoolId, u32)>, held: bool) {
        if !held {
            let holder = call_id.to_string();
            for (pool, limit) in &pools {
                self.reassert(call_id, &holder, pool, *limit).await;
            }
        }
        self.held.insert(call_id, pools);
    }

    /// Takes a lease of a call in flight again (renewing it when it is still held).
    async fn reassert(&self, call_id: CallId, holder: &str, pool: &PoolId, limit: u32) {
        match self.leases.reassert(pool, holder, self.ttl, limit).await {
            Ok(Acquire::Granted { .. }) => {}
            Ok(other) => {
                // The pool filled meanwhile: this call runs over the cap until it ends.
                crate::metrics::lease_error();
                tracing::warn!(%call_id, pool = %pool, answer = ?other, "could not re-assert the lease of a call in flight");
            }
            Err(e) => {
                crate::metrics::lease_error();
                tracing::warn!(%call_id, pool = %pool, error = %e, "could not re-assert the lease of a call in flight");
            }
        }
    }

    async fn on_release(&mut self, call_id: CallId) {
        let Some(pools) = self.held.remove(&call_id) else {
            return;
        };
        let holder = call_id.to_string();
        // The pools' leases are independent: given back together, one round trip, not one each.
        let leases = &self.leases;
        let released = join_all(pools.iter().map(|(pool, _)| leases.release(pool, &holder))).await;
        for ((pool, _), result) in pools.iter().zip(released) {
            if let Err(e) = result {
                crate::metrics::lease_error();
                tracing::warn!(%call_id, pool = %pool, error = %e, "lease release failed; it will expire by itself");
            }
        }
    }

    /// Re-asserts every lease in the pools whose state the store lost (a pool this node holds
    /// nothing in is settled at once: it has nothing to re-assert).
    async fn on_watch(&mut self) {
        let pools: Vec<PoolId> = self
            .held
            .values()
            .flat_map(|p| p.iter().map(|(pool, _)| pool.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let changed = match self.leases.changed(&pools).await {
            Ok(changed) => changed,
            Err(_) => {
                // Unreachable: nothing is granted meanwhile; the next watch asks again.
                crate::metrics::lease_error();
                return;
            }
        };
        for pool in changed {
            tracing::warn!(pool = %pool, "the lease store lost this pool's leases; re-asserting them");
            let holders: Vec<(CallId, u32)> = self
                .held
                .iter()
                .filter_map(|(call_id, pools)| {
                    pools
                        .iter()
                        .find(|(p, _)| *p == pool)
                        .map(|(_, limit)| (*call_id, *limit))
                })
                .collect();
            let this = &*self;
            join_all(holders.iter().map(|(call_id, limit)| {
                let holder = call_id.to_string();
                let pool = &pool;
                async move { this.reassert(*call_id, &holder, pool, *limit).await }
            }))
            .await;
            self.leases.settled(&pool);
        }
    }

    async fn on_renew(&mut self) {
        let this = &*self;
        let ttl = this.ttl;
        let leases = &this.leases;
        let all: Vec<(&CallId, &PoolId, u32)> = this
            .held
            .iter()
            .flat_map(|(call_id, pools)| pools.iter().map(move |(p, limit)| (call_id, p, *limit)))
            .collect();
        // In chunks, yielding between them: tens of thousands of renewals that complete without
        // waiting (the in-process store) would otherwise hold a runtime thread for the whole
        // round and stall the requests queued behind it.
        for chunk in all.chunks(RENEW_CHUNK) {
            join_all(chunk.iter().map(|&(call_id, pool, limit)| async move {
                let holder = call_id.to_string();
                match leases.renew(pool, &holder, ttl).await {
                    Ok(true) => {}
                    // Lost (expired during an outage): take it again.
                    Ok(false) => this.reassert(*call_id, &holder, pool, limit).await,
                    Err(_) => crate::metrics::lease_error(),
                }
            }))
            .await;
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::TimeZone;
    use dialer_storage::lease::{InProcessLeases, LeaseError};

    use super::*;
    use crate::clock::ScaledClock;

    /// The in-process store, counting renewals, with the clock its TTLs run on chosen.
    #[derive(Debug)]
    struct Counting {
        inner: InProcessLeases,
        real_time: bool,
        renewals: AtomicU32,
    }

    #[async_trait::async_trait]
    impl LeaseStore for Counting {
        async fn acquire(
            &self,
            pool: &PoolId,
            holder: &str,
            ttl: Duration,
            limit: u32,
        ) -> Result<Acquire, LeaseError> {
            self.inner.acquire(pool, holder, ttl, limit).await
        }
        async fn renew(
            &self,
            pool: &PoolId,
            holder: &str,
            ttl: Duration,
        ) -> Result<bool, LeaseError> {
            self.renewals.fetch_add(1, Ordering::SeqCst);
            self.inner.renew(pool, holder, ttl).await
        }
        async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError> {
            self.inner.release(pool, holder).await
        }
        async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError> {
            self.inner.count(pool).await
        }
        async fn ping(&self) -> Result<(), LeaseError> {
            Ok(())
        }
        fn backend(&self) -> &'static str {
            "counting"
        }
        fn ttl_in_real_time(&self) -> bool {
            self.real_time
        }
    }

    /// Renewals of one call's lease over 35 real seconds, the engine's clock at 100×.
    async fn renewals_in_35_real_seconds(real_time: bool) -> u32 {
        let epoch = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(epoch, 100));
        let store = Arc::new(Counting {
            inner: InProcessLeases::new(Arc::clone(&clock)),
            real_time,
            renewals: AtomicU32::new(0),
        });
        let args = KeeperArgs {
            leases: store.clone(),
            clock,
            ttl: Duration::from_secs(30),
            watch: Duration::from_secs(3600),
        };
        let (keeper, task) = Actor::spawn(None, LeaseKeeperActor, args).await.unwrap();
        let call_id = CallId::generate(epoch);
        let pool = PoolId::global();
        store
            .acquire(&pool, &call_id.to_string(), Duration::from_secs(30), 10)
            .await
            .unwrap();
        keeper
            .cast(LeaseKeeperMessage::Track {
                call_id,
                pools: vec![(pool, 10)],
                held: true,
            })
            .unwrap();
        for _ in 0..350 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        keeper.stop(None);
        task.await.unwrap();
        store.renewals.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_are_paced_on_the_clock_the_store_expires_leases_by() {
        // Redis expires by its own clock: every 10 real seconds, whatever the engine's speed.
        assert_eq!(renewals_in_35_real_seconds(true).await, 3);
        // The in-process store expires by the engine's clock: every 10 of its seconds, 0.1 s here.
        let scaled = renewals_in_35_real_seconds(false).await;
        assert!((345..=350).contains(&scaled), "{scaled}");
    }
}
