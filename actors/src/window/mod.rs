//! A WindowActor serves one open calling window of its dispatcher: the calls whose recipients'
//! zones are all inside calling hours until `closes_at`. It owns a queue and a DialerSlot per
//! line, spawned when a call first needs it and kept while the window lives, so memory follows
//! the peak of calls in flight, not the configured line count; free lines are a stack, so
//! finding one is O(1) ([`lines`]). For the call at the head of the queue it takes the leases
//! (campaign, then global) and a token from each rate bucket; when a pool is full or a bucket
//! empty the queue waits — it is never rejected — and tries again when one of its lines frees
//! or after a short delay ([`dispatch`]).
//!
//! When the window closes, queued calls go back to the dispatcher (to wait for the next
//! opening), calls in flight finish, and the actor stops. It supervises its slots: a slot that
//! fails is restarted by the restart policy and given back the call it held — to adopt if the
//! dial was recorded, to queue again if not.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallId, CallStatus, Campaign, ProviderReport, RestartDecision, RestartTracker,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::apply::{CallbackOutcome, apply_direct};
use crate::campaign::CampaignMessage;
use crate::ctx::Ctx;
use crate::lease_keeper::LeaseKeeperMessage;
use crate::slot::{ReportReply, SlotMessage};

mod dispatch;
mod lines;

use dispatch::pools_for;

pub(crate) enum WindowMessage {
    Enqueue {
        call: Call,
        campaign: Arc<Campaign>,
    },
    /// A call already dialed (found after a restart): give it to a line to wait for its outcome.
    Adopt {
        call: Call,
        campaign: Arc<Campaign>,
    },
    /// Try to dial the head of the queue.
    Dispatch,
    SlotDone {
        slot: usize,
        call_id: CallId,
        status: CallStatus,
    },
    /// The slot could not record the dial; the call was not dialed.
    Requeue {
        slot: usize,
        call: Call,
    },
    Report {
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    },
    /// A slot got a report for a call it does not hold.
    Unrouted {
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    },
    Pause,
    Resume,
    /// Calling hours closed: hand the queue back, finish what is in flight, stop.
    Close,
    /// Remove queued calls (of one campaign, or all) and hand them back for cancelling.
    TakeQueued {
        which: Take,
        reply: RpcReplyPort<Vec<Call>>,
    },
    RestartSlot {
        slot: usize,
    },
    Snapshot(RpcReplyPort<WindowSnapshot>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowSnapshot {
    pub queued: usize,
    pub in_flight: usize,
    /// Lines the window may use.
    pub lines: usize,
    /// Dialer slots spawned so far (one per line ever used at once).
    pub slots: usize,
}

/// Which queued calls to take out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Take {
    All,
    Campaign(dialer_engine::CampaignId),
    Call(CallId),
}

impl Take {
    fn matches(self, call: &Call) -> bool {
        match self {
            Self::All => true,
            Self::Campaign(id) => call.campaign_id == id,
            Self::Call(id) => call.call_id == id,
        }
    }
}

pub(crate) struct WindowArgs {
    pub ctx: Arc<Ctx>,
    /// Live calls to adopt at once (found after a restart).
    pub adopt: Vec<(Call, Arc<Campaign>)>,
    pub dispatcher: ActorRef<CampaignMessage>,
    pub lines: usize,
    pub closes_at: Option<DateTime<Utc>>,
    pub paused: bool,
}

pub(crate) struct WindowActor;

/// A queued call and the leases it holds while it waits for a rate token.
struct Queued {
    call: Call,
    campaign: Arc<Campaign>,
    grant: Option<Grant>,
}

#[derive(Clone, Copy)]
struct Grant {
    token: u64,
}

struct Holding {
    call_id: CallId,
    campaign: Arc<Campaign>,
}

struct Line {
    actor: Option<ActorRef<SlotMessage>>,
    holding: Option<Holding>,
    tracker: RestartTracker,
}

pub(crate) struct WindowState {
    ctx: Arc<Ctx>,
    dispatcher: ActorRef<CampaignMessage>,
    queue: VecDeque<Queued>,
    /// The lines spawned so far (at most `max_lines`), by slot index.
    lines: Vec<Line>,
    max_lines: usize,
    /// Spawned lines holding no call (some may be restarting: skipped when taken).
    idle: Vec<usize>,
    held_by: HashMap<CallId, usize>,
    /// Reports for calls whose slot is restarting.
    parked: HashMap<CallId, Vec<(ProviderReport, Option<ReportReply>)>>,
    paused: bool,
    closing: bool,
    retry_armed: bool,
    started: tokio::time::Instant,
}

impl Actor for WindowActor {
    type Msg = WindowMessage;
    type State = WindowState;
    type Arguments = WindowArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        args: WindowArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        if let Some(at) = args.closes_at {
            me.send_after(args.ctx.real_until(at), || WindowMessage::Close);
        }
        let mut state = WindowState {
            ctx: args.ctx,
            dispatcher: args.dispatcher,
            queue: VecDeque::new(),
            lines: Vec::new(),
            max_lines: args.lines.max(1),
            idle: Vec::new(),
            held_by: HashMap::new(),
            parked: HashMap::new(),
            paused: args.paused,
            closing: false,
            retry_armed: false,
            started: tokio::time::Instant::now(),
        };
        for (call, campaign) in args.adopt {
            state.on_adopt(&me, call, campaign).await;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for actor in state.lines.iter().filter_map(|l| l.actor.as_ref()) {
            actor.stop(None);
        }
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WindowMessage::Enqueue { call, campaign } if state.closing => {
                let _ = state
                    .dispatcher
                    .cast(CampaignMessage::Returned { calls: vec![call] });
                drop(campaign);
            }
            WindowMessage::Enqueue { call, campaign } => state.queue.push_back(Queued {
                call,
                campaign,
                grant: None,
            }),
            WindowMessage::Adopt { call, campaign } => {
                state.on_adopt(&me, call, campaign).await;
            }
            WindowMessage::Dispatch => state.retry_armed = false,
            WindowMessage::SlotDone {
                slot,
                call_id,
                status,
            } => state.on_slot_done(slot, call_id, status),
            WindowMessage::Requeue { slot, call } => state.on_requeue(&me, slot, call),
            WindowMessage::Report {
                call_id,
                report,
                reply,
            } => state.on_report(call_id, report, reply).await,
            WindowMessage::Unrouted {
                call_id,
                report,
                reply,
            } => state.on_unrouted(call_id, report, reply).await,
            WindowMessage::Pause => state.on_pause(),
            WindowMessage::Resume => state.paused = false,
            WindowMessage::Close => state.on_close(),
            WindowMessage::TakeQueued { which, reply } => {
                drop(reply.send(state.take_queued(which)))
            }
            WindowMessage::RestartSlot { slot } => state.on_restart_slot(&me, slot).await?,
            WindowMessage::Snapshot(reply) => drop(reply.send(state.snapshot())),
        }
        state.dispatch(&me).await;
        if state.closing && state.held_by.is_empty() && state.queue.is_empty() {
            me.stop(Some("window closed".into()));
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = evt {
            let Some(slot) = state.lines.iter().position(|l| {
                l.actor
                    .as_ref()
                    .is_some_and(|a| a.get_id() == cell.get_id())
            }) else {
                return Ok(());
            };
            tracing::warn!(slot, error = %err, "dialer slot failed");
            state.lines[slot].actor = None;
            let now = state.started.elapsed();
            let policy = state.ctx.config.restart.clone();
            match state.lines[slot]
                .tracker
                .record_failure(&policy, now, state.ctx.jitter())
            {
                RestartDecision::Restart { after, .. } => {
                    state
                        .ctx
                        .restarts
                        .slots
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    crate::metrics::restart("dialer_slot");
                    me.send_after(after, move || WindowMessage::RestartSlot { slot });
                }
                RestartDecision::GiveUp { failures_in_period } => {
                    return Err(format!(
                        "slot {slot} failed {failures_in_period} times; giving up"
                    )
                    .into());
                }
            }
        }
        Ok(())
    }
}

impl WindowState {
    fn snapshot(&self) -> WindowSnapshot {
        WindowSnapshot {
            queued: self.queue.len(),
            in_flight: self.held_by.len(),
            lines: self.max_lines,
            slots: self.lines.len(),
        }
    }

    /// Gives a live call a line; without one it waits at the head of the queue (false).
    async fn on_adopt(
        &mut self,
        me: &ActorRef<WindowMessage>,
        call: Call,
        campaign: Arc<Campaign>,
    ) -> bool {
        let Some(slot) = self.take_line(me).await else {
            // Every line busy: wait at the head of the queue for one (as a live call, not a dial).
            self.queue.push_front(Queued {
                call,
                campaign,
                grant: None,
            });
            return false;
        };
        self.track(&call, &campaign, false);
        let call_id = call.call_id;
        if let Some(actor) = &self.lines[slot].actor {
            let _ = actor.cast(SlotMessage::Adopt {
                call,
                campaign: Arc::clone(&campaign),
            });
        }
        self.hold(slot, call_id, campaign);
        true
    }

    fn track(&self, call: &Call, campaign: &Campaign, held: bool) {
        if let Some(keeper) = self.ctx.routes.lease_keeper() {
            let pools = pools_for(&self.ctx, call, campaign);
            let _ = keeper.cast(LeaseKeeperMessage::Track {
                call_id: call.call_id,
                pools,
                held,
            });
        }
    }

    fn on_slot_done(&mut self, slot: usize, call_id: CallId, status: CallStatus) {
        self.free(slot);
        self.held_by.remove(&call_id);
        // The line is free: its leases go back (the slot may have released them already; a
        // second release is a no-op).
        self.ctx.release_leases(call_id);
        let _ = self
            .dispatcher
            .cast(CampaignMessage::Finished { call_id, status });
    }

    fn on_requeue(&mut self, me: &ActorRef<WindowMessage>, slot: usize, call: Call) {
        self.free(slot);
        self.held_by.remove(&call.call_id);
        self.ctx.release_leases(call.call_id);
        if let Some(campaign) = self.campaign_of(&call) {
            self.queue.push_front(Queued {
                call,
                campaign,
                grant: None,
            });
        }
        self.arm_retry(
            me,
            self.ctx.clock.real_duration(self.ctx.config.capacity_retry),
        );
    }

    fn campaign_of(&self, call: &Call) -> Option<Arc<Campaign>> {
        self.queue
            .iter()
            .map(|q| &q.campaign)
            .chain(
                self.lines
                    .iter()
                    .filter_map(|l| l.holding.as_ref().map(|h| &h.campaign)),
            )
            .find(|c| c.id == call.campaign_id)
            .cloned()
    }

    async fn on_report(
        &mut self,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) {
        if let Some(&slot) = self.held_by.get(&call_id) {
            match &self.lines[slot].actor {
                Some(actor) => drop(actor.cast(SlotMessage::Report {
                    call_id,
                    report,
                    reply,
                })),
                None => self
                    .parked
                    .entry(call_id)
                    .or_default()
                    .push((report, reply)),
            }
            return;
        }
        self.on_unrouted(call_id, report, reply).await;
    }

    /// A report for a call no line holds: applied from storage; a queued call it ends leaves
    /// the queue.
    async fn on_unrouted(
        &mut self,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) {
        let result = apply_direct(&self.ctx, call_id, &report).await;
        if let Ok((call, _)) = &result
            && call.status != CallStatus::Initiated
            && let Some(pos) = self.queue.iter().position(|q| q.call.call_id == call_id)
        {
            if self.queue.remove(pos).is_some_and(|q| q.grant.is_some()) {
                self.ctx.release_leases(call_id);
            }
            let _ = self.dispatcher.cast(CampaignMessage::Finished {
                call_id,
                status: call.status,
            });
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.map(|(call, step)| CallbackOutcome::of(&call, &step)));
        }
    }

    fn on_pause(&mut self) {
        self.paused = true;
        self.release_head_grant();
    }

    fn release_head_grant(&mut self) {
        if let Some(q) = self.queue.front_mut()
            && q.grant.take().is_some()
        {
            self.ctx.release_leases(q.call.call_id);
        }
    }

    fn on_close(&mut self) {
        self.closing = true;
        self.release_head_grant();
        let calls: Vec<Call> = self.queue.drain(..).map(|q| q.call).collect();
        if !calls.is_empty() {
            let _ = self.dispatcher.cast(CampaignMessage::Returned { calls });
        }
    }

    fn take_queued(&mut self, which: Take) -> Vec<Call> {
        self.release_head_grant();
        let (taken, kept): (Vec<Queued>, Vec<Queued>) =
            self.queue.drain(..).partition(|q| which.matches(&q.call));
        self.queue = kept.into();
        taken.into_iter().map(|q| q.call).collect()
    }
}
