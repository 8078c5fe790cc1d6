//! Admission: the checks a call passes at the moment it is due, and where it goes next —
//! blocked, deferred to its calling hours, or queued at the window of its zones.

use std::sync::Arc;

use dialer_engine::{
    BlockReason, Call, CallId, CallStatus, Campaign, DeferReason, HoursCheck, ProviderReport,
    decide,
};
use dialer_storage::DncKind;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef};

use super::{CampaignMessage, CampaignState, Feed, WindowEntry};
use crate::apply::{CallbackOutcome, apply_direct};
use crate::ctx::EngineError;
use crate::slot::ReportReply;
use crate::window::{WindowActor, WindowArgs, WindowMessage};

/// The key of a set of zones: the windows of calls with the same zones are one.
pub(super) fn zone_key(zones: &[chrono_tz::Tz]) -> String {
    zones.iter().map(|z| z.name()).collect::<Vec<_>>().join(",")
}

impl CampaignState {
    pub(super) async fn admit_all(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        calls: Vec<Call>,
    ) -> Result<(), ActorProcessingErr> {
        for call in calls {
            self.admit(me, call).await?;
        }
        Ok(())
    }

    /// The checks at the moment of dialing, in order: stopped campaign, do-not-call and
    /// opt-out, duplicate guard, calling hours.
    pub(super) async fn admit(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        mut call: Call,
    ) -> Result<(), ActorProcessingErr> {
        if self.window_of.contains_key(&call.call_id) || call.status != CallStatus::Initiated {
            return Ok(());
        }
        let campaign = self.campaign(call.campaign_id).await?;
        if self.stopping {
            return self.cancel(&mut call, "campaign stopped").await;
        }
        let dnc = self.ctx.store.check_dnc(&call.phone_number).await?;
        let reason = dnc.iter().map(|e| e.kind).min().map(|k| match k {
            DncKind::Dnc => BlockReason::Dnc,
            DncKind::OptOut => BlockReason::OptOut,
        });
        if let Some(reason) = reason {
            return self.block(&mut call, reason).await;
        }
        if !self.ctx.claim_number(&call) {
            // Another call to this number in this campaign is queued or in flight.
            return self.block(&mut call, BlockReason::Duplicate).await;
        }
        let now = self.ctx.now();
        let zones = campaign.settings.zones_for(&call.phone_number);
        let hours = campaign.settings.calling_hours.check(zones.as_slice(), now);
        if !matches!(hours, HoursCheck::Open { .. }) {
            self.ctx
                .release_number(call.campaign_id, &call.phone_number, call.call_id);
        }
        match hours {
            HoursCheck::Never => self.block(&mut call, BlockReason::CallingHours).await,
            HoursCheck::Closed { opens_at } => self.defer(&call, opens_at).await,
            HoursCheck::Open { closes_at } => {
                let id = self
                    .window_for(
                        me,
                        &zone_key(zones.as_slice()),
                        &campaign,
                        closes_at,
                        Vec::new(),
                    )
                    .await?;
                self.route(id, call, campaign);
                Ok(())
            }
        }
    }

    fn route(&mut self, window: ActorId, call: Call, campaign: Arc<Campaign>) {
        let Some(entry) = self.by_id.get(&window) else {
            return;
        };
        crate::metrics::decision(call.campaign_id, "queued");
        self.numbers
            .insert(call.call_id, (call.campaign_id, call.phone_number.clone()));
        self.window_of.insert(call.call_id, window);
        let _ = entry.actor.cast(WindowMessage::Enqueue { call, campaign });
    }

    async fn block(
        &mut self,
        call: &mut Call,
        reason: BlockReason,
    ) -> Result<(), ActorProcessingErr> {
        let step = decide::blocked(call, reason, self.ctx.now());
        self.ctx.record_step(call, &step).await?;
        crate::metrics::decision(call.campaign_id, block_decision(reason));
        self.outstanding.remove(&call.call_id);
        Ok(())
    }

    async fn defer(
        &mut self,
        call: &Call,
        opens_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ActorProcessingErr> {
        let already = self
            .deferred
            .get(&call.call_id)
            .is_some_and(|(at, ..)| *at == opens_at);
        self.deferred
            .insert(call.call_id, (opens_at, call.campaign_id, call.origin));
        self.ctx.schedule(call, opens_at);
        if !already {
            let step = decide::deferred(
                call,
                DeferReason::CallingHours,
                Some(opens_at),
                self.ctx.now(),
            );
            self.ctx.record_step(call, &step).await?;
            crate::metrics::decision(call.campaign_id, "deferred_calling_hours");
        }
        Ok(())
    }

    pub(super) async fn cancel(
        &mut self,
        call: &mut Call,
        by: &str,
    ) -> Result<(), ActorProcessingErr> {
        let step = decide::cancelled(call, by, self.ctx.now());
        self.ctx.record_step(call, &step).await?;
        self.ctx.unschedule(call.call_id);
        self.deferred.remove(&call.call_id);
        self.outstanding.remove(&call.call_id);
        Ok(())
    }

    /// The accepting window for `key`, spawned when it is not open yet.
    pub(super) async fn window_for(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        key: &str,
        campaign: &Arc<Campaign>,
        closes_at: Option<chrono::DateTime<chrono::Utc>>,
        adopt: Vec<(Call, Arc<Campaign>)>,
    ) -> Result<ActorId, ActorProcessingErr> {
        let now = self.ctx.now();
        if let Some(id) = self.windows.get(key) {
            let accepting = self
                .by_id
                .get(id)
                .is_some_and(|e| e.closes_at.is_none_or(|at| at > now));
            if accepting && adopt.is_empty() {
                return Ok(*id);
            }
            if accepting {
                for (call, campaign) in adopt {
                    if let Some(e) = self.by_id.get(id) {
                        let _ = e.actor.cast(WindowMessage::Adopt { call, campaign });
                    }
                }
                return Ok(*id);
            }
        }
        let lines = match self.feed {
            Feed::List(_) => campaign.settings.max_concurrent as usize,
            Feed::OneOff => self.ctx.config.one_off_lines as usize,
        };
        let args = WindowArgs {
            ctx: Arc::clone(&self.ctx),
            adopt,
            dispatcher: me.clone(),
            lines,
            closes_at,
            paused: self.paused,
        };
        let (actor, _) = Actor::spawn_linked(None, WindowActor, args, me.get_cell()).await?;
        let id = actor.get_id();
        self.by_id.insert(
            id,
            WindowEntry {
                key: key.to_owned(),
                actor,
                closes_at,
            },
        );
        self.windows.insert(key.to_owned(), id);
        Ok(id)
    }

    pub(super) async fn on_report(
        &mut self,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) {
        if let Some(entry) = self
            .window_of
            .get(&call_id)
            .and_then(|id| self.by_id.get(id))
        {
            let _ = entry.actor.cast(WindowMessage::Report {
                call_id,
                report,
                reply,
            });
            return;
        }
        let result = apply_direct(&self.ctx, call_id, &report).await;
        if let Ok((call, step)) = &result {
            if step.applied()
                && call.status != CallStatus::Initiated
                && self.deferred.remove(&call_id).is_some()
            {
                self.ctx.unschedule(call_id);
            }
            if call.status.is_terminal() {
                self.outstanding.remove(&call_id);
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.map(|(call, step)| CallbackOutcome::of(&call, &step)));
        }
    }

    pub(super) async fn on_due(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
    ) -> Result<(), ActorProcessingErr> {
        let Some(mut call) = self.ctx.store.get_call(call_id).await? else {
            return Ok(());
        };
        if !self.feed.owns(&call) {
            return Ok(());
        }
        self.deferred.remove(&call_id);
        match call.status {
            CallStatus::Scheduled | CallStatus::Retrying if self.stopping => {
                self.cancel(&mut call, "campaign stopped").await
            }
            CallStatus::Scheduled | CallStatus::Retrying => {
                let step = decide::due(&mut call, self.ctx.now());
                self.ctx.record_step(&call, &step).await?;
                self.admit(me, call).await
            }
            CallStatus::Initiated => self.admit(me, call).await,
            _ => Ok(()),
        }
    }

    pub(super) async fn on_finished(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
        status: CallStatus,
    ) -> Result<(), ActorProcessingErr> {
        self.unroute(call_id);
        if status.is_terminal() {
            self.outstanding.remove(&call_id);
        } else if status == CallStatus::Retrying
            && self.stopping
            && let Some(mut call) = self.ctx.store.get_call(call_id).await?
        {
            self.cancel(&mut call, "campaign stopped").await?;
        }
        let _ = me.cast(CampaignMessage::Pull);
        Ok(())
    }

    pub(super) async fn cancel_call(&mut self, call_id: CallId) -> Result<Call, EngineError> {
        let mut call = self.ctx.call(call_id).await?;
        if let Some(entry) = self
            .window_of
            .get(&call_id)
            .and_then(|id| self.by_id.get(id))
        {
            let which = crate::window::Take::Call(call_id);
            let taken = entry
                .actor
                .call(|reply| WindowMessage::TakeQueued { which, reply }, None)
                .await;
            match taken {
                Ok(ractor::rpc::CallResult::Success(calls)) if !calls.is_empty() => {
                    self.unroute(call_id);
                }
                _ => {
                    return Err(EngineError::Conflict(format!(
                        "call {call_id} is in flight; it finishes its attempt"
                    )));
                }
            }
        }
        if call.status.is_live() {
            return Err(EngineError::Conflict(format!(
                "call {call_id} is in flight; it finishes its attempt"
            )));
        }
        if call.status.is_terminal() {
            return Err(EngineError::Conflict(format!(
                "call {call_id} is already {}",
                call.status
            )));
        }
        self.cancel(&mut call, "operator")
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        Ok(call)
    }
}

fn block_decision(reason: BlockReason) -> &'static str {
    match reason {
        BlockReason::Dnc => "blocked_dnc",
        BlockReason::OptOut => "blocked_opt_out",
        BlockReason::CallingHours => "blocked_calling_hours",
        BlockReason::Duplicate => "blocked_duplicate",
    }
}
