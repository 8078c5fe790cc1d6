//! Waiting for an attempt's outcome, and asking for it: at adoption, when a dial was uncertain,
//! and at the attempt's deadline (ring timeout plus max call duration).

use dialer_engine::{Call, decide};
use ractor::ActorRef;

use super::dial::call_attempt;
use super::{SlotMessage, SlotState};
use crate::provider::{Attempt, AttemptStatus};

/// How many times a deadline is pushed back while the provider says the call is still live.
const MAX_EXTENSIONS: u32 = 3;

impl SlotState {
    pub(super) async fn on_adopt(&mut self, me: &ActorRef<SlotMessage>, call: Call) {
        let settings = &self.campaign.settings;
        // Its leases may be gone with the process that took them: take them again.
        self.ctx.keeper.track(
            call.call_id,
            self.ctx.pools(call.campaign_id, settings.max_concurrent),
            false,
        );
        self.leased = true;
        let attempt = call.attempt_count;
        self.arm_deadline(me, &call);
        self.hold(me, call);
        self.resolve(me, attempt).await;
    }

    /// The attempt's deadline: when no report came within the ring timeout plus the max call
    /// duration after the dial.
    pub(super) fn arm_deadline(&mut self, me: &ActorRef<SlotMessage>, call: &Call) {
        let settings = &self.campaign.settings;
        let started = call.last_attempt_at.unwrap_or_else(|| self.ctx.now());
        let deadline = started
            + chrono::Duration::seconds(
                i64::from(settings.ring_timeout_secs) + i64::from(settings.max_call_duration_secs),
            );
        let attempt = call.attempt_count;
        let wait = self.ctx.real_until(deadline);
        self.timers
            .after(me, wait, move || SlotMessage::Deadline { attempt });
    }

    pub(super) async fn on_resolve(&mut self, me: &ActorRef<SlotMessage>, attempt: u32) {
        if call_attempt(self.call.as_ref()) == attempt && !self.done {
            self.resolve(me, attempt).await;
        }
    }

    /// Asks the provider how the attempt went and applies what it says. Returns whether the
    /// call is settled (no longer in flight here).
    pub(super) async fn resolve(&mut self, me: &ActorRef<SlotMessage>, attempt: u32) -> bool {
        let Some(call) = self.call.clone().filter(|c| c.status.is_live()) else {
            return true;
        };
        let settings = self.campaign.settings.clone();
        let Some(provider) = self.ctx.providers.get(&settings.provider).cloned() else {
            return false;
        };
        let answer = provider.status(&Attempt::of(&call, &settings)).await;
        let now = self.ctx.now();
        self.provider_says_live = false;
        match answer {
            Ok(Some(AttemptStatus::Ended(report))) => {
                let Some(c) = self.call.as_mut() else {
                    return true;
                };
                let step = decide::resolved(c, &format!("ended: {}", report.raw_status), now)
                    .then(decide::reported(c, &settings, &report, now));
                if self.apply(&step).await.is_ok() {
                    self.finish().await;
                }
                true
            }
            Ok(Some(AttemptStatus::Live {
                external_id,
                report,
            })) => {
                let Some(c) = self.call.as_mut() else {
                    return true;
                };
                if c.external_call_id.is_none() {
                    c.external_call_id = external_id;
                }
                self.provider_says_live = true;
                let raw = report
                    .as_ref()
                    .map_or("in progress", |r| r.raw_status.as_str());
                let mut step = decide::resolved(c, &format!("live: {raw}"), now);
                if let Some(report) = &report {
                    step = step.then(decide::reported(c, &settings, report, now));
                }
                let _ = self.apply(&step).await;
                false
            }
            Ok(Some(AttemptStatus::Unknown)) => {
                // The provider has no call for this attempt: it was never placed.
                let retry_at = self.ctx.now();
                self.not_placed("the provider has no call for this attempt", retry_at)
                    .await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not ask the provider about an attempt; asking again later");
                let again = self.ctx.clock.real_duration(self.ctx.config.status_retry);
                self.timers
                    .after(me, again, move || SlotMessage::Resolve { attempt });
                false
            }
        }
    }

    pub(super) async fn on_deadline(&mut self, me: &ActorRef<SlotMessage>, attempt: u32) {
        let live = self
            .call
            .as_ref()
            .is_some_and(|c| c.attempt_count == attempt && c.status.is_live());
        if !live || self.done {
            return;
        }
        // Before calling it a failure, ask the provider how the call ended, when it can tell.
        if self.resolve(me, attempt).await {
            return;
        }
        if self
            .call
            .as_ref()
            .is_some_and(|c| c.external_call_id.is_some())
            && self.extensions < MAX_EXTENSIONS
            && self.provider_says_live
        {
            // The provider says the call is still going: a retry now could ring someone who is
            // on the phone. Ask again a little later, a few times.
            self.extensions += 1;
            let again = self.ctx.clock.real_duration(self.ctx.config.status_retry);
            self.timers
                .after(me, again, move || SlotMessage::Deadline { attempt });
            return;
        }
        let settings = self.campaign.settings.clone();
        let now = self.ctx.now();
        let reason = match &self.uncertain {
            Some(why) => format!("uncertain dial ({why})"),
            None => "no report from the provider".to_owned(),
        };
        let Some(call) = self.call.as_mut().filter(|c| c.status.is_live()) else {
            return;
        };
        let step = decide::timed_out(call, &settings, &reason, now);
        if self.apply(&step).await.is_ok() {
            self.finish().await;
        }
    }
}
