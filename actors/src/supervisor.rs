//! The EngineSupervisor: the root of the actor tree. It starts the Recorder, the LeaseKeeper,
//! the Scheduler, the one-off pool and a CampaignActor per running or paused campaign, and
//! restarts any of them that fails, by the engine's restart policy (capped exponential backoff
//! with jitter, a bounded number of restarts per period). Restarted actors rebuild their state
//! from storage; routes are updated so that messages find the new actor.

use std::collections::HashMap;
use std::sync::Arc;

use dialer_engine::{Call, CallOrigin, CampaignId, CampaignState, RestartDecision, RestartTracker};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use crate::campaign::{CampaignActor, CampaignArgs, CampaignMessage, Feed};
use crate::ctx::{Ctx, EngineError, set};
use crate::lease_keeper::LeaseKeeperActor;
use crate::recorder::RecorderActor;
use crate::scheduler::SchedulerActor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Child {
    Recorder,
    LeaseKeeper,
    Scheduler,
    OneOff,
    Campaign(CampaignId),
}

pub(crate) enum SupervisorMessage {
    /// Run a campaign (spawn its actor, or resume it).
    StartCampaign {
        campaign_id: CampaignId,
        reply: RpcReplyPort<Result<(), EngineError>>,
    },
    Restart(ChildRestart),
}

/// A child to start again (opaque outside this module).
pub(crate) struct ChildRestart(Child);

pub(crate) struct EngineSupervisor;

pub(crate) struct SupervisorState {
    ctx: Arc<Ctx>,
    children: HashMap<ActorId, Child>,
    trackers: HashMap<Child, RestartTracker>,
    started: tokio::time::Instant,
}

impl Actor for EngineSupervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = Arc<Ctx>;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        ctx: Arc<Ctx>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            ctx,
            children: HashMap::new(),
            trackers: HashMap::new(),
            started: tokio::time::Instant::now(),
        };
        for child in [Child::Recorder, Child::LeaseKeeper, Child::Scheduler] {
            state.spawn(&me, child, None).await?;
        }
        // Open calls are read once and handed to their dispatchers.
        let mut by_campaign: HashMap<CampaignId, Vec<Call>> = HashMap::new();
        let mut one_off = Vec::new();
        let mut after = None;
        loop {
            let page = state.ctx.store.open_calls(after, 5_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.call_id);
            for call in page {
                match call.origin {
                    CallOrigin::Campaign => {
                        by_campaign.entry(call.campaign_id).or_default().push(call)
                    }
                    CallOrigin::Api | CallOrigin::Scheduled => one_off.push(call),
                }
            }
        }
        state.spawn(&me, Child::OneOff, Some(one_off)).await?;
        let mut after = None;
        loop {
            let page = state.ctx.store.list_campaigns(after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for c in page
                .into_iter()
                .filter(|c| matches!(c.state, CampaignState::Running | CampaignState::Paused))
            {
                let calls = by_campaign.remove(&c.id).unwrap_or_default();
                state.spawn(&me, Child::Campaign(c.id), Some(calls)).await?;
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMessage::StartCampaign { campaign_id, reply } => {
                let result = match state.ctx.routes.campaign(campaign_id) {
                    Some(actor) => actor
                        .call(|reply| CampaignMessage::Resume { reply }, None)
                        .await
                        .map(|_| ())
                        .map_err(|_| {
                            EngineError::Unavailable("the campaign actor is restarting".into())
                        }),
                    None => state
                        .spawn(&me, Child::Campaign(campaign_id), None)
                        .await
                        .map_err(|e| EngineError::Unavailable(e.to_string())),
                };
                let _ = reply.send(result);
            }
            SupervisorMessage::Restart(ChildRestart(child)) => {
                state.spawn(&me, child, None).await?;
                if child == Child::Scheduler {
                    // Deferrals live in the dispatchers' memory: put them back on the new wheel.
                    for actor in state.dispatchers() {
                        let _ = actor.cast(CampaignMessage::Reregister);
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(child) = state.children.remove(&cell.get_id()) else {
                    return Ok(());
                };
                tracing::error!(?child, error = %err, "actor failed");
                state.unroute(child);
                let policy = state.ctx.config.restart.clone();
                let now = state.started.elapsed();
                let jitter = state.ctx.jitter();
                match state
                    .trackers
                    .entry(child)
                    .or_default()
                    .record_failure(&policy, now, jitter)
                {
                    RestartDecision::Restart { after, .. } => {
                        let counter = match child {
                            Child::Campaign(_) | Child::OneOff => &state.ctx.restarts.campaigns,
                            _ => &state.ctx.restarts.services,
                        };
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::metrics::restart(kind(child));
                        me.send_after(after, move || {
                            SupervisorMessage::Restart(ChildRestart(child))
                        });
                    }
                    RestartDecision::GiveUp { failures_in_period } => {
                        return Err(format!(
                            "{child:?} failed {failures_in_period} times; the engine stops"
                        )
                        .into());
                    }
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                // A campaign that completed or was stopped: its route is gone.
                if let Some(Child::Campaign(id)) = state.children.remove(&cell.get_id())
                    && state
                        .ctx
                        .routes
                        .campaign(id)
                        .is_some_and(|a| a.get_id() == cell.get_id())
                {
                    state.ctx.routes.set_campaign(id, None);
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let r = &state.ctx.routes;
        set(&r.scheduler, None);
        set(&r.recorder, None);
        set(&r.lease_keeper, None);
        set(&r.one_off, None);
        r.campaigns
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }
}

fn kind(child: Child) -> &'static str {
    match child {
        Child::Recorder => "recorder",
        Child::LeaseKeeper => "lease_keeper",
        Child::Scheduler => "scheduler",
        Child::OneOff => "one_off_pool",
        Child::Campaign(_) => "campaign",
    }
}

impl SupervisorState {
    fn dispatchers(&self) -> Vec<ActorRef<CampaignMessage>> {
        let r = &self.ctx.routes;
        let mut all: Vec<_> = r
            .campaigns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.extend(r.one_off());
        all
    }

    fn unroute(&self, child: Child) {
        let r = &self.ctx.routes;
        match child {
            Child::Recorder => set(&r.recorder, None),
            Child::LeaseKeeper => set(&r.lease_keeper, None),
            Child::Scheduler => set(&r.scheduler, None),
            Child::OneOff => set(&r.one_off, None),
            Child::Campaign(id) => r.set_campaign(id, None),
        }
    }

    async fn spawn(
        &mut self,
        me: &ActorRef<SupervisorMessage>,
        child: Child,
        open: Option<Vec<Call>>,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = Arc::clone(&self.ctx);
        let parent: ActorCell = me.get_cell();
        let r = &ctx.routes;
        let id = match child {
            Child::Recorder => {
                let (a, _) =
                    Actor::spawn_linked(None, RecorderActor, Arc::clone(&ctx), parent).await?;
                set(&r.recorder, Some(a.clone()));
                a.get_id()
            }
            Child::LeaseKeeper => {
                let (a, _) =
                    Actor::spawn_linked(None, LeaseKeeperActor, Arc::clone(&ctx), parent).await?;
                set(&r.lease_keeper, Some(a.clone()));
                a.get_id()
            }
            Child::Scheduler => {
                let (a, _) =
                    Actor::spawn_linked(None, SchedulerActor, Arc::clone(&ctx), parent).await?;
                set(&r.scheduler, Some(a.clone()));
                a.get_id()
            }
            Child::OneOff => {
                let args = CampaignArgs {
                    ctx: Arc::clone(&ctx),
                    feed: Feed::OneOff,
                    open_calls: open,
                    paused: false,
                };
                let (a, _) = Actor::spawn_linked(None, CampaignActor, args, parent).await?;
                set(&r.one_off, Some(a.clone()));
                a.get_id()
            }
            Child::Campaign(campaign_id) => {
                let paused = ctx
                    .store
                    .get_campaign(campaign_id)
                    .await?
                    .is_some_and(|c| c.state == CampaignState::Paused);
                let args = CampaignArgs {
                    ctx: Arc::clone(&ctx),
                    feed: Feed::List(campaign_id),
                    open_calls: open,
                    paused,
                };
                let (a, _) = Actor::spawn_linked(None, CampaignActor, args, parent).await?;
                r.set_campaign(campaign_id, Some(a.clone()));
                a.get_id()
            }
        };
        self.children.insert(id, child);
        Ok(())
    }
}
