//! A CampaignActor dispatches the calls of one running campaign: it pulls the contact list in
//! pages as lines free up, creates a call per contact, checks each call at the moment it is due
//! (do-not-call and opt-outs, duplicate guard, calling hours), and routes callable calls to the
//! WindowActor of their recipients' zones — spawning it when that window opens. Calls outside
//! calling hours are deferred on the timing wheel to the next opening.
//!
//! The one-off pool is the same actor with a different feed: calls come from `initiate-call`
//! and scheduled one-offs of any campaign instead of a contact list.
//!
//! It supervises its windows with the engine's restart policy; a window that fails is
//! restarted and its calls are recovered from storage (queued again, or adopted when the dial
//! was already recorded).

mod admit;
mod feed;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallId, CallOrigin, CallStatus, Campaign, CampaignId, ContactId, PhoneNumber,
    ProviderReport, RestartTracker,
};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::ctx::{Ctx, EngineError};
use crate::slot::ReportReply;
use crate::window::{WindowMessage, WindowSnapshot};

pub enum CampaignMessage {
    /// New calls to dispatch (one-off calls from the API).
    Admit {
        calls: Vec<Call>,
    },
    /// A call on the timing wheel is due.
    Due {
        call_id: CallId,
    },
    Report {
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    },
    /// A window is done with a call (its line is free).
    Finished {
        call_id: CallId,
        status: CallStatus,
    },
    /// A closing window hands back calls it could not dial.
    Returned {
        calls: Vec<Call>,
    },
    /// Pull the next page of contacts if there is room.
    Pull,
    Pause {
        reply: RpcReplyPort<()>,
    },
    Resume {
        reply: RpcReplyPort<()>,
    },
    /// Cancel pending work (of one campaign, for the one-off pool); calls in flight finish.
    Stop {
        campaign_id: CampaignId,
        reply: RpcReplyPort<Result<u32, EngineError>>,
    },
    CancelCall {
        call_id: CallId,
        reply: RpcReplyPort<Result<Call, EngineError>>,
    },
    /// The scheduler restarted: put deferrals back on its wheel.
    Reregister,
    /// A campaign's settings changed.
    Updated {
        campaign: Box<Campaign>,
    },
    RestartWindow {
        key: String,
    },
    Snapshot(RpcReplyPort<DispatchSnapshot>),
}

/// Where a dispatcher's calls come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// A running campaign's contact list.
    List(CampaignId),
    /// `initiate-call` and scheduled one-off calls, of any campaign.
    OneOff,
}

impl Feed {
    fn owns(self, call: &Call) -> bool {
        match self {
            Self::List(id) => call.campaign_id == id && call.origin == CallOrigin::Campaign,
            Self::OneOff => call.origin != CallOrigin::Campaign,
        }
    }
}

/// A dispatcher's state, for status pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchSnapshot {
    pub queued_or_in_flight: usize,
    pub deferred: usize,
    pub outstanding: usize,
    pub windows: usize,
    pub exhausted: bool,
    pub paused: bool,
    pub lines: WindowSnapshot,
}

pub struct CampaignArgs {
    pub ctx: Arc<Ctx>,
    pub feed: Feed,
    /// Open calls of this feed found at engine start; `None`: load them from storage.
    pub open_calls: Option<Vec<Call>>,
    pub paused: bool,
}

pub struct CampaignActor;

struct WindowEntry {
    key: String,
    actor: ActorRef<WindowMessage>,
    closes_at: Option<DateTime<Utc>>,
}

pub struct CampaignState {
    ctx: Arc<Ctx>,
    feed: Feed,
    campaigns: HashMap<CampaignId, Arc<Campaign>>,
    /// Accepting windows by zone key.
    windows: HashMap<String, ActorId>,
    /// Every window alive (accepting or draining) by actor id.
    by_id: HashMap<ActorId, WindowEntry>,
    window_trackers: HashMap<String, RestartTracker>,
    /// Which window holds each routed call.
    window_of: HashMap<CallId, ActorId>,
    /// The numbers of the calls this dispatcher routed (their claims in the shared guard).
    numbers: HashMap<CallId, (CampaignId, PhoneNumber)>,
    /// Calls deferred to the opening of their calling hours.
    deferred: HashMap<CallId, (DateTime<Utc>, CampaignId, CallOrigin)>,
    /// List feed: calls created and not yet terminal.
    outstanding: HashSet<CallId>,
    cursor: Option<ContactId>,
    exhausted: bool,
    paused: bool,
    stopping: bool,
    started: tokio::time::Instant,
    /// Open calls loaded in `pre_start`, taken up in `post_start`.
    pending_open: Option<Vec<Call>>,
    /// Calls of failed windows, by zone key, waiting for the window's restart.
    orphans: HashMap<String, Vec<CallId>>,
}

impl Actor for CampaignActor {
    type Msg = CampaignMessage;
    type State = CampaignState;
    type Arguments = CampaignArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        args: CampaignArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = CampaignState {
            ctx: args.ctx,
            feed: args.feed,
            campaigns: HashMap::new(),
            windows: HashMap::new(),
            by_id: HashMap::new(),
            window_trackers: HashMap::new(),
            window_of: HashMap::new(),
            numbers: HashMap::new(),
            deferred: HashMap::new(),
            outstanding: HashSet::new(),
            cursor: None,
            exhausted: false,
            paused: args.paused,
            stopping: false,
            started: tokio::time::Instant::now(),
            pending_open: None,
            orphans: HashMap::new(),
        };
        if let Feed::List(id) = state.feed {
            let campaign = state.campaign(id).await?;
            state.cursor = campaign.dial_cursor;
        }
        let open = match args.open_calls {
            Some(calls) => calls,
            None => feed::load_open_calls(&state.ctx, state.feed).await?,
        };
        if matches!(state.feed, Feed::List(_)) {
            state.outstanding = open.iter().map(|c| c.call_id).collect();
        }
        // Stash them for post_start, when this actor can be the parent of windows.
        state.pending_open = Some(open);
        Ok(state)
    }

    async fn post_start(
        &self,
        me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let open = state.pending_open.take().unwrap_or_default();
        state.recover(&me, open).await?;
        let _ = me.cast(CampaignMessage::Pull);
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CampaignMessage::Admit { calls } => state.admit_all(&me, calls).await?,
            CampaignMessage::Due { call_id } => state.on_due(&me, call_id).await?,
            CampaignMessage::Report {
                call_id,
                report,
                reply,
            } => state.on_report(call_id, report, reply).await,
            CampaignMessage::Finished { call_id, status } => {
                state.on_finished(&me, call_id, status).await?
            }
            CampaignMessage::Returned { calls } => {
                for call in &calls {
                    state.unroute(call.call_id);
                }
                state.admit_all(&me, calls).await?
            }
            CampaignMessage::Pull => state.pull(&me).await?,
            CampaignMessage::Pause { reply } => {
                state.set_paused(true);
                let _ = reply.send(());
            }
            CampaignMessage::Resume { reply } => {
                state.set_paused(false);
                let _ = reply.send(());
                let _ = me.cast(CampaignMessage::Pull);
            }
            CampaignMessage::Stop { campaign_id, reply } => {
                let result = state.stop(campaign_id).await;
                let _ = reply.send(result);
            }
            CampaignMessage::CancelCall { call_id, reply } => {
                let result = state.cancel_call(call_id).await;
                let _ = reply.send(result);
            }
            CampaignMessage::Reregister => state.reregister(),
            CampaignMessage::Updated { campaign } => {
                state.campaigns.insert(campaign.id, Arc::new(*campaign));
            }
            CampaignMessage::RestartWindow { key } => state.restart_window(&me, &key).await?,
            CampaignMessage::Snapshot(reply) => {
                let snapshot = state.snapshot().await;
                let _ = reply.send(snapshot);
            }
        }
        state.check_complete(&me).await?;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => state.forget_window(cell.get_id()),
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::warn!(error = %err, "window failed");
                state.window_failed(&me, cell.get_id())?;
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
        for entry in state.by_id.values() {
            entry.actor.stop(None);
        }
        Ok(())
    }
}

impl CampaignState {
    /// A campaign's settings, cached.
    async fn campaign(&mut self, id: CampaignId) -> Result<Arc<Campaign>, EngineError> {
        if let Some(c) = self.campaigns.get(&id) {
            return Ok(Arc::clone(c));
        }
        let campaign =
            self.ctx
                .store
                .get_campaign(id)
                .await?
                .ok_or_else(|| EngineError::NotFound {
                    what: "campaign",
                    id: id.to_string(),
                })?;
        let campaign = Arc::new(campaign);
        self.campaigns.insert(id, Arc::clone(&campaign));
        Ok(campaign)
    }

    /// A call is no longer at a window.
    fn unroute(&mut self, call_id: CallId) {
        self.window_of.remove(&call_id);
        if let Some((campaign, phone)) = self.numbers.remove(&call_id) {
            self.ctx.release_number(campaign, &phone, call_id);
        }
    }

    fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        let msg = || {
            if paused {
                WindowMessage::Pause
            } else {
                WindowMessage::Resume
            }
        };
        for entry in self.by_id.values() {
            let _ = entry.actor.cast(msg());
        }
    }

    fn reregister(&self) {
        for (call_id, (at, campaign_id, origin)) in &self.deferred {
            if let Some(s) = self.ctx.routes.scheduler() {
                let _ = s.cast(crate::scheduler::SchedulerMessage::Schedule {
                    call_id: *call_id,
                    campaign_id: *campaign_id,
                    origin: *origin,
                    at: *at,
                });
            }
        }
    }

    async fn snapshot(&self) -> DispatchSnapshot {
        let mut lines = WindowSnapshot::default();
        for entry in self.by_id.values() {
            if let Ok(ractor::rpc::CallResult::Success(s)) =
                entry.actor.call(WindowMessage::Snapshot, None).await
            {
                lines.queued += s.queued;
                lines.in_flight += s.in_flight;
                lines.lines += s.lines;
                lines.slots += s.slots;
            }
        }
        DispatchSnapshot {
            queued_or_in_flight: self.window_of.len(),
            deferred: self.deferred.len(),
            outstanding: self.outstanding.len(),
            windows: self.by_id.len(),
            exhausted: self.exhausted,
            paused: self.paused,
            lines,
        }
    }
}
