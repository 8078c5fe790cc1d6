//! Dialing: the last checks, the dial recorded with their result (while its leases are asked
//! for, or after they were granted), the one request under them, and what its answer proves.

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::dispatch::{Gate, Listed, gate};
use dialer_engine::{Call, CallStatus, decide};
use dialer_storage::DncKind;
use ractor::ActorRef;

use super::{Lease, LeaseAnswer, Marks, SlotMessage, SlotState};
use crate::metrics::{DispatchStep, dispatch_step};
use crate::provider::{Attempt, DialOutcome};

impl SlotState {
    pub(super) async fn on_dial(
        &mut self,
        me: &ActorRef<SlotMessage>,
        call: Call,
        lease: Lease,
        marks: Marks,
    ) {
        let started = tokio::time::Instant::now();
        dispatch_step(
            DispatchStep::Owner,
            marks.asked.saturating_duration_since(marks.ready),
        );
        let token = match lease {
            Lease::Held(answer) => {
                self.leases_answered(&marks, &answer);
                let token = answer.token.ok();
                dispatch_step(
                    DispatchStep::Slot,
                    started.saturating_duration_since(answer.passed),
                );
                self.track_leases(&call);
                token
            }
            Lease::Asked => {
                dispatch_step(
                    DispatchStep::Slot,
                    started.saturating_duration_since(marks.asked),
                );
                None
            }
        };
        let leased = self.leased;
        let settings = self.campaign.settings.clone();
        self.hold(me, call);
        // The last checks, at the last moment.
        let listed = self.listed().await;
        let checked = tokio::time::Instant::now();
        dispatch_step(
            DispatchStep::Checks,
            checked.saturating_duration_since(started),
        );
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => {
                // Nothing was decided or written: the call goes back to its queue as it was.
                tracing::warn!(error = %e, "could not read the do-not-call list; the call waits");
                self.finish().await;
                return;
            }
        };
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let now = self.ctx.now();
        let due_since = call.due_at.unwrap_or(call.scheduled_at).min(now);
        let stopped = self.stopped.load(std::sync::atomic::Ordering::Relaxed);
        let step = decide::when_due(call, now, |call| {
            match gate(&settings, &call.phone_number, listed, now) {
                Gate::Block(reason) => {
                    crate::metrics::decision(call.campaign_id, block_decision(reason));
                    decide::blocked(call, reason, now)
                }
                Gate::Defer { until } => crate::ctx::defer_to_opening(call, until, now),
                Gate::Dial if stopped => decide::cancelled(call, "campaign stopped", now),
                Gate::Dial => decide::dial_started(call, &settings.provider, token, now),
            }
        });
        let dialing = call.status == CallStatus::Dialing && step.applied();
        let recorded = self.apply(&step).await;
        dispatch_step(DispatchStep::Record, checked.elapsed());
        if recorded.is_err() || !dialing {
            // Blocked, deferred (its due time moved), or the engine is stopping.
            self.finish().await;
            return;
        }
        if leased {
            self.send(me, due_since, marks.ready).await;
        } else {
            self.unleased = Some((due_since, marks));
        }
    }

    /// The answer to the leases asked for beside the dial: granted, the recorded dial is sent;
    /// refused, it is given back unsent and the call is due again as it was.
    pub(super) async fn on_leases(&mut self, me: &ActorRef<SlotMessage>, answer: LeaseAnswer) {
        // Done without dialing (blocked, deferred, cancelled): a grant is the campaign's.
        let Some((due_since, marks)) = self.unleased.take() else {
            return;
        };
        self.leases_answered(&marks, &answer);
        let reason = match answer.token {
            Ok(_) => {
                let Some(call) = self.call.clone() else {
                    return;
                };
                self.track_leases(&call);
                if !self.stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    self.send(me, due_since, marks.ready).await;
                    return;
                }
                // Stopped since the dial was recorded: its campaign cancels it once back.
                "campaign stopped".to_owned()
            }
            Err(why) => why,
        };
        self.not_placed(&reason, due_since).await;
    }

    fn leases_answered(&self, marks: &Marks, answer: &LeaseAnswer) {
        dispatch_step(
            DispatchStep::Leases,
            answer.answered.saturating_duration_since(marks.asked),
        );
        dispatch_step(
            DispatchStep::Mailbox,
            answer.passed.saturating_duration_since(answer.answered),
        );
    }

    /// The keeper renews the call's leases from now on, and gives them back when it is done.
    fn track_leases(&mut self, call: &Call) {
        let pools = self
            .ctx
            .pools(call.campaign_id, self.campaign.settings.max_concurrent);
        self.ctx.keeper.track(call.call_id, pools, true);
        self.leased = true;
    }

    /// Whether the call's number is on the do-not-call list or opted out, read now.
    async fn listed(&self) -> Result<Listed, dialer_storage::StorageError> {
        let Some(call) = &self.call else {
            return Ok(Listed::default());
        };
        let entries = self.ctx.store.check_dnc(&call.phone_number).await?;
        Ok(Listed {
            dnc: entries.iter().any(|e| e.kind == DncKind::Dnc),
            opt_out: entries.iter().any(|e| e.kind == DncKind::OptOut),
        })
    }

    /// Sends the recorded dial request — once — and acts on what its answer proves: for a call
    /// due since `due_since` that could first have been dialed at `ready` (the dispatch lag).
    async fn send(
        &mut self,
        me: &ActorRef<SlotMessage>,
        due_since: chrono::DateTime<chrono::Utc>,
        ready: tokio::time::Instant,
    ) {
        let Some(call) = self.call.clone() else {
            return;
        };
        crate::metrics::decision(call.campaign_id, "dialed");
        crate::metrics::dialed(
            call.campaign_id,
            (self.ctx.now() - due_since)
                .to_std()
                .unwrap_or(Duration::ZERO),
        );
        self.arm_deadline(me, &call);
        let campaign = Arc::clone(&self.campaign);
        let settings = &campaign.settings;
        let Some(provider) = self.ctx.providers.get(&settings.provider).cloned() else {
            let message = format!("no provider named {:?} is configured", settings.provider);
            self.fail(&message).await;
            return;
        };
        let started = tokio::time::Instant::now();
        crate::metrics::dispatch_lag(started.saturating_duration_since(ready));
        self.sent_at = Some(started);
        let outcome = provider.dial(&Attempt::of(&call, settings)).await;
        let placed = matches!(outcome, DialOutcome::Placed { .. });
        crate::metrics::provider_request(&settings.provider, started.elapsed(), placed);
        let now = self.ctx.now();
        match outcome {
            DialOutcome::Placed { external_id } => {
                if let Some(c) = self.call.as_mut() {
                    // Written with the attempt's next change (a status query can also find it).
                    c.external_call_id = Some(external_id);
                }
            }
            DialOutcome::NotPlaced {
                reason,
                retry_after,
            } => {
                let wait = retry_after.unwrap_or(self.ctx.config.dial_retry);
                self.not_placed(&reason, self.ctx.after(wait)).await;
            }
            DialOutcome::Rejected {
                status,
                code,
                message,
            } => {
                let why = match code {
                    Some(code) => {
                        format!("provider refused the call ({status}, {code}): {message}")
                    }
                    None => format!("provider refused the call ({status}): {message}"),
                };
                self.fail(&why).await;
            }
            DialOutcome::Uncertain { reason } => {
                let Some(call) = self.call.as_ref() else {
                    return;
                };
                tracing::warn!(%reason, "the dial's outcome is uncertain; it is not sent again");
                let step = decide::uncertain(call, &reason, now);
                self.uncertain = Some(reason);
                if self.apply(&step).await.is_ok() {
                    // The provider may know already (an idempotent one can look the key up).
                    self.resolve(me, call_attempt(self.call.as_ref())).await;
                }
            }
        }
    }

    /// The attempt provably created no call: it is given back and the call queued again.
    pub(super) async fn not_placed(
        &mut self,
        reason: &str,
        retry_at: chrono::DateTime<chrono::Utc>,
    ) {
        let now = self.ctx.now();
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let step = decide::not_placed(call, reason, retry_at, now);
        if self.apply(&step).await.is_ok() {
            self.finish().await;
        }
    }

    /// The dial request itself failed: the attempt is a FAILED, retried by the policy.
    async fn fail(&mut self, error: &str) {
        let now = self.ctx.now();
        let settings = self.campaign.settings.clone();
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let step = decide::dial_failed(call, &settings, error, now);
        if self.apply(&step).await.is_ok() {
            self.finish().await;
        }
    }
}

pub(super) fn call_attempt(call: Option<&Call>) -> u32 {
    call.map_or(0, |c| c.attempt_count)
}

fn block_decision(reason: dialer_engine::BlockReason) -> &'static str {
    match reason {
        dialer_engine::BlockReason::Dnc => "blocked_dnc",
        dialer_engine::BlockReason::OptOut => "blocked_opt_out",
        dialer_engine::BlockReason::CallingHours => "blocked_calling_hours",
        dialer_engine::BlockReason::Duplicate => "blocked_duplicate",
    }
}
