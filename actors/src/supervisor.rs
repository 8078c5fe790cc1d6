//! The EngineSupervisor: the root of the actor tree. It starts the Recorder and the LeaseKeeper,
//! and a CampaignActor for every campaign that is running or paused or has calls not yet final;
//! it starts more on demand (a call accepted for a campaign without one) and stops those that
//! report they are idle. It restarts any child that fails, by the shared restart helper: a
//! respawn that fails is just retried later — no child's failure ever ends the engine.
//!
//! The [`Registry`] is how the rest of the engine finds a campaign's owner: a route per
//! campaign, and a count of the hints sent to it, so that an owner that reported itself idle
//! is only stopped if no hint came after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use dialer_engine::{CampaignId, CampaignState};
use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort, SupervisionEvent,
};

use crate::campaign::{CampaignActor, CampaignArgs, CampaignMessage, Hint, Idle};
use crate::ctx::{Ctx, Restarts as Counters};
use crate::error::EngineError;
use crate::lease_keeper::{KeeperArgs, LeaseKeeperActor};
use crate::recorder::{RecorderActor, RecorderArgs};
use crate::supervision::{Restarts, jitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Child {
    Recorder,
    LeaseKeeper,
    Campaign(CampaignId),
}

pub(crate) enum SupervisorMessage {
    /// Start a campaign's owner if it has none; answer with its route.
    Ensure {
        campaign_id: CampaignId,
        reply: Option<RpcReplyPort<Result<ActorRef<CampaignMessage>, EngineError>>>,
    },
    Idle(Idle),
    Restart(Child),
}

narrow_message!(SupervisorMessage::Idle(Idle));

#[derive(Default)]
struct Entry {
    actor: Option<ActorRef<CampaignMessage>>,
    /// Hints sent to this campaign's owner so far.
    hints: u64,
}

/// Where each campaign's owner runs, and the hints sent to it.
#[derive(Default)]
pub(crate) struct Registry {
    campaigns: Mutex<HashMap<CampaignId, Entry>>,
    supervisor: RwLock<Option<ActorRef<SupervisorMessage>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<CampaignId, Entry>> {
        self.campaigns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn supervisor(&self) -> Option<ActorRef<SupervisorMessage>> {
        self.supervisor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_supervisor(&self, s: Option<ActorRef<SupervisorMessage>>) {
        *self.supervisor.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The running owner of a campaign, if any.
    pub(crate) fn route(&self, id: CampaignId) -> Option<ActorRef<CampaignMessage>> {
        self.entries().get(&id).and_then(|e| e.actor.clone())
    }

    /// Every running owner.
    pub(crate) fn all(&self) -> Vec<ActorRef<CampaignMessage>> {
        self.entries()
            .values()
            .filter_map(|e| e.actor.clone())
            .collect()
    }

    fn set(&self, id: CampaignId, actor: Option<ActorRef<CampaignMessage>>) {
        self.entries().entry(id).or_default().actor = actor;
    }

    /// Tells a campaign's owner of work (starting it when there is none). Never lost while the
    /// engine runs: a hint sent to an owner that is going idle keeps it running, and one sent
    /// to no owner starts one — which reads storage, where the work already is.
    pub(crate) fn hint(&self, id: CampaignId, hint: Hint) {
        let mut entries = self.entries();
        let entry = entries.entry(id).or_default();
        entry.hints += 1;
        let seq = entry.hints;
        let delivered = entry
            .actor
            .as_ref()
            .is_some_and(|a| a.cast(CampaignMessage::Nudge { seq, hint }).is_ok());
        drop(entries);
        if !delivered && let Some(s) = self.supervisor() {
            let _ = s.cast(SupervisorMessage::Ensure {
                campaign_id: id,
                reply: None,
            });
        }
    }

    /// The owner of a campaign, started if it has none, told that a request follows (so that
    /// an idle report it made before does not retire it meanwhile).
    pub(crate) async fn ensure(
        &self,
        id: CampaignId,
    ) -> Result<ActorRef<CampaignMessage>, EngineError> {
        {
            let mut entries = self.entries();
            let entry = entries.entry(id).or_default();
            entry.hints += 1;
            let seq = entry.hints;
            if let Some(actor) = entry.actor.clone()
                && actor
                    .cast(CampaignMessage::Nudge {
                        seq,
                        hint: Hint::Request,
                    })
                    .is_ok()
            {
                return Ok(actor);
            }
        }
        let supervisor = self.supervisor().ok_or(EngineError::Stopped)?;
        match supervisor
            .call(
                |reply| SupervisorMessage::Ensure {
                    campaign_id: id,
                    reply: Some(reply),
                },
                None,
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(EngineError::Stopped),
        }
    }

    /// The owner to offer retirement to, unless it was hinted at since it reported idle.
    fn idle(&self, idle: Idle) -> Option<ActorRef<CampaignMessage>> {
        let entries = self.entries();
        let entry = entries.get(&idle.campaign_id)?;
        (entry.hints == idle.seen)
            .then(|| entry.actor.clone())
            .flatten()
    }
}

pub(crate) struct SupervisorArgs {
    pub ctx: Arc<Ctx>,
    pub registry: Arc<Registry>,
}

pub(crate) struct EngineSupervisor;

pub(crate) struct SupervisorState {
    ctx: Arc<Ctx>,
    registry: Arc<Registry>,
    children: HashMap<ActorId, Child>,
    restarts: Restarts<Child>,
}

impl Actor for EngineSupervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            restarts: Restarts::new(args.ctx.config.restart.clone(), "service"),
            ctx: args.ctx,
            registry: args.registry,
            children: HashMap::new(),
        };
        state.spawn(&me, Child::Recorder).await?;
        state.spawn(&me, Child::LeaseKeeper).await?;
        // An owner for every campaign with something to do: running or paused, or with calls
        // not yet final (one-off calls of any campaign, calls still in flight when it stopped).
        let mut after = None;
        loop {
            let page = state.ctx.store.list_campaigns(after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for c in page {
                let active = matches!(c.state, CampaignState::Running | CampaignState::Paused);
                if !active && !state.ctx.store.has_open_calls(c.id).await? {
                    continue;
                }
                let child = Child::Campaign(c.id);
                if let Err(e) = state.spawn(&me, child).await {
                    // Its calls wait in storage; the engine starts, and it is retried.
                    tracing::error!(campaign_id = %c.id, error = %e, "could not start a campaign's owner; retrying");
                    state.schedule(&me, child);
                }
            }
        }
        state.registry.set_supervisor(Some(me.clone()));
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMessage::Ensure { campaign_id, reply } => {
                let result = state.ensure(&me, campaign_id).await;
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            SupervisorMessage::Idle(idle) => {
                // The owner stops itself if nothing happened since its report; hints and
                // requests sent meanwhile reach it first, or start a new one once it is gone.
                if let Some(actor) = state.registry.idle(idle) {
                    let _ = actor.cast(CampaignMessage::Retire {
                        activity: idle.activity,
                    });
                }
            }
            SupervisorMessage::Restart(child) => {
                if let Err(e) = state.spawn(&me, child).await {
                    // A respawn that fails is one more failure of the child, retried later.
                    tracing::error!(?child, error = %e, "could not restart a child; trying again");
                    state.schedule(&me, child);
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
                state.unroute(child, cell.get_id());
                state.schedule(&me, child);
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                let Some(child) = state.children.remove(&cell.get_id()) else {
                    return Ok(());
                };
                state.unroute(child, cell.get_id());
                if let Child::Campaign(id) = child {
                    state.restarts.forget(&child);
                    // An owner that stopped while work came in is started again to take it.
                    let more = state
                        .registry
                        .entries()
                        .get(&id)
                        .is_some_and(|e| e.actor.is_none());
                    if more && state.ctx.store.has_open_calls(id).await.unwrap_or(true) {
                        let _ = state.ensure(&me, id).await;
                    }
                } else if !state.ctx.is_stopping() {
                    // A service never ends on its own while the engine runs.
                    state.schedule(&me, child);
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
        state
            .ctx
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        state.registry.set_supervisor(None);
        // Campaigns (and their slots) first, then the services they write through.
        for actor in state.registry.all() {
            actor.stop(Some("shutdown".into()));
        }
        for actor in state.registry.all() {
            let _ = actor.wait(Some(std::time::Duration::from_secs(5))).await;
        }
        state.registry.entries().clear();
        state.ctx.keeper.set(None);
        state.ctx.recorder.set(None);
        Ok(())
    }
}

impl SupervisorState {
    fn schedule(&mut self, me: &ActorRef<SupervisorMessage>, child: Child) {
        let kind = match child {
            Child::Recorder => "recorder",
            Child::LeaseKeeper => "lease_keeper",
            Child::Campaign(_) => "campaign",
        };
        let restart = self.restarts.failed_as(&child, jitter(), kind);
        let counter = match child {
            Child::Campaign(_) => &self.ctx.restarts.campaigns,
            _ => &self.ctx.restarts.services,
        };
        Counters::count(counter);
        me.send_after(restart.after, move || SupervisorMessage::Restart(child));
    }

    fn unroute(&self, child: Child, id: ActorId) {
        match child {
            Child::Recorder => self.ctx.recorder.set(None),
            Child::LeaseKeeper => self.ctx.keeper.set(None),
            Child::Campaign(c) => {
                if self.registry.route(c).is_some_and(|a| a.get_id() == id) {
                    self.registry.set(c, None);
                }
            }
        }
    }

    async fn ensure(
        &mut self,
        me: &ActorRef<SupervisorMessage>,
        id: CampaignId,
    ) -> Result<ActorRef<CampaignMessage>, EngineError> {
        if let Some(actor) = self.registry.route(id) {
            return Ok(actor);
        }
        if self.ctx.store.get_campaign(id).await?.is_none() {
            return Err(EngineError::NotFound {
                what: "campaign",
                id: id.to_string(),
            });
        }
        self.spawn(me, Child::Campaign(id)).await.map_err(|e| {
            match e.downcast::<EngineError>() {
                Ok(e) => *e,
                Err(e) => EngineError::Unavailable(e.to_string()),
            }
        })?;
        self.registry.route(id).ok_or(EngineError::Stopped)
    }

    async fn spawn(
        &mut self,
        me: &ActorRef<SupervisorMessage>,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = &self.ctx;
        let parent = me.get_cell();
        let id = match child {
            Child::Recorder => {
                let args = RecorderArgs {
                    store: Arc::clone(&ctx.store),
                    max_batch: ctx.config.recorder_max_batch,
                };
                let (a, _) = Actor::spawn_linked(None, RecorderActor, args, parent).await?;
                ctx.recorder.set(Some(a.clone()));
                a.get_id()
            }
            Child::LeaseKeeper => {
                let args = KeeperArgs {
                    leases: Arc::clone(&ctx.leases),
                    clock: Arc::clone(&ctx.clock),
                    ttl: ctx.config.lease_ttl,
                    watch: ctx.config.lease_watch,
                };
                let (a, _) = Actor::spawn_linked(None, LeaseKeeperActor, args, parent).await?;
                ctx.keeper.set(Some(a.clone()));
                a.get_id()
            }
            Child::Campaign(campaign_id) => {
                if self.registry.route(campaign_id).is_some() {
                    return Ok(());
                }
                let idle: DerivedActorRef<Idle> = me.get_derived();
                let args = CampaignArgs {
                    ctx: Arc::clone(ctx),
                    campaign_id,
                    parent: idle,
                };
                let (a, _) = Actor::spawn_linked(None, CampaignActor, args, parent).await?;
                self.registry.set(campaign_id, Some(a.clone()));
                a.get_id()
            }
        };
        self.children.insert(id, child);
        Ok(())
    }
}
