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
    /// A round of releases ended: the next one may start.
    Released,
    /// A round of renewals ended; `lost`: the leases the store no longer had.
    Renewed {
        lost: Vec<(CallId, PoolId, u32)>,
    },
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
    me: ActorRef<LeaseKeeperMessage>,
    leases: Arc<dyn LeaseStore>,
    ttl: Duration,
    held: HashMap<CallId, Vec<(PoolId, u32)>>,
    /// Releases asked for while a round of them was in flight: the next round.
    releasing: Option<Releases>,
    /// A round of releases is in flight.
    release_in_flight: bool,
    /// A round of renewals is in flight.
    renewing: bool,
}

/// Leases to give back in one round: per pool, its holders, and who waits for the round.
#[derive(Default)]
struct Releases {
    by_pool: HashMap<PoolId, Vec<(CallId, String)>>,
    waiting: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Releases {
    fn is_empty(&self) -> bool {
        self.by_pool.is_empty() && self.waiting.is_empty()
    }
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
            me,
            leases: args.leases,
            ttl: args.ttl,
            held: HashMap::new(),
            releasing: None,
            release_in_flight: false,
            renewing: false,
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
            LeaseKeeperMessage::Release { call_id, done } => state.on_release(call_id, done),
            LeaseKeeperMessage::Released => state.on_released(),
            LeaseKeeperMessage::Renew => state.on_renew(),
            LeaseKeeperMessage::Renewed { lost } => state.on_renewed(lost).await,
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

    /// Stops renewing the call's leases and gives them back in the next round of releases.
    /// Rounds run one at a time beside the keeper, each one script call per pool: releases
    /// asked for meanwhile wait for the next, so a busy node gives back many leases a round
    /// trip rather than one (and the keeper never waits on the store for them).
    fn on_release(&mut self, call_id: CallId, done: Option<tokio::sync::oneshot::Sender<()>>) {
        let next = self.releasing.get_or_insert_with(Releases::default);
        if let Some(pools) = self.held.remove(&call_id) {
            let holder = call_id.to_string();
            for (pool, _) in pools {
                next.by_pool
                    .entry(pool)
                    .or_default()
                    .push((call_id, holder.clone()));
            }
        }
        next.waiting.extend(done);
        if !self.release_in_flight {
            self.release_round();
        }
    }

    fn on_released(&mut self) {
        self.release_in_flight = false;
        if self.releasing.as_ref().is_some_and(|r| !r.is_empty()) {
            self.release_round();
        }
    }

    fn release_round(&mut self) {
        let Some(round) = self.releasing.take().filter(|r| !r.is_empty()) else {
            return;
        };
        self.release_in_flight = true;
        let leases = Arc::clone(&self.leases);
        let me = self.me.clone();
        tokio::spawn(async move {
            let Releases { by_pool, waiting } = round;
            join_all(by_pool.into_iter().map(|(pool, holders)| {
                let leases = &leases;
                async move {
                    let names: Vec<String> = holders.iter().map(|(_, h)| h.clone()).collect();
                    if let Err(e) = leases.release_many(&pool, &names).await {
                        crate::metrics::lease_error();
                        tracing::warn!(pool = %pool, calls = holders.len(), error = %e, "lease release failed; the leases will expire by themselves");
                    }
                }
            }))
            .await;
            for done in waiting {
                let _ = done.send(());
            }
            let _ = me.cast(LeaseKeeperMessage::Released);
        });
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

    /// Renews every lease held, in a round beside the keeper (one at a time); the leases the
    /// store no longer has come back to be taken again if their calls still hold them.
    fn on_renew(&mut self) {
        if self.renewing {
            return;
        }
        self.renewing = true;
        let all: Vec<(CallId, PoolId, u32)> = self
            .held
            .iter()
            .flat_map(|(call_id, pools)| {
                pools
                    .iter()
                    .map(move |(p, limit)| (*call_id, p.clone(), *limit))
            })
            .collect();
        let leases = Arc::clone(&self.leases);
        let ttl = self.ttl;
        let me = self.me.clone();
        tokio::spawn(async move {
            let mut lost = Vec::new();
            // In chunks, yielding between them: tens of thousands of renewals that complete
            // without waiting (the in-process store) would otherwise hold a runtime thread for
            // the whole round and stall the requests queued behind it.
            for chunk in all.chunks(RENEW_CHUNK) {
                let answers = join_all(chunk.iter().map(|(call_id, pool, _)| {
                    let leases = &leases;
                    async move { leases.renew(pool, &call_id.to_string(), ttl).await }
                }))
                .await;
                for (lease, answer) in chunk.iter().zip(answers) {
                    match answer {
                        Ok(true) => {}
                        // Lost (expired during an outage, or released meanwhile).
                        Ok(false) => lost.push(lease.clone()),
                        Err(_) => crate::metrics::lease_error(),
                    }
                }
                tokio::task::yield_now().await;
            }
            let _ = me.cast(LeaseKeeperMessage::Renewed { lost });
        });
    }

    /// Takes again the leases a renewal found lost whose calls still hold them (a call
    /// released during the round is not taken again).
    async fn on_renewed(&mut self, lost: Vec<(CallId, PoolId, u32)>) {
        self.renewing = false;
        for (call_id, pool, limit) in lost {
            let still_held = self
                .held
                .get(&call_id)
                .is_some_and(|pools| pools.iter().any(|(p, _)| *p == pool));
            if still_held {
                self.reassert(call_id, &call_id.to_string(), &pool, limit)
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
