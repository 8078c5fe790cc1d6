//! The engine's handle: how the API (and tests) start the actor system and talk to it. Routes
//! use these methods, never actor messages.

use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use dialer_engine::{
    CallId, Campaign, CampaignId, CampaignState, Clock, PhoneNumber, ProviderReport,
};
use dialer_storage::Store;
use dialer_storage::lease::LeaseStore;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::sync::broadcast;

use crate::campaign::{CampaignMessage, DispatchSnapshot};
use crate::ctx::{CallNotice, Ctx, EngineConfig, EngineError, Restarts, Routes};
use crate::provider::{Providers, ReportSink};
use crate::rate::RateLimits;
use crate::recent::Recent;
use crate::scheduler::SchedulerMessage;
use crate::supervisor::{EngineSupervisor, SupervisorMessage};

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
    /// Starts the actor tree: reloads running campaigns and every open call from storage.
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
            routes: Routes::default(),
            restarts: Restarts::default(),
            notices,
            lifecycle,
            live_numbers: std::sync::Mutex::default(),
            live_calls: std::sync::Mutex::default(),
        });
        let (supervisor, join) = Actor::spawn(None, EngineSupervisor, Arc::clone(&ctx))
            .await
            .map_err(|e| EngineError::Unavailable(format!("engine start: {e}")))?;
        Ok(Arc::new(Self {
            ctx,
            supervisor,
            join: Mutex::new(Some(join)),
            recent: Mutex::new(Recent::default()),
        }))
    }

    /// Stops every actor (calls in flight stay recorded as live and are adopted by the next
    /// start). Does not close the store.
    pub async fn shutdown(&self) {
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

    async fn set_state(
        &self,
        id: CampaignId,
        allowed: &[CampaignState],
        to: CampaignState,
    ) -> Result<Campaign, EngineError> {
        let mut campaign = self.campaign(id).await?;
        if campaign.state == to {
            return Ok(campaign);
        }
        if !allowed.contains(&campaign.state) {
            return Err(EngineError::Conflict(format!(
                "campaign {id} is {}; it cannot become {}",
                campaign.state.as_str(),
                to.as_str()
            )));
        }
        campaign.state = to;
        campaign.updated_at = self.ctx.now();
        self.ctx.store.update_campaign(&campaign).await?;
        let _ = self.ctx.lifecycle.send((id, to));
        Ok(campaign)
    }

    /// Starts dialing a campaign's contact list (or resumes a paused one).
    pub async fn start_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        let campaign = self
            .set_state(
                id,
                &[CampaignState::Draft, CampaignState::Paused],
                CampaignState::Running,
            )
            .await?;
        self.run_campaign(id).await?;
        Ok(campaign)
    }

    /// Has the supervisor run (or keep running) a campaign's actor.
    async fn run_campaign(&self, id: CampaignId) -> Result<(), EngineError> {
        let r = self
            .supervisor
            .call(
                |reply| SupervisorMessage::StartCampaign {
                    campaign_id: id,
                    reply,
                },
                None,
            )
            .await;
        rpc(r)?
    }

    /// No new dials; calls in flight finish.
    pub async fn pause_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        let campaign = self
            .set_state(id, &[CampaignState::Running], CampaignState::Paused)
            .await?;
        if let Some(actor) = self.ctx.routes.campaign(id) {
            rpc(actor
                .call(|reply| CampaignMessage::Pause { reply }, None)
                .await)?;
        }
        Ok(campaign)
    }

    pub async fn resume_campaign(&self, id: CampaignId) -> Result<Campaign, EngineError> {
        let campaign = self
            .set_state(id, &[CampaignState::Paused], CampaignState::Running)
            .await?;
        self.run_campaign(id).await?;
        Ok(campaign)
    }

    /// Cancels the campaign's pending work (list and one-off calls); calls in flight finish and
    /// are not retried. Returns the campaign and how many calls were cancelled.
    pub async fn stop_campaign(&self, id: CampaignId) -> Result<(Campaign, u32), EngineError> {
        let allowed = [
            CampaignState::Draft,
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Completed,
        ];
        let campaign = self.set_state(id, &allowed, CampaignState::Stopped).await?;
        let mut cancelled = 0;
        let mut targets: Vec<ActorRef<CampaignMessage>> =
            self.ctx.routes.campaign(id).into_iter().collect();
        targets.extend(self.ctx.routes.one_off());
        for actor in targets {
            cancelled += rpc(actor
                .call(
                    |reply| CampaignMessage::Stop {
                        campaign_id: id,
                        reply,
                    },
                    None,
                )
                .await)??;
        }
        Ok((campaign, cancelled))
    }

    /// New settings for a campaign apply to calls dispatched from now on.
    pub fn campaign_updated(&self, campaign: &Campaign) {
        let mut targets: Vec<ActorRef<CampaignMessage>> =
            self.ctx.routes.campaign(campaign.id).into_iter().collect();
        targets.extend(self.ctx.routes.one_off());
        for actor in targets {
            let _ = actor.cast(CampaignMessage::Updated {
                campaign: Box::new(campaign.clone()),
            });
        }
    }

    /// A running campaign's dispatcher state.
    pub async fn campaign_snapshot(&self, id: CampaignId) -> Option<DispatchSnapshot> {
        let actor = self.ctx.routes.campaign(id)?;
        rpc(actor.call(CampaignMessage::Snapshot, None).await).ok()
    }

    pub async fn one_off_snapshot(&self) -> Option<DispatchSnapshot> {
        let actor = self.ctx.routes.one_off()?;
        rpc(actor.call(CampaignMessage::Snapshot, None).await).ok()
    }

    /// Whether a campaign has a dispatcher on this node.
    pub fn is_running(&self, id: CampaignId) -> bool {
        self.ctx.routes.campaign(id).is_some()
    }

    /// Timers on the scheduler's wheel.
    pub async fn pending_timers(&self) -> Option<usize> {
        let s = self.ctx.routes.scheduler()?;
        rpc(s.call(SchedulerMessage::Pending, None).await).ok()
    }

    /// Whether the engine's actors are up (for `/readyz`).
    pub fn is_alive(&self) -> bool {
        let r = &self.ctx.routes;
        r.recorder().is_some()
            && r.scheduler().is_some()
            && r.lease_keeper().is_some()
            && r.one_off().is_some()
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
