//! The decisions of dispatch, as values: which call gets the next free line, what the last
//! check before a dial says, and the queues a campaign's owner keeps of its pending calls.
//!
//! A campaign dials from two *lanes*: its contact list, and its one-off calls (`initiate-call`
//! and scheduled calls). Both share the campaign's lines (`max_concurrent`). One-off calls come
//! first whenever a line frees, and a share of the lines (`one_off_share_percent`) is kept from
//! the list, so an operator's call never waits for a busy list to drain ([`next_lane`]).
//!
//! The pending calls themselves live in storage, ordered by due time: that order is the order
//! they are dialed in. A campaign's owner keeps only the first of them in memory, per lane, in a
//! [`LaneQueue`]: the ones due now (ready), the ones due soon (waiting), and where its view of
//! storage ends (the *horizon*), so that it knows when to read more. Nothing here reads storage
//! or a clock; the actor carries these decisions out.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::call::CallOrigin;
use crate::campaign::CampaignSettings;
use crate::ids::CallId;
use crate::phone::PhoneNumber;
use crate::status::BlockReason;

/// Where a campaign's calls come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// `initiate-call` and scheduled one-off calls: first in line for a free line.
    OneOff,
    /// The campaign's contact list.
    List,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::OneOff, Lane::List];

    pub fn of(origin: CallOrigin) -> Self {
        match origin {
            CallOrigin::Campaign => Self::List,
            CallOrigin::Api | CallOrigin::Scheduled => Self::OneOff,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneOff => "one_off",
            Self::List => "list",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::OneOff => 0,
            Self::List => 1,
        }
    }
}

/// A campaign's lines and how many of them the list may never take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub total: u32,
    /// Lines kept for one-off calls: the list dials on at most `total - reserved`.
    pub reserved: u32,
}

impl Lines {
    /// `share_percent` of `total`, rounded down (a small campaign keeps none: its one-off
    /// calls still take the first line that frees), and never every line.
    pub fn new(total: u32, share_percent: u32) -> Self {
        let total = total.max(1);
        let wanted = u64::from(total) * u64::from(share_percent.min(100)) / 100;
        let reserved = u32::try_from(wanted).unwrap_or(u32::MAX).min(total - 1);
        Self { total, reserved }
    }

    /// A campaign's lines: its own cap, or the global cap when that is lower — the list could
    /// otherwise take every line the campaign can actually get, and its reserve would be on
    /// paper only. (Several campaigns share the global cap; the reserve is each one's own.)
    pub fn of(settings: &CampaignSettings, global_cap: u32) -> Self {
        Self::new(
            settings.max_concurrent.min(global_cap),
            settings.one_off_share_percent,
        )
    }

    /// The most lines a lane may hold at once.
    pub fn limit(self, lane: Lane) -> u32 {
        match lane {
            Lane::OneOff => self.total,
            Lane::List => self.total - self.reserved,
        }
    }
}

/// Lines held per lane (calls in flight, or being given their leases).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Busy {
    pub one_off: u32,
    pub list: u32,
}

impl Busy {
    pub fn get(self, lane: Lane) -> u32 {
        match lane {
            Lane::OneOff => self.one_off,
            Lane::List => self.list,
        }
    }

    fn slot(&mut self, lane: Lane) -> &mut u32 {
        match lane {
            Lane::OneOff => &mut self.one_off,
            Lane::List => &mut self.list,
        }
    }

    pub fn total(self) -> u32 {
        self.one_off + self.list
    }
}

/// Which lane gets the next free line, given which lanes have a call ready: one-off calls
/// first, the list within its limit, never more than `lines.total` in all.
pub fn next_lane(lines: Lines, busy: Busy, one_off_ready: bool, list_ready: bool) -> Option<Lane> {
    if busy.total() >= lines.total {
        return None;
    }
    if one_off_ready && busy.one_off < lines.limit(Lane::OneOff) {
        return Some(Lane::OneOff);
    }
    if list_ready && busy.list < lines.limit(Lane::List) {
        return Some(Lane::List);
    }
    None
}

/// Whether a number is on the do-not-call list or opted out, as read just before dialing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listed {
    pub dnc: bool,
    pub opt_out: bool,
}

/// The last check before a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Dial,
    /// Calling hours are closed for the number; they open at `until`.
    Defer {
        until: DateTime<Utc>,
    },
    Block(BlockReason),
}

/// What the last check says about dialing `number` at `now`: the do-not-call list first, then
/// opt-outs, then the calling hours in the number's zones.
pub fn gate(
    settings: &CampaignSettings,
    number: &PhoneNumber,
    listed: Listed,
    now: DateTime<Utc>,
) -> Gate {
    if listed.dnc {
        return Gate::Block(BlockReason::Dnc);
    }
    if listed.opt_out {
        return Gate::Block(BlockReason::OptOut);
    }
    // Not `CallingHours::check`: when the hours close is of no use here, and finding it is most
    // of that call's work.
    let zones = settings.zones_for(number);
    match settings.calling_hours.next_open(zones.as_slice(), now) {
        Some(at) if at <= now => Gate::Dial,
        Some(at) => Gate::Defer { until: at },
        None => Gate::Block(BlockReason::CallingHours),
    }
}

/// A pending call's place in its lane: due time, then id (ids are time-ordered).
pub type Key = (DateTime<Utc>, CallId);

/// The first pending calls of one lane, as its owner holds them.
///
/// A pull from storage gives the lane's first `limit` pending calls in due order
/// ([`LaneQueue::replace`]). When fewer came back, the queue holds every pending call of the lane
/// (*drained*); otherwise the last one read is the *horizon*: any call not held is due at or
/// after it. The owner offers what it writes itself (a retry, a deferral, a call given back)
/// with [`LaneQueue::offer`], which keeps the call only where it belongs in that view; a call it
/// cannot place makes the queue *dirty* (storage holds something it has not seen).
#[derive(Debug, Clone)]
pub struct LaneQueue<T> {
    ready: BTreeMap<Key, T>,
    waiting: BTreeMap<Key, T>,
    keys: HashMap<CallId, Key>,
    limit: usize,
    drained: bool,
    horizon: Option<Key>,
    /// The horizon is a call that was read (not one an offer could not hold): storage's
    /// calls strictly after it are exactly those not seen yet.
    horizon_read: bool,
    dirty: bool,
}

impl<T> LaneQueue<T> {
    /// A queue holding at most `limit` calls, knowing nothing of storage yet.
    pub fn new(limit: usize) -> Self {
        Self {
            ready: BTreeMap::new(),
            waiting: BTreeMap::new(),
            keys: HashMap::new(),
            limit: limit.max(1),
            drained: false,
            horizon: None,
            horizon_read: false,
            dirty: true,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Calls due now, waiting for a line.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// The calls held that are not due yet.
    pub fn waiting(&self) -> impl Iterator<Item = &T> {
        self.waiting.values()
    }

    pub fn contains(&self, id: CallId) -> bool {
        self.keys.contains_key(&id)
    }

    /// Whether every pending call of the lane is held here (as of the last pull, and of what
    /// was offered since).
    pub fn drained(&self) -> bool {
        self.drained && !self.dirty
    }

    /// Replaces the queue with a pull's result: the lane's first pending calls in due order,
    /// asked for with `limit`, minus those `skip` says are already taken (in flight). `now`
    /// splits ready from waiting.
    pub fn replace(
        &mut self,
        rows: Vec<(Key, T)>,
        limit: usize,
        now: DateTime<Utc>,
        skip: impl Fn(CallId) -> bool,
    ) {
        self.ready.clear();
        self.waiting.clear();
        self.keys.clear();
        self.dirty = false;
        self.extend(rows, limit, now, skip);
    }

    /// Where to read on from when the queue runs low: strictly after its horizon, at most
    /// `chunk` calls and no more than it has room for. `None` when a top-up will not do (never
    /// read, told of calls it has not seen, its view narrowed by an offer, or full): then
    /// [`wants_pull`](Self::wants_pull) says whether to [`replace`](Self::replace) it.
    pub fn top_up(&self, now: DateTime<Utc>, chunk: usize) -> Option<(Key, usize)> {
        if self.dirty || !self.horizon_read || !self.wants_pull(now) {
            return None;
        }
        let room = self.limit.saturating_sub(self.keys.len()).min(chunk);
        let horizon = self.horizon?;
        (room > 0).then_some((horizon, room))
    }

    /// Adds a top-up's result: the lane's first pending calls strictly after the horizon,
    /// asked for with `limit`, minus those `skip` says are already taken (in flight).
    pub fn extend(
        &mut self,
        rows: Vec<(Key, T)>,
        limit: usize,
        now: DateTime<Utc>,
        skip: impl Fn(CallId) -> bool,
    ) {
        self.drained = rows.len() < limit;
        self.horizon = if self.drained {
            None
        } else {
            rows.last().map(|(k, _)| *k)
        };
        self.horizon_read = self.horizon.is_some();
        for (key, item) in rows {
            if skip(key.1) {
                continue;
            }
            self.insert(key, item, now);
        }
    }

    fn insert(&mut self, key: Key, item: T, now: DateTime<Utc>) {
        if let Some(old) = self.keys.insert(key.1, key) {
            self.ready.remove(&old);
            self.waiting.remove(&old);
        }
        if key.0 <= now {
            self.ready.insert(key, item);
        } else {
            self.waiting.insert(key, item);
        }
    }

    /// Offers a pending call its owner just wrote (or was told of). It is kept when it falls
    /// inside the queue's view of storage and there is room; otherwise the view is narrowed so
    /// that the call comes with a later pull, in its turn. True when it was kept.
    pub fn offer(&mut self, key: Key, item: T, now: DateTime<Utc>) -> bool {
        let held = self.keys.contains_key(&key.1);
        // At the horizon is inside: a read goes on strictly after it, so a call read there (and
        // taken, or skipped as in flight) and given back with the same key comes no other way.
        let inside = held || self.drained || self.horizon.is_some_and(|h| key <= h);
        if inside && (held || self.keys.len() < self.limit) {
            self.insert(key, item, now);
            return true;
        }
        if inside {
            // No room: the view now ends before this call, which is not held — at the last
            // call held before it, so that a top-up reads on from there (everything up to it
            // is held or taken). With none held before it, only a pull will do.
            self.drained = false;
            let before = self
                .ready
                .range(..key)
                .next_back()
                .into_iter()
                .chain(self.waiting.range(..key).next_back())
                .map(|(k, _)| *k)
                .max();
            match before {
                Some(before) => {
                    self.horizon = Some(before);
                    self.horizon_read = true;
                }
                None => {
                    self.horizon = Some(key);
                    self.horizon_read = false;
                }
            }
        }
        false
    }

    /// Storage may hold pending calls this queue has not seen (a hint that could not be
    /// placed): read it again soon.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Moves what has become due from waiting to ready.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, item) = entry.remove_entry();
            self.ready.insert(key, item);
        }
    }

    /// The earliest ready call.
    pub fn pop(&mut self) -> Option<(Key, T)> {
        let (key, item) = self.ready.pop_first()?;
        self.keys.remove(&key.1);
        Some((key, item))
    }

    /// Puts back a call taken with [`pop`](Self::pop) that could not be dialed yet (no lease):
    /// it keeps its place.
    pub fn put_back(&mut self, key: Key, item: T, now: DateTime<Utc>) {
        self.insert(key, item, now);
    }

    pub fn remove(&mut self, id: CallId) -> Option<T> {
        let key = self.keys.remove(&id)?;
        self.ready
            .remove(&key)
            .or_else(|| self.waiting.remove(&key))
    }

    /// Every call held, in due order (for cancelling).
    pub fn drain(&mut self) -> Vec<(Key, T)> {
        self.keys.clear();
        let mut all: Vec<(Key, T)> = std::mem::take(&mut self.ready).into_iter().collect();
        all.extend(std::mem::take(&mut self.waiting));
        all
    }

    /// When, after `now`, the queue next needs attention: the earliest waiting call, or — when
    /// storage holds calls it has not read — the horizon. (A horizon already passed needs no
    /// timer: the queue reads storage when its ready calls run low, which a freed line shows.)
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let waiting = self.waiting.keys().map(|k| k.0).find(|t| *t > now);
        let horizon = if self.drained {
            None
        } else {
            self.horizon.map(|h| h.0).filter(|t| *t > now)
        };
        match (waiting, horizon) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether to read the lane from storage now: never read, or told of calls it has not
    /// seen, or short of ready calls while storage may hold more that are due.
    pub fn wants_pull(&self, now: DateTime<Utc>) -> bool {
        let low = self.ready.len() < self.limit.div_ceil(2);
        let more_due = !self.drained && self.horizon.is_none_or(|h| h.0 <= now);
        self.dirty || (more_due && low)
    }
}

/// A campaign's two lanes and the lines they share.
#[derive(Debug, Clone)]
pub struct Board<T> {
    lanes: [LaneQueue<T>; 2],
    pub lines: Lines,
    busy: Busy,
}

impl<T> Board<T> {
    pub fn new(lines: Lines, per_lane: usize) -> Self {
        Self {
            lanes: [LaneQueue::new(per_lane), LaneQueue::new(per_lane)],
            lines,
            busy: Busy::default(),
        }
    }

    pub fn lane(&self, lane: Lane) -> &LaneQueue<T> {
        &self.lanes[lane.index()]
    }

    pub fn lane_mut(&mut self, lane: Lane) -> &mut LaneQueue<T> {
        &mut self.lanes[lane.index()]
    }

    pub fn busy(&self) -> Busy {
        self.busy
    }

    /// The next call to give a line, if a line is free for a lane with a ready call; the line
    /// is counted as held until [`release`](Self::release). `open` says which lanes may dial
    /// now (a paused campaign dials none, an unstarted one only its one-off calls).
    pub fn next(
        &mut self,
        now: DateTime<Utc>,
        open: impl Fn(Lane) -> bool,
    ) -> Option<(Lane, Key, T)> {
        self.advance(now);
        let ready = |l: Lane| open(l) && self.lanes[l.index()].ready() > 0;
        let lane = next_lane(
            self.lines,
            self.busy,
            ready(Lane::OneOff),
            ready(Lane::List),
        )?;
        let (key, item) = self.lanes[lane.index()].pop()?;
        *self.busy.slot(lane) += 1;
        Some((lane, key, item))
    }

    /// A line of `lane` is held by a call that did not come from [`next`](Self::next) (one
    /// adopted after a restart).
    pub fn hold(&mut self, lane: Lane) {
        *self.busy.slot(lane) += 1;
    }

    /// A line of `lane` is free again.
    pub fn release(&mut self, lane: Lane) {
        let held = self.busy.slot(lane);
        *held = held.saturating_sub(1);
    }

    /// The earliest instant after `now` either lane needs attention.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.lanes.iter().filter_map(|l| l.next_wake(now)).min()
    }

    /// Moves what has become due to ready, in both lanes.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        for lane in &mut self.lanes {
            lane.advance(now);
        }
    }

    /// Calls held in both lanes, ready or waiting.
    pub fn held(&self) -> usize {
        self.lanes.iter().map(LaneQueue::len).sum()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model;
