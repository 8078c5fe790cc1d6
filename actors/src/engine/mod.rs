//! The engine's handle: how the API (and tests) start the actor system and talk to it. Routes
//! use these methods, never actor messages.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use dialer_engine::{
    CallId, Campaign, CampaignCommand, CampaignId, CampaignState, Clock, PhoneNumber,
    ProviderReport,
};
use dialer_storage::Store;
use dialer_storage::lease::LeaseStore;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::sync::broadcast;

use crate::campaign::{CampaignMessage, CommandOutcome, DispatchSnapshot, Hint};
use crate::ctx::{CallNotice, Ctx, EngineConfig, Restarts};
use crate::error::EngineError;
use crate::provider::{Providers, ReportSink};
use crate::rate::RateLimits;
use crate::recent::Recent;
use crate::supervisor::{EngineSupervisor, Registry, SupervisorArgs, SupervisorMessage};

mod calls;

/// What an engine runs on.
pub struct EngineDeps {
    pub store: Arc<dyn Store>,
    pub leases: Arc<dyn LeaseStore>,
    pub providers: Providers,
    pub clock: Arc<dyn Clock>,
}

/// A running engine.
pub struct Engine {
    ctx: Arc<Ctx>,
    registry: Arc<Registry>,
    supervisor: ActorRef<SupervisorMessage>,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Recent initiations per (campaign, number), for the duplicate window without a race.
    recent: Mutex<Recent<(CampaignId, PhoneNumber)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("node", &self.ctx.config.node_id)
            .finish_non_exhaustive()
    }
}

fn rpc<T>(result: Result<CallResult<T>, impl std::fmt::Display>) -> Result<T, EngineError> {
    match result {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err(EngineError::Unavailable("no answer from the engine".into())),
        Err(e) => Err(EngineError::Unavailable(format!(
            "engine actor unavailable: {e}"
        ))),
    }
}

impl Engine {
    /// Starts the actor tree: an owner for every campaign with something to do, each of which
    /// adopts its calls in flight and reads its pending calls from storage.
    pub async fn start(deps: EngineDeps, config: EngineConfig) -> Result<Arc<Self>, EngineError> {
        let (notices, _) = broadcast::channel(4096);
        let (lifecycle, _) = broadcast::channel(256);
        let ctx = Arc::new(Ctx {
            rates: RateLimits::new(Arc::clone(&deps.clock)),
            store: deps.store,
            leases: deps.leases,
            providers: deps.providers,
            clock: deps.clock,
            config,
            restarts: Restarts::default(),
            notices,
            lifecycle,
            recorder: Default::default(),
            keeper: Default::default(),
            live: Default::default(),
            gauges: Default::default(),
            stopping: Default::default(),
        });
        let registry = Arc::new(Registry::default());
        let args = SupervisorArgs {
            ctx: Arc::clone(&ctx),
            registry: Arc::clone(&registry),
        };
        let (supervisor, join) = Actor::spawn(None, EngineSupervisor, args)
            .await
            .map_err(|e| EngineError::Unavailable(format!("engine start: {e}")))?;
        Ok(Arc::new(Self {
            ctx,
            registry,
            supervisor,
            join: Mutex::new(Some(join)),
            recent: Mutex::new(Recent::default()),
        }))
    }

    /// Stops every actor (calls in flight stay recorded as live and are adopted by the next
    /// start). Does not close the store.
    pub async fn shutdown(&self) {
        self.ctx.stopping.store(true, Ordering::Relaxed);
        self.supervisor.stop(Some("shutdown".into()));
        let join = self.join.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(join) = join {
            let _ = join.await;
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.ctx.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.ctx.clock
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.ctx.store
    }

    pub fn leases(&self) -> &Arc<dyn LeaseStore> {
        &self.ctx.leases
    }

    pub fn providers(&self) -> &Providers {
        &self.ctx.providers
    }

    pub fn restarts(&self) -> &Restarts {
        &self.ctx.restarts
    }

    /// Call state changes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<CallNotice> {
        self.ctx.notices.subscribe()
    }

    /// Waits until a campaign reaches `state` (immediately if it is there already).
    pub async fn wait_for_campaign(
        &self,
        id: CampaignId,
        state: CampaignState,
    ) -> Result<Campaign, EngineError> {
        let mut changes = self.ctx.lifecycle.subscribe();
        loop {
            let campaign = self.campaign(id).await?;
            if campaign.state == state {
                return Ok(campaign);
            }
            match changes.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Err(EngineError::Stopped),
            }
        }
    }

    /// Something to hand to providers that report in-process (the simulator).
    pub fn sink(self: &Arc<Self>) -> Arc<dyn ReportSink> {
        Arc::new(EngineSink(Arc::downgrade(self)))
    }

    async fn campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        self.ctx
            .store
            .get_campaign(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "campaign",
                id: id.to_string(),
            })
    }

    /// Asks a campaign's owner something, starting one if there is none. An owner that
    /// retired just as the request reached it (it was idle) is replaced, once.
    pub(crate) async fn ask_owner<T: Send + 'static>(
        &self,
        id: CampaignId,
        make: impl Fn(ractor::RpcReplyPort<T>) -> CampaignMessage,
    ) -> Result<T, EngineError> {
        let mut last = EngineError::Stopped;
        for _ in 0..2 {
            let owner = self.registry.ensure(id).await?;
            match owner.call(&make, None).await {
                Ok(CallResult::Success(v)) => return Ok(v),
                Ok(CallResult::Timeout) => {
                    return Err(EngineError::Unavailable("no answer from the engine".into()));
                }
                // Gone before it answered: retired, or failing and about to be restarted.
                Ok(CallResult::SenderError) | Err(_) => {
                    last = EngineError::Unavailable(format!(
                        "the owner of campaign {id} stopped; try again"
                    ));
                }
            }
        }
        Err(last)
    }

    /// Asks a campaign's owner (started if needed) to apply a lifecycle command.
    pub async fn command(
        &self,
        id: CampaignId,
        command: CampaignCommand,
    ) -> Result<CommandOutcome, EngineError> {
        self.ask_owner(id, |reply| CampaignMessage::Command { command, reply })
            .await?
    }

    /// Starts dialing a campaign's contact list (or resumes a paused one, or starts a
    /// completed one again).
    pub async fn start_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        Ok(self.command(id, CampaignCommand::Start).await?.campaign)
    }

    /// No new dials; calls in flight finish.
    pub async fn pause_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        Ok(self.command(id, CampaignCommand::Pause).await?.campaign)
    }

    pub async fn resume_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        Ok(self.command(id, CampaignCommand::Resume).await?.campaign)
    }

    /// Cancels the campaign's pending work (list and one-off calls); calls in flight finish and
    /// are not retried. Returns the campaign and how many calls were cancelled.
    pub async fn stop_campaign(&self, id: CampaignId) -> Result<(Campaign, u32), EngineError> {
        let outcome = self.command(id, CampaignCommand::Stop).await?;
        Ok((outcome.campaign, outcome.cancelled))
    }

    /// New settings for a campaign apply to calls dispatched from now on.
    pub fn campaign_updated(&self, campaign: &Campaign) {
        if let Some(owner) = self.registry.route(campaign.id) {
            let _ = owner.cast(CampaignMessage::Settings(Box::new(campaign.clone())));
        }
    }

    /// Contacts were imported into a campaign: a running one dials them at once.
    pub fn contacts_added(&self, id: CampaignId) {
        self.registry.hint(id, Hint::Contacts);
    }

    /// A running campaign owner's dispatch state.
    pub async fn campaign_snapshot(&self, id: CampaignId) -> Option<DispatchSnapshot> {
        let owner = self.registry.route(id)?;
        rpc(owner.call(CampaignMessage::Snapshot, None).await).ok()
    }

    /// Whether a campaign has an owner on this node.
    pub fn is_running(&self, id: CampaignId) -> bool {
        self.registry.route(id).is_some()
    }

    /// How many calls this node's dialer slots are carrying now (0 once every call has ended).
    /// The gauges read from the engine's state now, in the Prometheus text format
    /// ([`crate::gauges`]).
    pub fn state_metrics(&self) -> String {
        self.ctx
            .gauges
            .render(self.ctx.live.len(), self.ctx.config.max_concurrent_calls)
    }

    /// Calls of `id` due and waiting (for a line or a rate token) as its owner holds them; 0
    /// when no owner runs.
    pub fn calls_waiting(&self, id: CampaignId) -> u64 {
        self.campaign_gauges(id)
            .map_or(0, |g| (g.waiting_lines + g.waiting_rate) as u64)
    }

    /// What `id`'s owner holds now (waiting calls by reason, lines); none when no owner runs.
    pub fn campaign_gauges(&self, id: CampaignId) -> Option<crate::gauges::CampaignGauges> {
        self.ctx.gauges.get(id)
    }

    /// The most calls in flight at once on this node, per UTC day since it started.
    pub fn daily_peaks(&self) -> std::collections::BTreeMap<chrono::NaiveDate, usize> {
        self.ctx.live.peaks()
    }

    pub fn calls_in_slots(&self) -> usize {
        self.ctx.live.len()
    }

    /// Whether the engine's actors are up (for `/readyz`).
    pub fn is_alive(&self) -> bool {
        self.ctx.recorder.is_up() && self.ctx.keeper.is_up() && !self.ctx.is_stopping()
    }
}

struct EngineSink(Weak<Engine>);

#[async_trait]
impl ReportSink for EngineSink {
    async fn deliver(&self, call_id: CallId, report: ProviderReport) -> Result<(), String> {
        let engine = self.0.upgrade().ok_or("the engine is gone")?;
        if !engine.is_alive() {
            return Err("the engine is stopped".into());
        }
        match engine.report(call_id, report).await {
            Ok(_) | Err(EngineError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
