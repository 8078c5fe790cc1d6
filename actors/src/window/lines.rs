//! A window's lines: DialerSlots spawned as calls need them, kept on an idle stack, restarted
//! when they fail and given back the call they held.

use std::sync::Arc;

use dialer_engine::{CallId, CallStatus, Campaign, RestartTracker};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{Holding, Line, Queued, WindowMessage, WindowState};
use crate::campaign::CampaignMessage;
use crate::ctx::Ctx;
use crate::slot::{DialerSlot, SlotArgs, SlotMessage};

async fn spawn_slot(
    ctx: &Arc<Ctx>,
    me: &ActorRef<WindowMessage>,
    index: usize,
) -> Result<ActorRef<SlotMessage>, ActorProcessingErr> {
    let args = SlotArgs {
        ctx: Arc::clone(ctx),
        index,
        window: me.clone(),
    };
    let (actor, _) = Actor::spawn_linked(None, DialerSlot, args, me.get_cell()).await?;
    Ok(actor)
}

impl WindowState {
    /// Whether a call could get a line now (a free one, or room to spawn one).
    pub(super) fn line_available(&mut self) -> bool {
        while let Some(&slot) = self.idle.last() {
            if self.lines[slot].actor.is_some() && self.lines[slot].holding.is_none() {
                return true;
            }
            // Restarting or taken since: it comes back when it is free again.
            self.idle.pop();
        }
        self.lines.len() < self.max_lines
    }

    /// A free line with a running slot: an idle one, or a new one while under `max_lines`.
    pub(super) async fn take_line(&mut self, me: &ActorRef<WindowMessage>) -> Option<usize> {
        while let Some(slot) = self.idle.pop() {
            if self.lines[slot].actor.is_some() && self.lines[slot].holding.is_none() {
                return Some(slot);
            }
        }
        if self.lines.len() >= self.max_lines {
            return None;
        }
        let index = self.lines.len();
        match spawn_slot(&self.ctx, me, index).await {
            Ok(actor) => {
                self.lines.push(Line {
                    actor: Some(actor),
                    holding: None,
                    tracker: RestartTracker::new(),
                });
                Some(index)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a dialer slot");
                None
            }
        }
    }

    /// A line that finished its call goes back on the idle stack.
    pub(super) fn free(&mut self, slot: usize) {
        if let Some(line) = self.lines.get_mut(slot) {
            line.holding = None;
            if line.actor.is_some() {
                self.idle.push(slot);
            }
        }
    }

    pub(super) fn hold(&mut self, slot: usize, call_id: CallId, campaign: Arc<Campaign>) {
        self.lines[slot].holding = Some(Holding { call_id, campaign });
        self.held_by.insert(call_id, slot);
    }

    pub(super) async fn on_restart_slot(
        &mut self,
        me: &ActorRef<WindowMessage>,
        slot: usize,
    ) -> Result<(), ActorProcessingErr> {
        let actor = spawn_slot(&self.ctx, me, slot).await?;
        self.lines[slot].actor = Some(actor.clone());
        let Some(holding) = self.lines[slot].holding.take() else {
            self.idle.push(slot);
            return Ok(());
        };
        let call_id = holding.call_id;
        self.held_by.remove(&call_id);
        let Some(call) = self.ctx.store.get_call(call_id).await? else {
            return Ok(());
        };
        if call.status.is_live() {
            // The dial was recorded: adopt it, never dial it again.
            actor.cast(SlotMessage::Adopt {
                call,
                campaign: Arc::clone(&holding.campaign),
            })?;
            self.hold(slot, call_id, holding.campaign);
            for (report, reply) in self.parked.remove(&call_id).unwrap_or_default() {
                actor.cast(SlotMessage::Report {
                    call_id,
                    report,
                    reply,
                })?;
            }
        } else if call.status == CallStatus::Initiated {
            // Failed before recording the dial: it was never dialed; queue it again.
            self.idle.push(slot);
            self.ctx.release_leases(call_id);
            self.queue.push_front(Queued {
                call,
                campaign: holding.campaign,
                grant: None,
            });
        } else {
            // The outcome was recorded before the failure: finish the bookkeeping.
            self.idle.push(slot);
            self.ctx.release_leases(call_id);
            if let Some(at) = call.next_retry_at() {
                self.ctx.schedule(&call, at);
            }
            let _ = self.dispatcher.cast(CampaignMessage::Finished {
                call_id,
                status: call.status,
            });
        }
        Ok(())
    }
}
