//! A campaign's slots: started for a call given a line, adopting the calls in flight found at
//! start (after a restart), and restarted with backoff when one fails — the new slot takes its
//! call over from what storage says of it, never dialing a recorded dial again.

use std::sync::Arc;

use dialer_engine::dispatch::Lane;
use dialer_engine::{Call, CallId};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef};

use super::lines::Line;
use super::{CampaignMessage, CampaignState};
use crate::ctx::Restarts as Counters;
use crate::slot::{DialerSlot, Job, SlotArgs, SlotMessage};
use crate::supervision::jitter;

/// Calls in flight adopted per storage read at start.
const ADOPT_PAGE: u32 = 500;

impl CampaignState {
    /// Starts a slot for every call of the campaign that is in flight in storage (after a
    /// restart): each is asked about and holds its line until its outcome is known.
    pub(super) async fn adopt_live(
        &mut self,
        me: &ActorRef<CampaignMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let mut after = None;
        loop {
            let page = self
                .ctx
                .store
                .live_calls(self.id(), after, ADOPT_PAGE)
                .await?;
            let Some(last) = page.last().map(|c| c.call_id) else {
                return Ok(());
            };
            after = Some(last);
            for call in page {
                self.adopt(me, call).await;
            }
        }
    }

    /// Gives a call in flight a line and a slot that adopts it.
    pub(super) async fn adopt(&mut self, me: &ActorRef<CampaignMessage>, call: Call) {
        if self.lines.contains_key(&call.call_id) {
            return;
        }
        let lane = Lane::of(call.origin);
        self.board.hold(lane);
        self.numbers.insert(call.phone_number.clone(), call.call_id);
        let key = (call.updated_at, call.call_id);
        let call_id = call.call_id;
        self.lines.insert(
            call_id,
            Line {
                lane,
                key,
                call: call.clone(),
                // Adopted: not dialed here, so no dispatch lag is measured.
                ready: tokio::time::Instant::now(),
                asked: tokio::time::Instant::now(),
                slot: None,
                leasing: false,
                early: false,
                granted: false,
                void: None,
            },
        );
        self.start_slot(me, call_id, Job::Adopt { call }).await;
    }

    /// Starts a slot for the call on `call_id`'s line.
    pub(super) async fn start_slot(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
        job: Job,
    ) {
        let args = SlotArgs {
            ctx: Arc::clone(&self.ctx),
            campaign: Arc::clone(&self.campaign),
            parent: me.get_derived(),
            stopped: Arc::clone(&self.stopped),
        };
        match Actor::spawn_linked(None, DialerSlot, args, me.get_cell()).await {
            Ok((slot, _)) => {
                self.slots.insert(slot.get_id(), call_id);
                let _ = slot.cast(SlotMessage::Start(job));
                if let Some(line) = self.lines.get_mut(&call_id) {
                    line.slot = Some(slot);
                }
            }
            Err(e) => {
                // Treated as a failed slot: retried with backoff.
                tracing::error!(error = %e, "could not start a dialer slot");
                self.schedule_slot_restart(me, call_id);
            }
        }
    }

    /// A slot failed (or ended without handing its call back): its call keeps its line, and a
    /// new slot takes it over after the restart policy's backoff.
    pub(super) fn slot_failed(&mut self, me: &ActorRef<CampaignMessage>, slot: ActorId) {
        let Some(call_id) = self.slots.remove(&slot) else {
            return;
        };
        if let Some(line) = self.lines.get_mut(&call_id) {
            line.slot = None;
        }
        self.schedule_slot_restart(me, call_id);
    }

    pub(super) fn schedule_slot_restart(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
    ) {
        let restart = self.restarts.failed(&call_id, jitter());
        Counters::count(&self.ctx.restarts.slots);
        me.send_after(restart.after, move || CampaignMessage::RestartSlot {
            call_id,
        });
    }

    /// Restarts the slot of a call whose slot failed, from what storage says of the call.
    pub(super) async fn on_restart_slot(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
    ) {
        if !self
            .lines
            .get(&call_id)
            .is_some_and(|l| l.slot.is_none() && !l.leasing)
        {
            return;
        }
        let call = match self.ctx.store.get_call(call_id).await {
            Ok(Some(call)) => call,
            Ok(None) => {
                self.free_line(call_id);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the call of a failed slot; trying again");
                self.schedule_slot_restart(me, call_id);
                return;
            }
        };
        if call.status.is_live() {
            // The dial was recorded: adopt it, never dial it again.
            self.start_slot(me, call_id, Job::Adopt { call }).await;
            return;
        }
        // Not dialed yet, or already ended: the line is free.
        self.ctx.keeper.release(call_id);
        self.free_line(call_id);
        self.take_back_pending(call).await;
    }
}
