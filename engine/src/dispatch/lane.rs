//! The first pending calls of one lane, as its campaign's owner holds them, and the view of
//! storage they are.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::ids::CallId;

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
