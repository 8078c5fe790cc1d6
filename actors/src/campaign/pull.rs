//! Where a campaign's calls come from: its lanes read from storage's pending index in due order
//! (the calls the API accepted, retries, deferrals, list calls not dialed yet), new list calls
//! made from the next page of contacts, and hints.
//!
//! Reads are made inside the actor's handler, so that what it reads is never older than what it
//! wrote: the calls it holds a line for are skipped, everything else pending is its own. New
//! list calls are written in a task (the owner dispatches on meanwhile); the list is not read
//! until the task's answer hands them over.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialer_engine::dispatch::{
    Gate, Key, Lane, ListZone, Listed, ZonePick, gate, pick_zone, zone_key,
};
use dialer_engine::{Call, CallId, CallOrigin, Campaign, ContactId, NewCall, decide};
use dialer_storage::{ListCursor, WriteBatch, pending_key};
use ractor::ActorRef;

use super::{CampaignMessage, CampaignState, Hint};
use crate::ctx::Ctx;

/// The most a lane reads on after its horizon at once (the owner dispatches nothing while it
/// reads, so it does so in short steps: a read of thousands of rows held freed lines idle for
/// tens of milliseconds), and the most contacts made into calls at once.
const STEP: usize = 256;

/// The most new list calls written in one commit: the writer commits whatever is queued
/// together, and a page of 256 new calls took it 5–25 ms at the day's peak, with every dial
/// recorded meanwhile waiting for it.
const MAKE_CHUNK: usize = 64;

impl CampaignState {
    /// Reads what the lanes need from storage (pending calls, then new contacts).
    pub(super) async fn refill(&mut self, me: &ActorRef<CampaignMessage>) {
        if self
            .pull_wait
            .is_some_and(|t| t > tokio::time::Instant::now())
        {
            return;
        }
        let now = self.ctx.now();
        for lane in Lane::ALL {
            // Storage may hold some of the calls being made from contacts: the list is read
            // again once they are the owner's (their offer keeps its view whole).
            if lane == Lane::List && self.contacts.making.is_some() {
                continue;
            }
            let read = match self.board.lane(lane).top_up(now, STEP) {
                Some((after, n)) => self.top_up(lane, after, n).await,
                None if self.board.lane(lane).wants_pull(now) => self.pull(lane).await,
                None => Ok(()),
            };
            if read.is_err() {
                return;
            }
        }
        let list = self.board.lane(Lane::List);
        let low = list.ready() < list.limit().div_ceil(2);
        if self.open(Lane::List)
            && !self.list_exhausted
            && low
            && !list.wants_pull(now)
            && self.contacts.making.is_none()
            && self.contacts.closed_until.is_none_or(|t| t <= now)
        {
            self.start_contacts(me);
        }
    }

    /// A lane's first `n` pending calls in due order (strictly after `after`), from storage.
    pub(super) async fn pending(
        &self,
        lane: Lane,
        after: Option<Key>,
        n: usize,
    ) -> dialer_storage::Result<Vec<Call>> {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        (self.ctx.store)
            .pending_calls(self.id(), lane, after, n, self.ctx.now())
            .await
    }

    /// Storage failed us: try again in a second.
    fn pull_failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        tracing::warn!(campaign_id = %self.id(), error = %e, "could not {what}; trying again shortly");
        self.pull_wait = Some(tokio::time::Instant::now() + Duration::from_secs(1));
    }

    /// Replaces a lane's held calls with storage's first pending calls of the lane.
    async fn pull(&mut self, lane: Lane) -> Result<(), ()> {
        let limit = self.board.lane(lane).limit();
        // Calls holding a line are still pending in storage until their slot dials them: ask
        // for as many more.
        let ask = limit + self.lines.len();
        let now = self.ctx.now();
        let rows = match self.pending(lane, None, ask).await {
            Ok(rows) => rows,
            Err(e) => {
                self.pull_failed("read pending calls", &e);
                return Err(());
            }
        };
        let got = rows.len();
        let mut keep = Vec::with_capacity(rows.len());
        for call in rows {
            if self.lines.contains_key(&call.call_id) {
                continue;
            }
            if self.duplicate_due(&call, now) {
                self.block_duplicate(call).await;
                continue;
            }
            keep.push(call);
        }
        let mut rows: Vec<(Key, Call)> = keep
            .into_iter()
            .filter_map(|c| pending_key(&c).map(|k| (k, c)))
            .collect();
        // Drained: storage had no more than what came back, and all of it is held.
        let drained = got < ask && rows.len() <= limit;
        rows.truncate(limit);
        let asked = if drained { rows.len() + 1 } else { rows.len() };
        self.board
            .lane_mut(lane)
            .replace(rows, asked, now, |_| false);
        Ok(())
    }

    /// Reads on after a lane's horizon: its next `n` pending calls.
    async fn top_up(&mut self, lane: Lane, after: Key, n: usize) -> Result<(), ()> {
        let now = self.ctx.now();
        let rows = match self.pending(lane, Some(after), n).await {
            Ok(rows) => rows,
            Err(e) => {
                self.pull_failed("read pending calls", &e);
                return Err(());
            }
        };
        // Every row read moves the view on, even one blocked here (no longer pending).
        let mut read = Vec::with_capacity(rows.len());
        let mut blocked = std::collections::HashSet::new();
        for call in rows {
            let Some(key) = pending_key(&call) else {
                continue;
            };
            if self.duplicate_due(&call, now) && !self.lines.contains_key(&call.call_id) {
                blocked.insert(call.call_id);
                read.push((key, call.clone()));
                self.block_duplicate(call).await;
                continue;
            }
            read.push((key, call));
        }
        let lines = &self.lines;
        self.board.lane_mut(lane).extend(read, n, now, |id| {
            lines.contains_key(&id) || blocked.contains(&id)
        });
        Ok(())
    }

    /// Makes list calls from the next page of contacts, in a task: the calls and the cursor
    /// past their contacts are written together, so a contact gets exactly one call across
    /// crashes. The page comes from the zone whose calling hours close first among those open
    /// ([`pick_zone`]); the list's zones are read first, in a task of their own. The owner
    /// dispatches on meanwhile (the write waited in its handler held freed lines idle); the
    /// task's answer comes as [`CampaignMessage::ContactsMade`].
    fn start_contacts(&mut self, me: &ActorRef<CampaignMessage>) {
        let lane = self.board.lane(Lane::List);
        let want = lane.limit().saturating_sub(lane.ready()).clamp(1, STEP);
        let ctx = Arc::clone(&self.ctx);
        let campaign = Arc::clone(&self.campaign);
        let me = me.clone();
        let page = match &self.contacts.zones {
            None => None,
            Some(zones) => match pick_zone(&self.campaign.settings, zones, self.ctx.now()) {
                ZonePick::Make(zone) => Some(zone.clone()),
                ZonePick::ClosedUntil(at) => {
                    self.contacts.closed_until = Some(at);
                    return;
                }
                ZonePick::Nothing => {
                    self.list_exhausted = true;
                    return;
                }
            },
        };
        self.contacts.started += 1;
        let seq = self.contacts.started;
        let job = page.clone();
        let task = tokio::spawn(async move {
            let made = match job {
                None => match ctx.store.list_zones(campaign.id).await {
                    Ok(zones) => Made::Zones(zones),
                    Err(e) => Made::Unread(e),
                },
                Some(ListZone { key, after }) => {
                    make_calls(&ctx, &campaign, key, after, want).await
                }
            };
            let _ = me.cast(CampaignMessage::ContactsMade { seq });
            made
        });
        self.contacts.making = Some(Making {
            seq,
            page,
            hinted: false,
            task,
        });
    }

    /// Applies the answer of the contacts' task numbered `seq` (`None`: whichever is in
    /// flight, waiting for it): the zone's cursor moves past the page and its calls are offered
    /// to the list.
    pub(super) async fn finish_contacts(&mut self, seq: Option<u64>) {
        if seq.is_some_and(|s| self.contacts.making.as_ref().is_none_or(|m| m.seq != s)) {
            return;
        }
        let Some(making) = self.contacts.making.take() else {
            return;
        };
        let made = match making.task.await {
            Ok(made) => made,
            Err(e) => {
                self.pull_failed("make contacts into calls", &e);
                return;
            }
        };
        let zone = making.page.map(|z| z.key);
        match made {
            // Contacts imported while the zones were read are read with them next time.
            Made::Zones(zones) if !making.hinted => self.contacts.zones = Some(zones),
            Made::Zones(_) => {}
            Made::Calls { calls, last } => {
                let mut campaign = (*self.campaign).clone();
                campaign.dial_cursor = Some(campaign.dial_cursor.map_or(last, |c| c.max(last)));
                self.campaign = Arc::new(campaign);
                let listed = self.contacts.zones.iter_mut().flatten();
                if let Some(z) = listed.into_iter().find(|z| Some(&z.key) == zone.as_ref()) {
                    z.after = Some(last);
                }
                let now = self.ctx.now();
                self.contacts.closed_until = closed_until(&calls, now);
                for call in calls {
                    if let Some(key) = pending_key(&call) {
                        self.board.lane_mut(Lane::List).offer(key, call, now);
                    }
                }
            }
            // The zone is made to its end; contacts imported since are read with the zones.
            Made::Exhausted => {
                if let Some(zones) = &mut self.contacts.zones {
                    zones.retain(|z| Some(&z.key) != zone.as_ref());
                }
            }
            Made::Unread(e) => self.pull_failed("read contacts", &e),
            // Its answer wakes the owner: without a pause, a store that refuses the page would
            // be asked again at once, over and over.
            Made::Unwritten(e) => self.pull_failed("write the calls of contacts", &e),
        }
    }

    /// Whether `call` is one of the calls being made from contacts: storage may hold it
    /// already, but it is the owner's only once the task's answer is applied.
    pub(super) fn being_made(&self, call: &Call) -> bool {
        let page = self.contacts.making.as_ref().and_then(|m| m.page.as_ref());
        page.is_some_and(|zone| {
            call.origin == CallOrigin::Campaign
                && call.contact_id.is_some_and(|c| Some(c) > zone.after)
                && zone_key(&call.phone_number) == zone.key
        })
    }

    /// When the list's next zone opens, if its contacts wait for their hours.
    pub(super) fn list_opens(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.contacts.closed_until).filter(|t| *t > now && !self.list_exhausted)
    }

    /// Contacts may have come since the list was last found exhausted.
    pub(super) fn contacts_may_have_come(&mut self) {
        self.list_exhausted = false;
        self.contacts.closed_until = None;
        // New zones, or more contacts in a zone made to its end: the zones are read again.
        self.contacts.zones = None;
        if let Some(making) = &mut self.contacts.making {
            making.hinted = true;
        }
    }

    pub(super) async fn on_nudge(&mut self, seq: u64, hint: Hint) {
        self.nudges_seen = self.nudges_seen.max(seq);
        match hint {
            Hint::Contacts => self.contacts_may_have_come(),
            Hint::Call(call_id) => self.take_hint(call_id).await,
            Hint::Request => {}
        }
    }

    /// Holds a call the API just accepted, if it belongs in a lane's view; else the lane reads
    /// storage again in its turn.
    async fn take_hint(&mut self, call_id: CallId) {
        if self.lines.contains_key(&call_id)
            || Lane::ALL
                .iter()
                .any(|l| self.board.lane(*l).contains(call_id))
        {
            return;
        }
        match self.ctx.store.get_call(call_id).await {
            Ok(Some(call)) if call.campaign_id == self.id() && !self.being_made(&call) => {
                let lane = Lane::of(call.origin);
                let now = self.ctx.now();
                if self.duplicate_due(&call, now) {
                    self.block_duplicate(call).await;
                } else if let Some(key) = pending_key(&call).filter(|_| call.status.is_pending()) {
                    self.board.lane_mut(lane).offer(key, call, now);
                }
            }
            Ok(_) => {}
            Err(_) => {
                for lane in Lane::ALL {
                    self.board.lane_mut(lane).mark_dirty();
                }
            }
        }
    }
}

/// The owner's making of contacts into calls.
#[derive(Default)]
pub(super) struct Contacts {
    /// The page being made, if any.
    pub(super) making: Option<Making>,
    /// Pages started.
    started: u64,
    /// The list's zones and how far each is made, once read (`None`: to be read); a zone made
    /// to its end leaves until contacts are imported again.
    pub(super) zones: Option<Vec<ListZone>>,
    /// Every call of the last page waits for its calling hours, the first of which open then:
    /// no page is made before (a campaign started at night made its whole list into calls,
    /// page after page, only to defer them).
    pub(super) closed_until: Option<DateTime<Utc>>,
}

/// When the first of `calls` is due, if none is due at `now` (all wait for their calling hours).
fn closed_until(calls: &[Call], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut first: Option<DateTime<Utc>> = None;
    for call in calls {
        // Made due now, or at their hours' opening when closed (`make_calls`).
        match call.due_at {
            Some(due) if due > now => first = Some(first.map_or(due, |f| f.min(due))),
            _ => return None,
        }
    }
    first
}

/// A page of contacts being made into calls, or the list's zones being read, in a task.
pub(super) struct Making {
    seq: u64,
    /// The zone the page is made from and the cursor it is read after: list calls of the
    /// zone's later contacts are the page's. `None` while the zones are read.
    page: Option<ListZone>,
    /// Told of contacts imported since the task started.
    hinted: bool,
    pub(super) task: tokio::task::JoinHandle<Made>,
}

/// What a contacts' task did.
pub(super) enum Made {
    /// Written with the cursor past `last`.
    Calls {
        calls: Vec<Call>,
        last: ContactId,
    },
    /// No contact of the zone after its cursor.
    Exhausted,
    /// The list's zones, read.
    Zones(Vec<ListZone>),
    Unread(dialer_storage::StorageError),
    Unwritten(crate::error::EngineError),
}

/// Reads up to `want` contacts of `zone` after its cursor and writes a call for each, with
/// the zone's cursor past them: in commits of [`MAKE_CHUNK`] calls, each moving the cursor
/// past its own, so that a dial's record is never queued behind a page's worth of new calls.
/// When a later commit fails, the calls written before it are the answer.
async fn make_calls(
    ctx: &Ctx,
    campaign: &Campaign,
    zone: String,
    after: Option<ContactId>,
    want: usize,
) -> Made {
    let id = campaign.id;
    let want = u32::try_from(want).unwrap_or(u32::MAX);
    let page = match ctx.store.zone_page(id, &zone, after, want).await {
        Ok(page) => page,
        Err(e) => return Made::Unread(e),
    };
    if page.is_empty() {
        return Made::Exhausted;
    }
    let now = ctx.now();
    let mut made: Vec<Call> = Vec::with_capacity(page.len());
    let mut written = None;
    for contacts in page.chunks(MAKE_CHUNK) {
        let Some(last) = contacts.last().map(|c| c.id) else {
            continue;
        };
        let mut batch = WriteBatch {
            cursors: vec![ListCursor::new(id, zone.clone(), last)],
            ..WriteBatch::default()
        };
        let mut calls = Vec::with_capacity(contacts.len());
        for contact in contacts {
            let (call, step) = new_list_call(campaign, contact, now);
            batch.extend(crate::ctx::batch_of(&call, &step));
            calls.push(call);
        }
        match ctx.persist(batch).await {
            Ok(()) => {
                made.extend(calls);
                written = Some(last);
            }
            Err(e) => match written {
                None => return Made::Unwritten(e),
                Some(_) => {
                    tracing::warn!(campaign_id = %id, error = %e, "could not write the rest of a page of list calls");
                    break;
                }
            },
        }
    }
    match written {
        Some(last) => Made::Calls { calls: made, last },
        None => Made::Exhausted,
    }
}

/// A list call for `contact`, made now; outside its calling hours, due at their opening from
/// the start. Made due now, it would be taken from the lane only to be deferred then, a write
/// awaited in the owner's handler for each (at a zone's closed hours, most of the owner's time).
fn new_list_call(
    campaign: &Campaign,
    contact: &dialer_storage::Contact,
    now: DateTime<Utc>,
) -> (Call, dialer_engine::Step) {
    let mut call = Call::new(
        NewCall {
            call_id: CallId::generate(now),
            campaign_id: campaign.id,
            contact_id: Some(contact.id),
            phone_number: contact.phone_number.clone(),
            origin: CallOrigin::Campaign,
            max_attempts: campaign.settings.retry.max_attempts(),
            scheduled_at: None,
        },
        now,
    );
    let mut step = decide::created(&call, now);
    if let Gate::Defer { until } = gate(
        &campaign.settings,
        &call.phone_number,
        Listed::default(),
        now,
    ) {
        step = step.then(crate::ctx::defer_to_opening(&mut call, until, now));
    }
    (call, step)
}
