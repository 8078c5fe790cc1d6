//! A DialerSlot is one line carrying one call: the call's only writer from the moment its
//! campaign gives it a line until it ends or goes back to the queue.
//!
//! Dialing ([`dial`]): the last checks — do-not-call, opt-out, calling hours — are made right
//! before the provider request, and the dial is recorded in the same write as their result; then
//! the request is sent once, under the call's leases (taken before the slot started, or asked
//! for as it started: [`Lease`]). What became of it decides the rest: placed (wait for the outcome),
//! provably not placed (the attempt is given back), refused (a failed attempt), or uncertain (it
//! waits for the provider to say; it is never sent again).
//!
//! Waiting ([`resolve`]): provider reports arrive through the call's route; an attempt that
//! outlives its ring timeout plus the max call duration is asked about, then failed with its
//! reason. A slot started for a call already dialing (after a restart, or after the slot that
//! held it crashed) *adopts* it: it asks the provider at once how the attempt went, so a line
//! is freed as soon as its outcome is known, and a call never rings twice because of a crash.
//!
//! A slot tells its campaign it is done through a narrow interface ([`SlotDone`]) and never
//! stops itself: the campaign stops it once it has taken the call back.

mod dial;
mod resolve;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use dialer_engine::{Call, CallId, Campaign, Effect, Step};
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef};
use tracing::Instrument;

use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::live::{LiveRoute, Reported};
use crate::timers::Timers;

/// What a slot is started to do.
pub(crate) enum Job {
    /// Dial this call. `marks`: when it could first have been dialed and when its leases were
    /// asked for, for the dispatch lag and its steps.
    Dial {
        call: Call,
        lease: Lease,
        marks: Marks,
    },
    /// Take over a call already dialing and wait for (or ask for) its outcome.
    Adopt { call: Call },
}

/// A dialing slot's leases.
pub(crate) enum Lease {
    /// Its campaign took them before it started the slot.
    Held(LeaseAnswer),
    /// Asked for as the slot was started: the dial is recorded meanwhile, and sent once they
    /// are granted ([`SlotMessage::Leases`]); refused, the attempt is given back unsent.
    Asked,
}

/// The lease store's answer, as its campaign passes it on.
#[derive(Debug, Clone)]
pub(crate) struct LeaseAnswer {
    /// Granted (the fencing token), or why not.
    pub token: Result<u64, String>,
    /// When the lease store answered.
    pub answered: tokio::time::Instant,
    /// When the campaign passed the answer on.
    pub passed: tokio::time::Instant,
}

/// The moments a call passed on its way to a line (real time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// Due, with a line of its campaign free: the dispatch lag counts from here.
    pub ready: tokio::time::Instant,
    /// Its leases were asked for.
    pub asked: tokio::time::Instant,
}

pub(crate) enum SlotMessage {
    Start(Job),
    /// The answer to the leases asked for beside this slot's dial ([`Lease::Asked`]).
    Leases(LeaseAnswer),
    Report(Reported),
    /// The deadline of attempt `attempt` passed.
    Deadline {
        attempt: u32,
    },
    /// Ask the provider again how the attempt went.
    Resolve {
        attempt: u32,
    },
}

narrow_message!(SlotMessage::Report(Reported));

/// A slot is done with its call: `call` as stored — final, waiting for a retry, or queued
/// again — and its line is free, and its leases if it had them (`leased`: a grant it never
/// saw is its campaign's to give back).
#[derive(Debug)]
pub(crate) struct SlotDone {
    pub call: Call,
    pub leased: bool,
}

pub(crate) struct SlotArgs {
    pub ctx: Arc<Ctx>,
    pub campaign: Arc<Campaign>,
    pub parent: DerivedActorRef<SlotDone>,
    /// Set when the campaign is stopped: a call not dialed yet is cancelled instead.
    pub stopped: Arc<AtomicBool>,
}

pub(crate) struct DialerSlot;

pub(crate) struct SlotState {
    ctx: Arc<Ctx>,
    campaign: Arc<Campaign>,
    parent: DerivedActorRef<SlotDone>,
    stopped: Arc<AtomicBool>,
    call: Option<Call>,
    _route: Option<LiveRoute>,
    /// Why the current attempt's dial was in doubt, if it was.
    uncertain: Option<String>,
    /// Done with the call (told the campaign); waiting to be stopped.
    done: bool,
    /// The provider's last answer said the call is still in progress.
    provider_says_live: bool,
    /// Times the attempt's deadline was pushed back because the provider said it was live.
    extensions: u32,
    /// The deadline and the questions to ask again: cancelled once the call is handed back.
    timers: Timers,
    /// When this slot's dial request went out, until the provider's first report about it.
    sent_at: Option<tokio::time::Instant>,
    /// The dial is recorded and waits for its leases: the call's due time, and its marks.
    unleased: Option<(chrono::DateTime<chrono::Utc>, Marks)>,
    /// Its leases are tracked by the keeper (and given back when it is done).
    leased: bool,
}

impl Actor for DialerSlot {
    type Msg = SlotMessage;
    type State = SlotState;
    type Arguments = SlotArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        args: SlotArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SlotState {
            ctx: args.ctx,
            campaign: args.campaign,
            parent: args.parent,
            stopped: args.stopped,
            call: None,
            _route: None,
            uncertain: None,
            done: false,
            provider_says_live: false,
            extensions: 0,
            timers: Timers::default(),
            sent_at: None,
            unleased: None,
            leased: false,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SlotMessage::Start(job) => {
                let (call_id, campaign_id) = match &job {
                    Job::Dial { call, .. } | Job::Adopt { call } => {
                        (call.call_id, call.campaign_id)
                    }
                };
                let span = tracing::debug_span!("slot", %call_id, %campaign_id);
                match job {
                    Job::Dial { call, lease, marks } => {
                        state
                            .on_dial(&me, call, lease, marks)
                            .instrument(span)
                            .await
                    }
                    Job::Adopt { call } => state.on_adopt(&me, call).instrument(span).await,
                }
            }
            SlotMessage::Leases(answer) => state.on_leases(&me, answer).await,
            SlotMessage::Report(r) => state.on_report(r).await,
            SlotMessage::Deadline { attempt } => state.on_deadline(&me, attempt).await,
            SlotMessage::Resolve { attempt } => state.on_resolve(&me, attempt).await,
        }
        Ok(())
    }
}

impl SlotState {
    /// Starts routing reports for `call` here.
    fn hold(&mut self, me: &ActorRef<SlotMessage>, call: Call) {
        let route: DerivedActorRef<Reported> = me.get_derived();
        let day = self.ctx.now().date_naive();
        self._route = Some(LiveRoute::register(
            &self.ctx.live,
            call.call_id,
            route,
            day,
        ));
        self.call = Some(call);
    }

    /// The call this slot carries, if it is `call_id` and still in flight here.
    fn current(&mut self, call_id: CallId) -> Option<&mut Call> {
        self.call
            .as_mut()
            .filter(|c| c.call_id == call_id && c.status.is_live())
    }

    /// Persists a step of the call (until stored) and carries out its effects.
    async fn apply(&mut self, step: &Step) -> Result<(), EngineError> {
        let Some(call) = self.call.clone() else {
            return Ok(());
        };
        self.ctx.persist_step(&call, step).await?;
        for effect in &step.effects {
            match effect {
                Effect::ReleaseLeases => self.ctx.keeper.release(call.call_id),
                Effect::ScheduleAt(_) => crate::metrics::retry(call.campaign_id),
                Effect::Finished => {}
            }
        }
        if let Some(outcome) = call.last_outcome.filter(|_| {
            step.applied()
                && step
                    .audits
                    .iter()
                    .any(|a| matches!(a.kind, dialer_engine::AuditKind::Ended { .. }))
        }) {
            crate::metrics::outcome(call.campaign_id, outcome);
        }
        Ok(())
    }

    /// Hands the call back to the campaign once its leases are given back: its line is free.
    async fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.unleased = None;
        self._route = None;
        self.timers.cancel();
        if let Some(call) = self.call.clone() {
            if self.leased {
                self.ctx.keeper.release_now(call.call_id).await;
            }
            let _ = self.parent.send_message(SlotDone {
                call,
                leased: self.leased,
            });
        }
    }

    async fn on_report(&mut self, r: Reported) {
        let Reported {
            call_id,
            report,
            reply,
        } = r;
        let now = self.ctx.now();
        let settings = self.campaign.settings.clone();
        let sent_at = self.sent_at.take();
        let Some(call) = self.current(call_id) else {
            // Not carried here any more: whoever routed it looks it up again.
            if let Some(reply) = reply {
                let _ = reply.send(Err(EngineError::NotFound {
                    what: "slot",
                    id: call_id.to_string(),
                }));
            }
            return;
        };
        if let Some(sent) = sent_at {
            crate::metrics::first_report(&report.provider, sent.elapsed());
        }
        let step = dialer_engine::decide::reported(call, &settings, &report, now);
        let outcome = crate::live::CallbackOutcome::of(call, &step);
        crate::metrics::provider_report(&report.provider, step.applied());
        let stored = self.apply(&step).await;
        if let Some(reply) = reply {
            let _ = reply.send(stored.map(|()| outcome));
        }
        if self.call.as_ref().is_some_and(|c| !c.status.is_live()) {
            self.finish().await;
        }
    }
}
