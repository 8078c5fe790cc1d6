//! What every actor of an engine shares: its dependencies (store, leases, providers, clock),
//! its configuration, the rate buckets, the handles of the services every call uses (the
//! recorder, the lease keeper) and the routes of the calls in flight.
//!
//! It knows no actor's messages: services are reached through their handles, slots through
//! their routes, and nothing here imports the campaign or slot actors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CampaignId, Clock, NodeId, RestartPolicy, Step};
use dialer_storage::lease::{LeaseStore, PoolId};
use dialer_storage::{StorageError, Store, WriteBatch};
use tokio::sync::broadcast;

use crate::error::EngineError;
use crate::lease_keeper::KeeperHandle;
use crate::live::LiveCalls;
use crate::provider::Providers;
use crate::rate::RateLimits;
use crate::recorder::{RecordError, RecorderHandle};

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub node_id: NodeId,
    /// The global concurrency cap (the seed's `MAX_CONCURRENT_CALLS`).
    pub max_concurrent_calls: u32,
    /// How long a lease lives without renewal; the lease keeper renews at a third of it.
    pub lease_ttl: Duration,
    /// How often the lease keeper checks the pools in use for lost state (real time).
    pub lease_watch: Duration,
    /// How soon a campaign asks again for leases when its pools were full (wall time).
    pub capacity_retry: Duration,
    /// How many pending calls of each lane a campaign holds in memory per line.
    pub read_ahead_per_line: u32,
    /// The most call updates the recorder writes in one commit.
    pub recorder_max_batch: usize,
    pub restart: RestartPolicy,
    /// When a dial request provably never reached the provider, how soon the call may be
    /// dialed again (wall time; the provider may say otherwise with `Retry-After`).
    pub dial_retry: Duration,
    /// How soon a slot asks a provider again about an attempt when the question failed.
    pub status_retry: Duration,
}

impl EngineConfig {
    pub fn new(node_id: NodeId) -> Self {
        Self {
            node_id,
            max_concurrent_calls: 100,
            lease_ttl: Duration::from_secs(30),
            lease_watch: Duration::from_millis(250),
            capacity_retry: Duration::from_millis(250),
            read_ahead_per_line: 2,
            recorder_max_batch: 512,
            restart: RestartPolicy::default(),
            dial_retry: Duration::from_secs(5),
            status_retry: Duration::from_secs(15),
        }
    }
}

/// A call's state change, for live feeds (server-sent events).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallNotice {
    pub call_id: dialer_engine::CallId,
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
    pub campaigns: AtomicU64,
    pub services: AtomicU64,
}

impl Restarts {
    pub fn total(&self) -> u64 {
        [&self.slots, &self.campaigns, &self.services]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
    pub restarts: Restarts,
    pub notices: broadcast::Sender<CallNotice>,
    /// Campaign lifecycle changes.
    pub lifecycle: broadcast::Sender<(CampaignId, dialer_engine::CampaignState)>,
    pub(crate) recorder: RecorderHandle,
    pub(crate) keeper: KeeperHandle,
    pub(crate) live: Arc<LiveCalls>,
    pub(crate) gauges: crate::gauges::StateGauges,
    /// Set when the engine begins to stop: retry loops end.
    pub(crate) stopping: AtomicBool,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("node", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

/// Counters also kept per UTC day (`day.2026-12-01.attempts`), for the daily figures of
/// `GET /api/v1/metrics`.
pub const DAILY_COUNTERS: &[&str] = &[
    "calls_created",
    "attempts",
    "outcome.PICKED",
    "outcome.DISCONNECTED",
    "outcome.RNR",
    "outcome.FAILED",
    "retries_scheduled",
    "talk_seconds",
];

/// Counters also kept per origin (`origin.list.attempts`, `origin.one_off.attempts`), so that a
/// campaign's stats split its list from its one-off calls.
pub const ORIGIN_COUNTERS: &[&str] = &["calls_created", "attempts", "outcome.PICKED"];

/// `list` for a call of the campaign's contact list, `one_off` for initiate-call and scheduled.
pub fn origin_group(origin: dialer_engine::CallOrigin) -> &'static str {
    match origin {
        dialer_engine::CallOrigin::Campaign => "list",
        _ => "one_off",
    }
}

/// The name of counter `name` for the UTC day of `at`.
pub fn daily_counter(at: DateTime<Utc>, name: &str) -> String {
    format!("day.{}.{name}", at.date_naive())
}

/// The call waits for its calling hours to open at `until`: decided, and counted as the
/// `deferred_calling_hours` decision.
pub(crate) fn defer_to_opening(call: &mut Call, until: DateTime<Utc>, now: DateTime<Utc>) -> Step {
    crate::metrics::decision(call.campaign_id, "deferred_calling_hours");
    dialer_engine::decide::deferred(call, until, now)
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
        if ORIGIN_COUNTERS.contains(&name.as_str()) {
            batch.counter(
                call.campaign_id,
                format!("origin.{}.{name}", origin_group(call.origin)),
                *delta,
            );
        }
        if DAILY_COUNTERS.contains(&name.as_str()) {
            batch.counter(
                call.campaign_id,
                daily_counter(call.updated_at, name),
                *delta,
            );
        }
    }
    batch
}

impl Ctx {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Real tokio time until wall time `at` (zero if it has passed).
    pub fn real_until(&self, at: DateTime<Utc>) -> Duration {
        let wall = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        self.clock.real_duration(wall)
    }

    /// `wall` later than now.
    pub fn after(&self, wall: Duration) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(wall).unwrap_or(chrono::Duration::MAX)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Writes a batch once; the caller decides what a failure means (an API request answers
    /// with it).
    pub(crate) async fn record(&self, batch: WriteBatch) -> Result<(), EngineError> {
        self.recorder.record(batch).await.map_err(EngineError::from)
    }

    /// Writes a batch, retrying with backoff for as long as storage is unavailable, until it is
    /// stored or the engine stops: a state change that happened is never dropped. Only a write
    /// storage refuses for good (a missing campaign, a corrupt record) is given up, and logged.
    pub(crate) async fn persist(&self, batch: WriteBatch) -> Result<(), EngineError> {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.recorder.record(batch.clone()).await {
                Ok(()) => return Ok(()),
                Err(RecordError::Storage(StorageError::Closed)) => {
                    return Err(EngineError::Stopped);
                }
                Err(
                    e @ (RecordError::Restarting
                    | RecordError::Storage(StorageError::Unavailable(_))),
                ) => {
                    if self.is_stopping() {
                        return Err(EngineError::Stopped);
                    }
                    crate::metrics::persist_retry();
                    tracing::warn!(error = %e, retry_in = ?delay, "a state change is not stored yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(RecordError::Storage(e)) => {
                    tracing::error!(error = %e, "storage refused a state change");
                    return Err(e.into());
                }
            }
        }
    }

    /// Persists a call's step (see [`persist`](Self::persist)) and announces the change.
    pub(crate) async fn persist_step(&self, call: &Call, step: &Step) -> Result<(), EngineError> {
        self.persist(batch_of(call, step)).await?;
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

    /// The lease pools a call of a campaign with `lines` lines takes: its campaign's, then the
    /// engine's.
    pub(crate) fn pools(&self, campaign: CampaignId, lines: u32) -> Vec<(PoolId, u32)> {
        vec![
            (PoolId::campaign(campaign), lines),
            (PoolId::global(), self.config.max_concurrent_calls),
        ]
    }

    /// A call from storage, or [`EngineError::NotFound`].
    pub(crate) async fn call(&self, call_id: dialer_engine::CallId) -> Result<Call, EngineError> {
        self.store
            .get_call(call_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "call",
                id: call_id.to_string(),
            })
    }
}
