//! A DialerSlot is one line: it takes one call at a time from its window, records it as
//! dialing, asks the provider to place it, and waits for its outcome — a provider report, or
//! silence past the campaign's max call duration, which ends the attempt as a retryable FAILED.
//! Then it persists the outcome, hands the leases back and tells its window it is free.
//!
//! The dial is recorded before the provider request, so a slot that crashes at any point never
//! causes a blind re-dial: its window restarts it and hands it the call to *adopt* — wait for
//! the outcome of the attempt already placed.

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::{Call, CallId, Campaign, ProviderReport, Step, decide};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument;

use crate::apply::{CallbackOutcome, carry_out};
use crate::ctx::{Ctx, EngineError, LiveCall};
use crate::provider::DialRequest;
use crate::window::WindowMessage;

pub(crate) type ReportReply = RpcReplyPort<Result<CallbackOutcome, EngineError>>;

pub(crate) enum SlotMessage {
    /// Dial this call; its window holds its leases (fencing `token`) with the lease keeper.
    Dial {
        call: Call,
        campaign: Arc<Campaign>,
        token: Option<u64>,
    },
    /// Take over a call already dialed (after a restart): wait for its outcome.
    Adopt { call: Call, campaign: Arc<Campaign> },
    Report {
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    },
    /// The max call duration of attempt `attempt` passed.
    Timeout { call_id: CallId, attempt: u32 },
}

pub(crate) struct SlotArgs {
    pub ctx: Arc<Ctx>,
    pub index: usize,
    pub window: ActorRef<WindowMessage>,
}

pub(crate) struct DialerSlot;

struct Current {
    call: Call,
    campaign: Arc<Campaign>,
    _route: LiveCall,
}

impl Current {
    fn new(ctx: &Arc<Ctx>, call: Call, campaign: Arc<Campaign>) -> Self {
        Self {
            _route: LiveCall::register(ctx, &call),
            call,
            campaign,
        }
    }
}

pub(crate) struct SlotState {
    ctx: Arc<Ctx>,
    index: usize,
    window: ActorRef<WindowMessage>,
    current: Option<Current>,
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
            index: args.index,
            window: args.window,
            current: None,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SlotMessage::Dial {
                call,
                campaign,
                token,
            } => {
                let span = tracing::debug_span!("dial", call_id = %call.call_id, campaign_id = %call.campaign_id);
                state
                    .on_dial(&me, call, campaign, token)
                    .instrument(span)
                    .await
            }
            SlotMessage::Adopt { call, campaign } => state.on_adopt(&me, call, campaign),
            SlotMessage::Report {
                call_id,
                report,
                reply,
            } => state.on_report(call_id, report, reply).await,
            SlotMessage::Timeout { call_id, attempt } => state.on_timeout(call_id, attempt).await,
        }
        Ok(())
    }
}

impl SlotState {
    async fn on_dial(
        &mut self,
        me: &ActorRef<SlotMessage>,
        mut call: Call,
        campaign: Arc<Campaign>,
        token: Option<u64>,
    ) {
        let ctx = Arc::clone(&self.ctx);
        let now = ctx.now();
        let settings = &campaign.settings;
        let due_since = call.due_at.unwrap_or(call.scheduled_at).min(now);
        let step = decide::dial_started(&mut call, &settings.provider, token, now);
        if !step.applied() {
            // Not dialable any more (cancelled meanwhile): the window gives the line back.
            let _ = self.window.cast(WindowMessage::SlotDone {
                slot: self.index,
                call_id: call.call_id,
                status: call.status,
            });
            return;
        }
        if let Err(e) = ctx.record_step(&call, &step).await {
            // Not recorded as dialing, so not dialed: the window queues it again.
            tracing::warn!(error = %e, "could not record the dial; the call waits");
            let original = Call {
                status: dialer_engine::CallStatus::Initiated,
                ..call.clone()
            };
            let _ = self.window.cast(WindowMessage::Requeue {
                slot: self.index,
                call: original,
            });
            return;
        }
        crate::metrics::dialed(
            call.campaign_id,
            (now - due_since).to_std().unwrap_or(Duration::ZERO),
        );
        crate::metrics::active(1.0);
        self.arm_timeout(me, &call, &campaign);
        let request = DialRequest {
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            attempt: call.attempt_count,
            to: call.phone_number.clone(),
            from: settings.caller_id.clone(),
            ring_timeout_secs: settings.ring_timeout_secs,
            max_call_duration_secs: settings.max_call_duration_secs,
            sim: settings.sim.clone(),
        };
        let provider_name = settings.provider.clone();
        self.current = Some(Current::new(&ctx, call, Arc::clone(&campaign)));
        let Some(provider) = ctx.providers.get(&provider_name).cloned() else {
            self.fail_dial(&format!(
                "no provider named {provider_name:?} is configured"
            ))
            .await;
            return;
        };
        let started = tokio::time::Instant::now();
        let result = provider.dial(request).await;
        crate::metrics::provider_request(&provider_name, started.elapsed(), result.is_ok());
        match result {
            Ok(dialed) => {
                if let Some(c) = self.current.as_mut() {
                    c.call.external_call_id = Some(dialed.external_id);
                }
            }
            Err(e) => self.fail_dial(&e.to_string()).await,
        }
    }

    async fn fail_dial(&mut self, error: &str) {
        let Some(mut cur) = self.current.take() else {
            return;
        };
        let step =
            decide::dial_failed(&mut cur.call, &cur.campaign.settings, error, self.ctx.now());
        self.finish(cur, step).await;
    }

    fn on_adopt(&mut self, me: &ActorRef<SlotMessage>, call: Call, campaign: Arc<Campaign>) {
        self.arm_timeout(me, &call, &campaign);
        self.current = Some(Current::new(&self.ctx, call, campaign));
    }

    /// One timer per attempt: at `last_attempt_at + max_call_duration`.
    fn arm_timeout(&self, me: &ActorRef<SlotMessage>, call: &Call, campaign: &Campaign) {
        let started = call.last_attempt_at.unwrap_or_else(|| self.ctx.now());
        let deadline = started
            + chrono::Duration::seconds(i64::from(campaign.settings.max_call_duration_secs));
        let (call_id, attempt) = (call.call_id, call.attempt_count);
        me.send_after(self.ctx.real_until(deadline), move || {
            SlotMessage::Timeout { call_id, attempt }
        });
    }

    async fn on_report(
        &mut self,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) {
        let Some(mut cur) = self.current.take().filter(|c| c.call.call_id == call_id) else {
            // Not ours (any more): the window applies it from storage.
            let _ = self.window.cast(WindowMessage::Unrouted {
                call_id,
                report,
                reply,
            });
            return;
        };
        let step = decide::reported(
            &mut cur.call,
            &cur.campaign.settings,
            &report,
            self.ctx.now(),
        );
        crate::metrics::provider_report(&report.provider, step.applied());
        let outcome = CallbackOutcome::of(&cur.call, &step);
        let done = !cur.call.status.is_live();
        let persisted = self.persist(&cur.call, &step).await;
        if let Some(reply) = reply {
            let _ = reply.send(persisted.map(|()| outcome));
        }
        carry_out(&self.ctx, &cur.call, &step);
        if done {
            let _ = self.window.cast(WindowMessage::SlotDone {
                slot: self.index,
                call_id,
                status: cur.call.status,
            });
        } else {
            self.current = Some(cur);
        }
    }

    async fn on_timeout(&mut self, call_id: CallId, attempt: u32) {
        let Some(cur) = self.current.take() else {
            return;
        };
        if cur.call.call_id != call_id
            || cur.call.attempt_count != attempt
            || !cur.call.status.is_live()
        {
            self.current = Some(cur);
            return;
        }
        let mut cur = cur;
        // Before calling it a failure, ask the provider how the call ended, when it can tell.
        if let Some(report) = self.ask_provider(&cur).await {
            let step = decide::reported(
                &mut cur.call,
                &cur.campaign.settings,
                &report,
                self.ctx.now(),
            );
            if !cur.call.status.is_live() {
                self.finish(cur, step).await;
                return;
            }
        }
        let step = decide::timed_out(&mut cur.call, &cur.campaign.settings, self.ctx.now());
        self.finish(cur, step).await;
    }

    async fn ask_provider(&self, cur: &Current) -> Option<ProviderReport> {
        let external = cur.call.external_call_id.as_deref()?;
        let provider = self.ctx.providers.get(&cur.campaign.settings.provider)?;
        let report = provider.status(external).await.ok().flatten()?;
        matches!(
            report.event,
            Some(dialer_engine::ProviderEvent::Ended { .. })
        )
        .then_some(report)
    }

    async fn finish(&mut self, cur: Current, step: Step) {
        // An outcome that happened must be written: retry until the store takes it.
        let _ = self.persist(&cur.call, &step).await;
        carry_out(&self.ctx, &cur.call, &step);
        let (call_id, status) = (cur.call.call_id, cur.call.status);
        let _ = self.window.cast(WindowMessage::SlotDone {
            slot: self.index,
            call_id,
            status,
        });
    }

    /// Persists a step, retrying a few times with backoff when storage is unavailable.
    async fn persist(&self, call: &Call, step: &Step) -> Result<(), EngineError> {
        let mut delay = Duration::from_millis(50);
        let mut last = Ok(());
        for _ in 0..6 {
            last = self.ctx.record_step(call, step).await;
            match &last {
                Ok(()) | Err(EngineError::Stopped) => return last,
                Err(e) => {
                    tracing::warn!(call_id = %call.call_id, error = %e, "recording an outcome failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        last
    }
}
