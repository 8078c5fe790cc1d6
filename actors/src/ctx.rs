//! What every actor of an engine shares: its dependencies (store, leases, providers, clock),
//! its configuration, the rate buckets, and the routes to the actors that own calls.
//!
//! Routes are how messages find actors that may have been restarted: a holder of a dead
//! actor's `ActorRef` gets a send error, so senders look the route up again at the moment of
//! sending instead of keeping references.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallId, CallOrigin, CampaignId, Clock, NodeId, RestartPolicy, Step};
use dialer_storage::lease::LeaseStore;
use dialer_storage::{StorageError, Store, WriteBatch};
use ractor::ActorRef;
use tokio::sync::broadcast;

use crate::campaign::CampaignMessage;
use crate::lease_keeper::LeaseKeeperMessage;
use crate::provider::Providers;
use crate::rate::RateLimits;
use crate::recorder::RecorderMessage;
use crate::scheduler::SchedulerMessage;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub node_id: NodeId,
    /// The global concurrency cap (the seed's `MAX_CONCURRENT_CALLS`).
    pub max_concurrent_calls: u32,
    /// Lines of the one-off pool (initiate-call and scheduled calls).
    pub one_off_lines: u32,
    /// How long a lease lives without renewal; the lease keeper renews at a third of it.
    pub lease_ttl: Duration,
    /// How soon a dispatcher asks again for a lease when its pools were full (wall time).
    pub capacity_retry: Duration,
    /// How many calls a campaign keeps queued per line before pulling more contacts.
    pub read_ahead_per_line: u32,
    /// Calls a campaign may hold deferred (calling hours closed) before it stops pulling.
    pub max_deferred_per_campaign: usize,
    /// The most call updates the recorder writes in one commit.
    pub recorder_max_batch: usize,
    pub restart: RestartPolicy,
}

impl EngineConfig {
    pub fn new(node_id: NodeId) -> Self {
        Self {
            node_id,
            max_concurrent_calls: 100,
            one_off_lines: 100,
            lease_ttl: Duration::from_secs(30),
            capacity_retry: Duration::from_millis(250),
            read_ahead_per_line: 2,
            max_deferred_per_campaign: 10_000,
            recorder_max_batch: 512,
            restart: RestartPolicy::default(),
        }
    }
}

/// Why the engine refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request conflicts with the current state (e.g. starting a stopped campaign).
    #[error("{0}")]
    Conflict(String),
    /// Storage or leases cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The same number was called in this campaign within the duplicate window.
    #[error("a call to this number in this campaign was made less than the duplicate window ago")]
    Duplicate { retry_after: chrono::Duration },
    /// The engine is shutting down.
    #[error("the engine is stopped")]
    Stopped,
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { what, id } => Self::NotFound { what, id },
            StorageError::Closed => Self::Stopped,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A call's state change, for live feeds (server-sent events).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallNotice {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub status: dialer_engine::CallStatus,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// Restart counts per kind of actor, for tests and metrics.
#[derive(Debug, Default)]
pub struct Restarts {
    pub slots: AtomicU64,
    pub windows: AtomicU64,
    pub campaigns: AtomicU64,
    pub services: AtomicU64,
}

impl Restarts {
    pub fn total(&self) -> u64 {
        [&self.slots, &self.windows, &self.campaigns, &self.services]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }
}

/// Where to find the actors that may be restarted.
#[derive(Debug, Default)]
pub struct Routes {
    pub(crate) scheduler: RwLock<Option<ActorRef<SchedulerMessage>>>,
    pub(crate) recorder: RwLock<Option<ActorRef<RecorderMessage>>>,
    pub(crate) lease_keeper: RwLock<Option<ActorRef<LeaseKeeperMessage>>>,
    pub(crate) one_off: RwLock<Option<ActorRef<CampaignMessage>>>,
    pub(crate) campaigns: RwLock<HashMap<CampaignId, ActorRef<CampaignMessage>>>,
}

fn read<T: Clone>(lock: &RwLock<Option<T>>) -> Option<T> {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

pub(crate) fn set<T>(lock: &RwLock<Option<T>>, value: Option<T>) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = value;
}

impl Routes {
    pub(crate) fn scheduler(&self) -> Option<ActorRef<SchedulerMessage>> {
        read(&self.scheduler)
    }

    pub(crate) fn recorder(&self) -> Option<ActorRef<RecorderMessage>> {
        read(&self.recorder)
    }

    pub(crate) fn lease_keeper(&self) -> Option<ActorRef<LeaseKeeperMessage>> {
        read(&self.lease_keeper)
    }

    pub(crate) fn one_off(&self) -> Option<ActorRef<CampaignMessage>> {
        read(&self.one_off)
    }

    pub(crate) fn campaign(&self, id: CampaignId) -> Option<ActorRef<CampaignMessage>> {
        self.campaigns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    pub(crate) fn set_campaign(&self, id: CampaignId, actor: Option<ActorRef<CampaignMessage>>) {
        let mut map = self.campaigns.write().unwrap_or_else(|p| p.into_inner());
        match actor {
            Some(a) => map.insert(id, a),
            None => map.remove(&id),
        };
    }

    /// The dispatcher that owns calls of this campaign and origin.
    pub(crate) fn dispatcher(
        &self,
        campaign: CampaignId,
        origin: CallOrigin,
    ) -> Option<ActorRef<CampaignMessage>> {
        match origin {
            CallOrigin::Campaign => self.campaign(campaign),
            CallOrigin::Api | CallOrigin::Scheduled => self.one_off(),
        }
    }
}

/// Everything an engine's actors share.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub leases: Arc<dyn LeaseStore>,
    pub providers: Providers,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    pub rates: RateLimits,
    pub routes: Routes,
    pub restarts: Restarts,
    pub notices: broadcast::Sender<CallNotice>,
    /// Campaign lifecycle changes made by the engine itself (completion).
    pub lifecycle: broadcast::Sender<(CampaignId, dialer_engine::CampaignState)>,
    /// Numbers with a call queued or in flight, per campaign, across every dispatcher: the
    /// duplicate guard.
    pub(crate) live_numbers:
        std::sync::Mutex<HashMap<(CampaignId, dialer_engine::PhoneNumber), CallId>>,
    /// Where the calls a dialer slot carries are routed, so that a provider report reaches its
    /// slot without a storage read. An entry lives exactly as long as the slot holds the call
    /// (see [`LiveCall`]); a call missing here is looked up in storage.
    pub(crate) live_calls: std::sync::Mutex<HashMap<CallId, (CampaignId, CallOrigin)>>,
}

/// A slot's claim on a live call's route: registered when made, removed when dropped, so that
/// no path out of a slot (finish, crash, stop) can leave a stale route behind.
pub(crate) struct LiveCall {
    ctx: Arc<Ctx>,
    call_id: CallId,
}

impl LiveCall {
    pub(crate) fn register(ctx: &Arc<Ctx>, call: &Call) -> Self {
        ctx.live_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call.call_id, (call.campaign_id, call.origin));
        Self {
            ctx: Arc::clone(ctx),
            call_id: call.call_id,
        }
    }
}

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.ctx
            .live_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.call_id);
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("node", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

/// The batch a step writes for a call.
pub(crate) fn batch_of(call: &Call, step: &Step) -> WriteBatch {
    let mut batch = WriteBatch {
        calls: vec![call.clone()],
        audits: step.audits.clone(),
        ..WriteBatch::default()
    };
    for (name, delta) in &step.counters {
        batch.counter(call.campaign_id, name.clone(), *delta);
    }
    batch
}

impl Ctx {
    /// A call from storage, or [`EngineError::NotFound`].
    pub(crate) async fn call(&self, call_id: CallId) -> Result<Call, EngineError> {
        self.store
            .get_call(call_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "call",
                id: call_id.to_string(),
            })
    }

    /// The campaign and origin of a call a slot is carrying, if one is.
    pub(crate) fn live_route(&self, call_id: CallId) -> Option<(CampaignId, CallOrigin)> {
        self.live_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&call_id)
            .copied()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Real tokio time until wall time `at` (zero if it has passed).
    pub fn real_until(&self, at: DateTime<Utc>) -> Duration {
        let wall = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        self.clock.real_duration(wall)
    }

    /// Persists a batch through the recorder; returns once it is durable.
    pub(crate) async fn record(&self, batch: WriteBatch) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        let recorder = self.routes.recorder().ok_or(EngineError::Stopped)?;
        let reply = recorder
            .call(|reply| RecorderMessage::Record { batch, reply }, None)
            .await
            .map_err(|_| EngineError::Unavailable("the recorder is restarting".into()))?;
        match reply {
            ractor::rpc::CallResult::Success(result) => result.map_err(EngineError::from),
            _ => Err(EngineError::Unavailable(
                "the recorder did not answer".into(),
            )),
        }
    }

    /// Persists a call's step and announces the change.
    pub(crate) async fn record_step(&self, call: &Call, step: &Step) -> Result<(), EngineError> {
        self.record(batch_of(call, step)).await?;
        if step.applied() {
            self.notify(call);
        }
        Ok(())
    }

    pub(crate) fn notify(&self, call: &Call) {
        // No subscriber is fine: nobody is watching the live feed.
        let _ = self.notices.send(CallNotice {
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            status: call.status,
            attempt: call.attempt_count,
            at: call.updated_at,
            next_retry_at: call.next_retry_at(),
        });
    }

    /// Puts a call on the timing wheel.
    pub(crate) fn schedule(&self, call: &Call, at: DateTime<Utc>) {
        if let Some(s) = self.routes.scheduler() {
            let _ = s.cast(SchedulerMessage::Schedule {
                call_id: call.call_id,
                campaign_id: call.campaign_id,
                origin: call.origin,
                at,
            });
        }
    }

    pub(crate) fn unschedule(&self, call_id: CallId) {
        if let Some(s) = self.routes.scheduler() {
            let _ = s.cast(SchedulerMessage::Cancel { call_id });
        }
    }

    pub(crate) fn release_leases(&self, call_id: CallId) {
        if let Some(k) = self.routes.lease_keeper() {
            let _ = k.cast(LeaseKeeperMessage::Release { call_id });
        }
    }

    /// Marks `call` as the one call of its number in flight or queued in its campaign; false
    /// when another call holds the number.
    pub(crate) fn claim_number(&self, call: &Call) -> bool {
        let mut live = self.live_numbers.lock().unwrap_or_else(|p| p.into_inner());
        let holder = live
            .entry((call.campaign_id, call.phone_number.clone()))
            .or_insert(call.call_id);
        *holder == call.call_id
    }

    pub(crate) fn release_number(
        &self,
        campaign: CampaignId,
        phone: &dialer_engine::PhoneNumber,
        call_id: CallId,
    ) {
        let mut live = self.live_numbers.lock().unwrap_or_else(|p| p.into_inner());
        let key = (campaign, phone.clone());
        if live.get(&key) == Some(&call_id) {
            live.remove(&key);
        }
    }

    /// A jitter sample in [0, 1) for restart backoff.
    pub(crate) fn jitter(&self) -> f64 {
        use rand::RngExt;
        rand::rng().random::<f64>()
    }
}
