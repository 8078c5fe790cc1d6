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

use chrono::{DateTime, Utc};

use crate::call::CallOrigin;
use crate::campaign::CampaignSettings;
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

mod lane;
mod zones;
pub use lane::{Key, LaneQueue};
pub use zones::{ListZone, ZonePick, pick_zone, zone_key, zones_of_key};

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
