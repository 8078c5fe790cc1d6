//! What only a campaign's owner may do: change its lifecycle state ([`campaign_transition`]),
//! stop it (cancelling every pending call), complete it, go idle — and apply what happens to
//! its pending calls (a provider report, an operator's cancel).

use dialer_engine::dispatch::Lane;
use dialer_engine::lifecycle::{CampaignEvent, Lifecycle, campaign_transition, list_done};
use dialer_engine::{
    Call, CallId, CampaignCommand, CampaignState as State, ProviderReport, decide,
};
use dialer_storage::{StateChange, WriteBatch};
use ractor::ActorRef;

use super::{CampaignMessage, CampaignState, CommandOutcome, Idle};
use crate::error::EngineError;
use crate::live::{CallbackOutcome, ReportReply, Reported};
use crate::slot::SlotMessage;

/// Pending calls cancelled per write when a campaign stops.
const CANCEL_PAGE: usize = 500;

impl CampaignState {
    pub(super) async fn on_command(
        &mut self,
        command: CampaignCommand,
    ) -> Result<CommandOutcome, EngineError> {
        // An archived campaign takes no calls (see `Engine::initiate_call`): nor does it dial its list.
        if matches!(command, CampaignCommand::Start | CampaignCommand::Resume)
            && self.campaign.archived_at.is_some()
        {
            return Err(EngineError::Conflict(format!(
                "campaign {} is archived: unarchive it first",
                self.id()
            )));
        }
        let from = self.lifecycle();
        let cancelled = match campaign_transition(from, CampaignEvent::Command(command)) {
            refused @ Lifecycle::Refused { .. } => {
                return Err(EngineError::Conflict(format!(
                    "campaign {}: {refused}",
                    self.id()
                )));
            }
            Lifecycle::Unchanged => 0,
            Lifecycle::To(state) => {
                self.set_state(state).await?;
                if matches!(command, CampaignCommand::Start | CampaignCommand::Resume) {
                    self.contacts_may_have_come();
                }
                if state == State::Stopped {
                    self.cancel_pending().await?
                } else {
                    0
                }
            }
        };
        Ok(CommandOutcome {
            campaign: (*self.campaign).clone(),
            cancelled,
        })
    }

    /// Writes a new lifecycle state (the only place it is written) and announces it.
    async fn set_state(&mut self, state: State) -> Result<(), EngineError> {
        let at = self.ctx.now();
        let change = StateChange {
            campaign_id: self.id(),
            state,
            at,
        };
        self.ctx
            .persist(WriteBatch {
                states: vec![change],
                ..WriteBatch::default()
            })
            .await?;
        let mut campaign = (*self.campaign).clone();
        campaign.state = state;
        campaign.updated_at = at;
        self.campaign = std::sync::Arc::new(campaign);
        self.stopped.store(
            state == State::Stopped,
            std::sync::atomic::Ordering::Relaxed,
        );
        let _ = self.ctx.lifecycle.send((self.id(), state));
        tracing::info!(campaign_id = %self.id(), state = state.as_str(), "campaign state changed");
        Ok(())
    }

    /// Cancels every pending call (calls in flight finish their attempt and are not retried).
    async fn cancel_pending(&mut self) -> Result<u32, EngineError> {
        // Calls being made from contacts are pending once written: cancelled with the rest.
        self.finish_contacts(None).await;
        let now = self.ctx.now();
        let mut cancelled = 0u32;
        // Calls waiting for their leases are cancelled and will not be dialed (a slot that
        // records its dial meanwhile sees the campaign stopped, and gives the call back).
        let waiting: Vec<CallId> = self
            .lines
            .iter()
            .filter(|(_, l)| l.leasing && l.void.is_none() && l.slot.is_none())
            .map(|(id, _)| *id)
            .collect();
        for call_id in waiting {
            let Some(line) = self.lines.get_mut(&call_id) else {
                continue;
            };
            let mut call = line.call.clone();
            let step = decide::cancelled(&mut call, "campaign stopped", now);
            self.ctx.persist_step(&call, &step).await?;
            cancelled += u32::from(step.applied());
            if let Some(line) = self.lines.get_mut(&call_id) {
                line.void = Some(call);
            }
        }
        // Everything else pending, from storage, page by page.
        for lane in Lane::ALL {
            self.board.lane_mut(lane).drain();
            loop {
                let ask = CANCEL_PAGE + self.lines.len();
                let rows = self.pending(lane, None, ask).await?;
                let mut batch = WriteBatch::default();
                let mut notices = Vec::new();
                for mut call in rows
                    .into_iter()
                    .filter(|c| !self.lines.contains_key(&c.call_id))
                {
                    let step = decide::cancelled(&mut call, "campaign stopped", now);
                    if step.applied() {
                        batch.extend(crate::ctx::batch_of(&call, &step));
                        notices.push(call);
                    }
                }
                if notices.is_empty() {
                    break;
                }
                self.ctx.persist(batch).await?;
                cancelled += u32::try_from(notices.len()).unwrap_or(u32::MAX);
                for call in &notices {
                    self.ctx.notify(call);
                }
            }
            self.board
                .lane_mut(lane)
                .replace(Vec::new(), 1, now, |_| false);
        }
        Ok(cancelled)
    }

    /// A running campaign whose list was pulled to the end, with no list call pending or in
    /// flight, is completed.
    pub(super) async fn check_complete(&mut self) {
        if self.lifecycle() != State::Running {
            return;
        }
        let list = self.board.lane(Lane::List);
        let open = usize::from(!list.drained()) + list.len() + self.board.busy().list as usize;
        if !list_done(
            self.campaign.dial_cursor.is_some(),
            self.list_exhausted,
            open,
        ) {
            return;
        }
        if let Lifecycle::To(state) = campaign_transition(State::Running, CampaignEvent::ListDone)
            && self.set_state(state).await.is_ok()
        {
            tracing::info!(campaign_id = %self.id(), "campaign completed");
        }
    }

    /// Not running or paused, with nothing pending or in flight.
    pub(super) fn is_idle(&self) -> bool {
        let active = matches!(self.lifecycle(), State::Running | State::Paused);
        !active
            && self.lines.is_empty()
            && self.contacts.making.is_none()
            && self.board.held() == 0
            && Lane::ALL.iter().all(|l| self.board.lane(*l).drained())
    }

    /// An idle campaign owner offers to retire (once per idle spell).
    pub(super) fn check_idle(&mut self) {
        if self.idle_reported || !self.is_idle() {
            return;
        }
        self.idle_reported = true;
        let _ = self.parent.send_message(Idle {
            campaign_id: self.id(),
            seen: self.nudges_seen,
            activity: self.activity,
        });
    }

    /// Takes a pending call out of the lanes, or reads it: the owner's current copy.
    async fn pending_call(&mut self, call_id: CallId) -> Result<Call, EngineError> {
        for lane in Lane::ALL {
            if let Some(call) = self.board.lane_mut(lane).remove(call_id) {
                return Ok(call);
            }
        }
        let call = self.ctx.call(call_id).await?;
        if !self.being_made(&call) {
            return Ok(call);
        }
        // Written by the contacts' task, not yet the owner's: its answer first.
        self.finish_contacts(None).await;
        Ok(self
            .board
            .lane_mut(Lane::List)
            .remove(call_id)
            .unwrap_or(call))
    }

    pub(super) async fn on_report(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) {
        let result = self.apply_report(me, call_id, report, reply).await;
        if let Some((reply, result)) = result {
            let _ = reply.send(result);
        }
    }

    /// Applies a report to a call no slot carries; returns the answer to send, if not sent.
    async fn apply_report(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
        report: ProviderReport,
        reply: Option<ReportReply>,
    ) -> Option<(ReportReply, Result<CallbackOutcome, EngineError>)> {
        let now = self.ctx.now();
        let settings = self.campaign.settings.clone();
        if let Some(line) = self.lines.get_mut(&call_id) {
            if let Some(slot) = &line.slot {
                // Its slot carries it now.
                let _ = slot.cast(SlotMessage::Report(Reported {
                    call_id,
                    report,
                    reply,
                }));
                return None;
            }
            if !line.leasing || line.void.is_some() {
                let busy = EngineError::Unavailable(format!(
                    "call {call_id} is being recovered; report again"
                ));
                return reply.map(|r| (r, Err(busy)));
            }
            // Waiting for its leases: applied now, and then it is not dialed.
            let mut call = line.call.clone();
            let step = decide::reported(&mut call, &settings, &report, now);
            let stored = self.ctx.persist_step(&call, &step).await;
            let outcome = CallbackOutcome::of(&call, &step);
            if let Some(line) = self.lines.get_mut(&call_id) {
                line.void = Some(call);
            }
            return reply.map(|r| (r, stored.map(|()| outcome)));
        }
        let mut call = match self.pending_call(call_id).await {
            Ok(call) => call,
            Err(e) => return reply.map(|r| (r, Err(e))),
        };
        let step = decide::reported(&mut call, &settings, &report, now);
        crate::metrics::provider_report(&report.provider, step.applied());
        let stored = self.ctx.persist_step(&call, &step).await;
        let outcome = CallbackOutcome::of(&call, &step);
        if stored.is_ok() {
            if let Some(r) = reply {
                let _ = r.send(Ok(outcome));
            }
            // Pending again, in flight (the provider placed it after all), or final.
            self.take_back(me, call).await;
            return None;
        }
        for lane in Lane::ALL {
            self.board.lane_mut(lane).mark_dirty();
        }
        reply.map(|r| (r, stored.map(|()| outcome)))
    }

    pub(super) async fn on_cancel(&mut self, call_id: CallId) -> Result<Call, EngineError> {
        let now = self.ctx.now();
        let in_flight = || {
            EngineError::Conflict(format!(
                "call {call_id} is in flight; it finishes its attempt"
            ))
        };
        if let Some(line) = self.lines.get(&call_id) {
            if !line.leasing || line.void.is_some() || line.slot.is_some() {
                return Err(in_flight());
            }
            let mut call = line.call.clone();
            let step = decide::cancelled(&mut call, "operator", now);
            self.ctx.persist_step(&call, &step).await?;
            if let Some(line) = self.lines.get_mut(&call_id) {
                line.void = Some(call.clone());
            }
            return Ok(call);
        }
        let mut call = self.pending_call(call_id).await?;
        if call.status.is_live() {
            return Err(in_flight());
        }
        if call.status.is_terminal() {
            return Err(EngineError::Conflict(format!(
                "call {call_id} is already {}",
                call.status
            )));
        }
        let step = decide::cancelled(&mut call, "operator", now);
        if let Err(e) = self.ctx.persist_step(&call, &step).await {
            // Not cancelled: it is pending still, and read again in its turn.
            for lane in Lane::ALL {
                self.board.lane_mut(lane).mark_dirty();
            }
            return Err(e);
        }
        Ok(call)
    }
}
