//! The LeaseKeeper holds the leases of calls in flight: it renews them every third of their TTL
//! while the calls are live, and gives them back when the calls end. If the lease store loses
//! a lease (expired during an outage, or a Redis restart), the keeper takes it again.
//!
//! Leases are named after the call (`holder = call id`), so re-acquiring after a restart renews
//! the same lease rather than taking a second one.

use std::collections::HashMap;
use std::sync::Arc;

use dialer_engine::CallId;
use dialer_storage::lease::{Acquire, PoolId};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::ctx::Ctx;

pub(crate) enum LeaseKeeperMessage {
    /// The call holds these (pool, limit) leases until released. `held`: they were just granted;
    /// otherwise (adopting a call after a restart) the keeper takes them again first.
    Track {
        call_id: CallId,
        pools: Vec<(PoolId, u32)>,
        held: bool,
    },
    Release {
        call_id: CallId,
    },
    Renew,
}

pub(crate) struct LeaseKeeperActor;

pub(crate) struct LeaseKeeperState {
    ctx: Arc<Ctx>,
    held: HashMap<CallId, Vec<(PoolId, u32)>>,
}

impl Actor for LeaseKeeperActor {
    type Msg = LeaseKeeperMessage;
    type State = LeaseKeeperState;
    type Arguments = Arc<Ctx>;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        ctx: Arc<Ctx>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let every = ctx.clock.real_duration(ctx.config.lease_ttl / 3);
        me.send_interval(every, || LeaseKeeperMessage::Renew);
        Ok(LeaseKeeperState {
            ctx,
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
            LeaseKeeperMessage::Release { call_id } => state.on_release(call_id).await,
            LeaseKeeperMessage::Renew => state.on_renew().await,
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
        // Re-acquiring is idempotent: a call that still holds a lease renews it, same token.
        let holder = call_id.to_string();
        let ttl = self.ctx.config.lease_ttl;
        for (pool, limit) in pools.iter().filter(|_| !held) {
            if let Err(e) = self.ctx.leases.acquire(pool, &holder, ttl, *limit).await {
                crate::metrics::lease_error();
                tracing::warn!(%call_id, pool = %pool, error = %e, "could not take the lease of a call in flight");
            }
        }
        self.held.insert(call_id, pools);
    }

    async fn on_release(&mut self, call_id: CallId) {
        let Some(pools) = self.held.remove(&call_id) else {
            return;
        };
        let holder = call_id.to_string();
        let leases = &self.ctx.leases;
        for (pool, _) in pools {
            if let Err(e) = leases.release(&pool, &holder).await {
                crate::metrics::lease_error();
                tracing::warn!(%call_id, pool = %pool, error = %e, "lease release failed; it will expire by itself");
            }
        }
    }

    async fn on_renew(&mut self) {
        let ttl = self.ctx.config.lease_ttl;
        let leases = &self.ctx.leases;
        let all: Vec<(&CallId, &PoolId, u32)> = self
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
                    Ok(false) => {
                        // Lost (expired during an outage): take it again; a full pool means the
                        // call runs over the cap until it ends, which is logged.
                        match leases.acquire(pool, &holder, ttl, limit).await {
                            Ok(Acquire::Granted { .. }) => {}
                            Ok(Acquire::Full { held }) => {
                                tracing::warn!(%call_id, pool = %pool, held, "lease lost and its pool is full")
                            }
                            Err(_) => crate::metrics::lease_error(),
                        }
                    }
                    Err(_) => crate::metrics::lease_error(),
                }
            }))
            .await;
            tokio::task::yield_now().await;
        }
    }
}
