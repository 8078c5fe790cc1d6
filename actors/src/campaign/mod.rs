//! A CampaignActor owns one campaign: it is the only writer of the campaign's state and dial
//! cursor, and of its calls while they are pending; a [`DialerSlot`](crate::slot) owns a call
//! while it is in flight. One actor runs per campaign that is running or paused, or that has
//! calls not yet final (one-off calls of any campaign); an idle one asks its supervisor to end it.
//!
//! It dials from two lanes ([`dialer_engine::dispatch`]): the contact list, made into calls a
//! page at a time as lines free up, from the zone whose calling hours close first (a page's
//! calls and its zone's cursor are written together), and one-off calls, which go first and
//! keep a share of the lines. Both are read from storage's pending index in due order, so no
//! accepted call is lost to a crash before dispatch. Memory held is bounded per lane ([`pull`]).
//!
//! For each call it gives a line ([`lines`]) it takes the campaign's and the engine's leases
//! (off its mailbox, in a task) and a rate token, then starts a slot ([`slots`]). Lifecycle
//! commands, stop, completion, reports and cancels of pending calls are in [`owner`].

mod leases;
mod lines;
use leases::Leased;
use lines::Line;
mod owner;
mod pull;
mod slots;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use dialer_engine::dispatch::{Board, Lane, Lines};
use dialer_engine::{
    Call, CallId, Campaign, CampaignCommand, CampaignId, CampaignState as Lifecycle, PhoneNumber,
    ProviderReport,
};
use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort, SupervisionEvent,
};

use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::live::ReportReply;
use crate::slot::SlotDone;
use crate::supervision::Restarts;
use crate::timers::Timers;

/// What a campaign's owner is told of work it may not have seen.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hint {
    /// A call of this campaign was accepted (an `initiate-call`, a scheduled call).
    Call(CallId),
    /// Contacts were imported.
    Contacts,
    /// A request for the owner follows.
    Request,
}

pub(crate) enum CampaignMessage {
    Command {
        command: CampaignCommand,
        reply: RpcReplyPort<Result<CommandOutcome, EngineError>>,
    },
    /// The campaign's settings changed (its state and cursor are the actor's own).
    Settings(Box<Campaign>),
    Nudge {
        seq: u64,
        hint: Hint,
    },
    /// A provider report for a call that no slot carries.
    Report {
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    },
    Cancel {
        call_id: CallId,
        reply: RpcReplyPort<Result<Call, EngineError>>,
    },
    Leased {
        call_id: CallId,
        answer: Leased,
        /// When the lease store answered (real time): the wait for the owner counts from here.
        answered: tokio::time::Instant,
    },
    SlotDone(SlotDone),
    Wake {
        generation: u64,
    },
    RestartSlot {
        call_id: CallId,
    },
    Snapshot(RpcReplyPort<DispatchSnapshot>),
    /// The contacts' task numbered `seq` has answered.
    ContactsMade {
        seq: u64,
    },
    /// The supervisor found no hint since the idle report numbered `activity`: stop, if
    /// nothing else happened since either.
    Retire {
        activity: u64,
    },
}

narrow_message!(CampaignMessage::SlotDone(SlotDone));

/// A campaign's owner has nothing to do: it may be retired, unless told of more since its
/// `seen`-th hint; `activity` numbers the report, so that the owner can tell whether anything
/// happened since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idle {
    pub campaign_id: CampaignId,
    pub seen: u64,
    pub activity: u64,
}

/// What a lifecycle command did.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub campaign: Campaign,
    /// Pending calls cancelled (stop).
    pub cancelled: u32,
}

/// A campaign's dispatch state, for status pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchSnapshot {
    /// Calls due and waiting for a line, per lane.
    pub ready_one_off: usize,
    pub ready_list: usize,
    /// Pending calls held in memory (due or soon due).
    pub held: usize,
    /// Calls in slots.
    pub in_flight: usize,
    /// Calls waiting for their leases.
    pub leasing: usize,
    pub lines: u32,
    pub reserved_for_one_off: u32,
    pub busy_one_off: u32,
    pub busy_list: u32,
    pub list_exhausted: bool,
}

pub(crate) struct CampaignArgs {
    pub ctx: Arc<Ctx>,
    pub campaign_id: CampaignId,
    pub parent: DerivedActorRef<Idle>,
}

pub(crate) struct CampaignActor;

pub(crate) struct CampaignState {
    ctx: Arc<Ctx>,
    campaign: Arc<Campaign>,
    parent: DerivedActorRef<Idle>,
    board: Board<Call>,
    lines: HashMap<CallId, Line>,
    slots: HashMap<ActorId, CallId>,
    /// Numbers with a call holding a line: the duplicate guard.
    numbers: HashMap<PhoneNumber, CallId>,
    list_exhausted: bool,
    contacts: pull::Contacts,
    /// No new lease requests before this (a pool was full).
    lease_wait: Option<tokio::time::Instant>,
    /// The last lease answer was a grant: dials are recorded while their leases are asked for.
    leases_flowing: bool,
    /// When a line last became free (or the actor started).
    line_freed: tokio::time::Instant,
    /// No new dial before this (a rate bucket was empty).
    rate_wait: Option<tokio::time::Instant>,
    /// No storage read before this (the last one failed).
    pull_wait: Option<tokio::time::Instant>,
    /// The last scan for calls calling hours deferred: when, how many, the first to open.
    deferred_scan: Option<(
        tokio::time::Instant,
        usize,
        Option<chrono::DateTime<chrono::Utc>>,
    )>,
    /// A publish reused that scan: one more, a second after it, brings the gauge up to date.
    deferred_stale: bool,
    timer: Option<(tokio::time::Instant, u64)>,
    timer_generation: u64,
    /// The task behind `timer`; an earlier one replaces it.
    wake: Timers,
    nudges_seen: u64,
    idle_reported: bool,
    /// Messages handled (other than retirement offers).
    activity: u64,
    restarts: Restarts<CallId>,
    /// Whether the campaign is stopped, shared with its slots: a slot between its last checks
    /// and its dial request cancels rather than dials.
    stopped: Arc<AtomicBool>,
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
        let campaign = args
            .ctx
            .store
            .get_campaign(args.campaign_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "campaign",
                id: args.campaign_id.to_string(),
            })?;
        let per_lane = read_ahead(&args.ctx, &campaign);
        let stopped = Arc::new(AtomicBool::new(campaign.state == Lifecycle::Stopped));
        Ok(CampaignState {
            stopped,
            board: Board::new(
                Lines::of(&campaign.settings, args.ctx.config.max_concurrent_calls),
                per_lane,
            ),
            restarts: Restarts::new(args.ctx.config.restart.clone(), "dialer_slot"),
            ctx: args.ctx,
            campaign: Arc::new(campaign),
            parent: args.parent,
            lines: HashMap::new(),
            slots: HashMap::new(),
            numbers: HashMap::new(),
            list_exhausted: false,
            contacts: pull::Contacts::default(),
            lease_wait: None,
            leases_flowing: false,
            line_freed: tokio::time::Instant::now(),
            rate_wait: None,
            pull_wait: None,
            deferred_scan: None,
            deferred_stale: false,
            timer: None,
            timer_generation: 0,
            wake: Timers::default(),
            nudges_seen: 0,
            idle_reported: false,
            activity: 0,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Calls that were in flight when the last owner stopped (or crashed) are adopted first:
        // they hold their lines until their outcomes are known.
        state.adopt_live(&me).await?;
        state.settle(&me).await;
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let CampaignMessage::Retire { activity } = msg {
            if activity == state.activity && state.is_idle() {
                me.stop(Some("idle".into()));
            }
            return Ok(());
        }
        state.activity += 1;
        state.idle_reported = false;
        match msg {
            CampaignMessage::Retire { .. } => {}
            CampaignMessage::Command { command, reply } => {
                let result = state.on_command(command).await;
                let _ = reply.send(result);
            }
            CampaignMessage::Settings(campaign) => state.on_settings(*campaign),
            CampaignMessage::Nudge { seq, hint } => state.on_nudge(seq, hint).await,
            CampaignMessage::Report {
                call_id,
                report,
                reply,
            } => state.on_report(&me, call_id, report, reply).await,
            CampaignMessage::Cancel { call_id, reply } => {
                let result = state.on_cancel(call_id).await;
                let _ = reply.send(result);
            }
            CampaignMessage::Leased {
                call_id,
                answer,
                answered,
            } => state.on_leased(&me, call_id, answer, answered).await,
            CampaignMessage::SlotDone(done) => state.on_slot_done(done).await,
            CampaignMessage::Wake { generation } => {
                if state.timer.is_some_and(|(_, g)| g == generation) {
                    state.timer = None;
                }
            }
            CampaignMessage::RestartSlot { call_id } => state.on_restart_slot(&me, call_id).await,
            CampaignMessage::Snapshot(reply) => drop(reply.send(state.snapshot())),
            CampaignMessage::ContactsMade { seq } => state.finish_contacts(Some(seq)).await,
        }
        state.settle(&me).await;
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
                tracing::warn!(error = %err, "dialer slot failed");
                state.slot_failed(&me, cell.get_id());
            }
            // A slot is stopped by its campaign once done; one that ended any other way left
            // its call behind: recover it as after a failure.
            SupervisionEvent::ActorTerminated(cell, _, _) => state.slot_failed(&me, cell.get_id()),
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for line in state.lines.values() {
            if let Some(slot) = &line.slot {
                slot.stop(None);
            }
        }
        state.ctx.gauges.remove(state.campaign.id);
        // A page being written finishes before a successor can read the cursor.
        if let Some(making) = state.contacts.making.take() {
            let _ = making.task.await;
        }
        Ok(())
    }
}

/// How often the owner counts the calls calling hours deferred, at most (real time).
const DEFERRED_SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How many pending calls of a lane the campaign holds in memory.
fn read_ahead(ctx: &Ctx, campaign: &Campaign) -> usize {
    let lines = campaign.settings.max_concurrent.max(1) as usize;
    (lines * ctx.config.read_ahead_per_line.max(1) as usize).max(4)
}

impl CampaignState {
    fn id(&self) -> CampaignId {
        self.campaign.id
    }

    fn lifecycle(&self) -> Lifecycle {
        self.campaign.state
    }

    /// Whether a lane may dial now: the list only while running; one-off calls unless the
    /// campaign is paused or stopped.
    fn open(&self, lane: Lane) -> bool {
        matches!(
            (self.lifecycle(), lane),
            (Lifecycle::Running, _) | (Lifecycle::Draft | Lifecycle::Completed, Lane::OneOff)
        )
    }

    fn on_settings(&mut self, mut campaign: Campaign) {
        // An operator's edit carries settings; the state and the cursor are this owner's.
        campaign.state = self.campaign.state;
        campaign.dial_cursor = self.campaign.dial_cursor;
        self.board.lines = Lines::of(&campaign.settings, self.ctx.config.max_concurrent_calls);
        let per_lane = read_ahead(&self.ctx, &campaign);
        for lane in Lane::ALL {
            self.board.lane_mut(lane).set_limit(per_lane);
        }
        self.campaign = Arc::new(campaign);
    }

    fn snapshot(&self) -> DispatchSnapshot {
        let busy = self.board.busy();
        DispatchSnapshot {
            ready_one_off: self.board.lane(Lane::OneOff).ready(),
            ready_list: self.board.lane(Lane::List).ready(),
            held: self.board.held(),
            in_flight: self.lines.values().filter(|l| l.slot.is_some()).count(),
            leasing: self.lines.values().filter(|l| l.leasing).count(),
            lines: self.board.lines.total,
            reserved_for_one_off: self.board.lines.reserved,
            busy_one_off: busy.one_off,
            busy_list: busy.list,
            list_exhausted: self.list_exhausted,
        }
    }

    /// After every message: read and dial what can be, complete or go idle, and keep one timer
    /// for the next thing that needs doing.
    async fn settle(&mut self, me: &ActorRef<CampaignMessage>) {
        self.pump(me).await;
        self.check_complete().await;
        self.check_idle();
        self.publish_gauges();
        self.arm(me);
    }

    /// What this owner holds now, for the scrape ([`crate::gauges`]): counts from the lanes
    /// after every message; the calls calling hours deferred by a scan at most once a second.
    fn publish_gauges(&mut self) {
        let now = self.ctx.now();
        let real_now = tokio::time::Instant::now();
        let ready = self.board.lane(Lane::OneOff).ready() + self.board.lane(Lane::List).ready();
        let rate_limited = self.rate_wait.is_some_and(|t| t > real_now);
        let scanned = self
            .deferred_scan
            .filter(|(at, ..)| real_now.saturating_duration_since(*at) < DEFERRED_SCAN_EVERY);
        self.deferred_stale = scanned.is_some();
        let (waiting_hours, hours_open_at) = match scanned {
            Some((_, count, first)) => (count, first),
            None => {
                let deferred: Vec<_> = Lane::ALL
                    .into_iter()
                    .flat_map(|lane| self.board.lane(lane).waiting())
                    .filter(|call| call.status == dialer_engine::CallStatus::Initiated)
                    .filter_map(|call| call.due_at.filter(|due| *due > now))
                    .collect();
                let found = (deferred.len(), deferred.iter().min().copied());
                self.deferred_scan = Some((real_now, found.0, found.1));
                found
            }
        };
        let hours_open_at = hours_open_at.into_iter().chain(self.list_opens(now)).min();
        self.ctx.gauges.set(
            self.id(),
            crate::gauges::CampaignGauges {
                waiting_lines: if rate_limited { 0 } else { ready },
                waiting_rate: if rate_limited { ready } else { 0 },
                waiting_hours,
                hours_open_at,
                lines: self.board.lines.total,
                lines_busy: self.lines.len(),
            },
        );
    }

    /// One timer, for the earliest of: a held call falling due, the lanes' horizons, the end of
    /// a lease, rate or storage wait.
    fn arm(&mut self, me: &ActorRef<CampaignMessage>) {
        let now = tokio::time::Instant::now();
        let wall = self
            .board
            .next_wake(self.ctx.now())
            .map(|t| now + self.ctx.real_until(t));
        let contacts = (self.contacts.closed_until)
            .filter(|_| self.open(Lane::List) && !self.list_exhausted)
            .map(|t| now + self.ctx.real_until(t));
        let rescan = self
            .deferred_scan
            .filter(|_| self.deferred_stale)
            .map(|(at, ..)| at + DEFERRED_SCAN_EVERY);
        let next = [
            wall,
            self.lease_wait,
            self.rate_wait,
            self.pull_wait,
            rescan,
            contacts,
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min();
        let Some(at) = next else {
            return;
        };
        if self.timer.is_some_and(|(armed, _)| armed <= at) {
            return;
        }
        self.timer_generation += 1;
        let generation = self.timer_generation;
        self.timer = Some((at, generation));
        // Never zero for an instant still ahead: a zero wait would wake before it, again.
        let wait = (at - now).max(std::time::Duration::from_micros(1));
        self.wake.cancel();
        self.wake
            .after(me, wait, move || CampaignMessage::Wake { generation });
    }
}
