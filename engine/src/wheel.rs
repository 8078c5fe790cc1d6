//! A hierarchical hashed timing wheel with millisecond resolution.
//!
//! It holds every pending due time of a node — scheduled calls, retries, window openings — and
//! never reads a clock: [`TimingWheel::advance`] takes the time as an argument, so a test, the
//! day benchmark and production differ only in where `now` comes from.
//!
//! # Levels
//!
//! Six levels of 64 slots. A slot on level `l` spans `64^l` ms, so level 0 holds the current
//! 64 ms block one millisecond per slot, level 1 the current ~4 s block, then ~4.4 min, ~4.7 h,
//! ~12.4 days and ~2.2 years. A timer lives on the level of the highest bit group in which its
//! deadline differs from the wheel's current time (`elapsed`): timers on a lower level are
//! therefore always due before timers on a higher one, and the next expiration is found from the
//! occupancy bitmaps of the levels in O(levels). When a higher-level slot comes due its timers
//! are cascaded down. Deadlines beyond the top level's current turn (~2.2 years) wait in an
//! overflow list that is re-placed when the turn ends; deadlines in the past fire on the next
//! advance.
//!
//! # Storage
//!
//! Items live in one `Vec` of entries with a free list, so a timer costs no allocation once the
//! vector has grown. Slots hold 16-byte *tickets* — `(deadline, entry index, generation)` — in
//! plain vectors: cascading a slot moves tickets between vectors without touching the entries,
//! which keeps a cascade sequential in memory even with millions of timers. Cancel is O(1) and
//! lazy: it frees the entry and bumps its generation, and the orphaned ticket is dropped when its
//! slot comes due. A [`TimerId`] carries the generation, so cancelling a timer that already fired
//! or was cancelled is a harmless `None`.
//!
//! Expired items come out in deadline order; items with the same deadline come out in an
//! unspecified order.

use std::collections::VecDeque;
use std::fmt;

const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const SLOT_MASK: u64 = (SLOTS as u64) - 1;
const NUM_LEVELS: usize = 6;
/// The span of the whole wheel (~2.2 years): one turn of the top level.
const TURN: u64 = 1 << (LEVEL_BITS as u64 * NUM_LEVELS as u64);

const NIL: u32 = u32::MAX;

/// A handle to cancel a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

impl TimerId {
    fn new(index: u32, generation: u32) -> Self {
        Self(u64::from(generation) << 32 | u64::from(index))
    }

    fn index(self) -> usize {
        (self.0 & u64::from(u32::MAX)) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The raw value, for storing beside the item elsewhere.
    pub fn to_raw(self) -> u64 {
        self.0
    }

    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

/// Where a timer's deadline is filed. Tickets are copied freely; only the entry is the truth.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    when: u64,
    index: u32,
    generation: u32,
}

enum Slot<T> {
    Occupied(T),
    Free { next: u32 },
}

struct Entry<T> {
    generation: u32,
    slot: Slot<T>,
}

/// The wheel. `T` is what fires: typically an id to look up elsewhere.
pub struct TimingWheel<T> {
    elapsed: u64,
    entries: Vec<Entry<T>>,
    free: u32,
    levels: Box<[[Vec<Ticket>; SLOTS]; NUM_LEVELS]>,
    occupied: [u64; NUM_LEVELS],
    /// Tickets due at or before `elapsed`, in deadline order.
    pending: VecDeque<Ticket>,
    /// Tickets beyond the current turn of the top level.
    overflow: Vec<Ticket>,
    len: usize,
}

impl<T> fmt::Debug for TimingWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingWheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .field("capacity", &self.entries.capacity())
            .finish()
    }
}

impl<T> TimingWheel<T> {
    /// An empty wheel whose current time is `now` (ms, on any fixed origin, e.g. Unix epoch).
    pub fn new(now: u64) -> Self {
        Self::with_capacity(now, 0)
    }

    pub fn with_capacity(now: u64, capacity: usize) -> Self {
        Self {
            elapsed: now,
            entries: Vec::with_capacity(capacity),
            free: NIL,
            levels: Box::new(std::array::from_fn(|_| std::array::from_fn(|_| Vec::new()))),
            occupied: [0; NUM_LEVELS],
            pending: VecDeque::new(),
            overflow: Vec::new(),
            len: 0,
        }
    }

    /// Pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The wheel's current time: the latest `now` it has been advanced to.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Schedules `item` at `when`. A deadline at or before the current time fires on the next
    /// advance.
    pub fn insert(&mut self, when: u64, item: T) -> TimerId {
        let (index, generation) = self.allocate(item);
        self.file(Ticket {
            when,
            index,
            generation,
        });
        self.len += 1;
        TimerId::new(index, generation)
    }

    /// Removes a pending timer and returns its item; `None` if it already fired or was
    /// cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let item = self.release(id.index(), id.generation())?;
        self.len -= 1;
        Some(item)
    }

    /// Whether `id` is still pending.
    pub fn contains(&self, id: TimerId) -> bool {
        self.entries
            .get(id.index())
            .is_some_and(|e| e.generation == id.generation() && matches!(e.slot, Slot::Occupied(_)))
    }

    /// The earliest time at which [`advance`](Self::advance) may yield something: the current
    /// time if a timer is already due; otherwise the start of the slot holding the earliest
    /// filed deadline — exact on level 0, a lower bound above it (advancing to it cascades that
    /// slot and the next call answers more tightly). `None` when no timer is pending.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if !self.pending.is_empty() {
            return Some(self.elapsed);
        }
        match self.next_expiration() {
            Some((_, _, deadline)) => Some(deadline),
            None if !self.overflow.is_empty() => Some(self.turn_end()),
            None => None,
        }
    }

    /// Moves the current time to `now` (never backwards) and yields every item whose deadline
    /// is `<= now`, in deadline order. Items the iterator is not asked for stay due.
    pub fn advance(&mut self, now: u64) -> Advance<'_, T> {
        Advance { wheel: self, now }
    }

    /// The next expired item at `now`, or `None` once nothing more is due.
    pub fn poll(&mut self, now: u64) -> Option<(u64, T)> {
        loop {
            if let Some(ticket) = self.pending.pop_front() {
                // A cancelled timer's ticket is simply dropped here.
                if let Some(item) = self.release(ticket.index as usize, ticket.generation) {
                    self.len -= 1;
                    return Some((ticket.when, item));
                }
                continue;
            }
            match self.next_expiration() {
                Some((level, slot, deadline)) if deadline <= now => {
                    self.process_slot(level, slot, deadline);
                }
                None if !self.overflow.is_empty() && self.turn_end() <= now => {
                    self.elapsed = self.turn_end();
                    let tickets = std::mem::take(&mut self.overflow);
                    tickets.into_iter().for_each(|t| self.file(t));
                }
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    return None;
                }
            }
        }
    }

    fn allocate(&mut self, item: T) -> (u32, u32) {
        if self.free != NIL {
            let index = self.free;
            let entry = &mut self.entries[index as usize];
            if let Slot::Free { next } = entry.slot {
                self.free = next;
            }
            entry.slot = Slot::Occupied(item);
            return (index, entry.generation);
        }
        let index = u32::try_from(self.entries.len())
            .ok()
            .filter(|i| *i != NIL)
            .unwrap_or_else(|| panic!("timing wheel holds at most {} timers", NIL - 1));
        self.entries.push(Entry {
            generation: 0,
            slot: Slot::Occupied(item),
        });
        (index, 0)
    }

    /// Takes the item of a live entry and frees it; `None` for a stale id or ticket.
    fn release(&mut self, index: usize, generation: u32) -> Option<T> {
        let entry = self.entries.get_mut(index)?;
        if entry.generation != generation || matches!(entry.slot, Slot::Free { .. }) {
            return None;
        }
        entry.generation = entry.generation.wrapping_add(1);
        let slot = std::mem::replace(&mut entry.slot, Slot::Free { next: self.free });
        self.free = index as u32;
        match slot {
            Slot::Occupied(item) => Some(item),
            Slot::Free { .. } => None,
        }
    }

    /// Files a ticket in the due list, the slot its deadline belongs to, or overflow.
    fn file(&mut self, ticket: Ticket) {
        if ticket.when <= self.elapsed {
            // Cascaded tickets are due exactly now and append; a past deadline inserted late
            // goes before the later ones already due.
            let at = self.pending.partition_point(|t| t.when <= ticket.when);
            self.pending.insert(at, ticket);
        } else if ticket.when >= self.turn_end() {
            self.overflow.push(ticket);
        } else {
            let level = level_for(self.elapsed, ticket.when);
            let slot = slot_for(ticket.when, level);
            self.levels[level][slot].push(ticket);
            self.occupied[level] |= 1 << slot;
        }
    }

    /// The lowest occupied level's next slot and the time that slot starts.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        (0..NUM_LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let shift = LEVEL_BITS as u64 * level as u64;
            let now_slot = (self.elapsed >> shift) & SLOT_MASK;
            let distance = u64::from(occupied.rotate_right(now_slot as u32).trailing_zeros());
            let slot = (now_slot + distance) & SLOT_MASK;
            let slot_range = 1u64 << shift;
            let level_range = slot_range << LEVEL_BITS;
            let deadline = (self.elapsed & !(level_range - 1)) + slot * slot_range;
            // A ticket on level `l` shares every bit above the level with `elapsed` and differs
            // within it, so its slot lies strictly ahead in this level's current range.
            debug_assert!(deadline > self.elapsed, "occupied slot behind the wheel");
            Some((level, slot as usize, deadline))
        })
    }

    /// When the top level's current turn ends.
    fn turn_end(&self) -> u64 {
        (self.elapsed & !(TURN - 1)).saturating_add(TURN)
    }

    /// Takes a due slot: its tickets either become due (their deadline has come) or move down.
    fn process_slot(&mut self, level: usize, slot: usize, deadline: u64) {
        debug_assert!(deadline >= self.elapsed, "the wheel never moves backwards");
        self.elapsed = deadline;
        self.occupied[level] &= !(1 << slot);
        let mut tickets = std::mem::take(&mut self.levels[level][slot]);
        if level == 0 {
            // Level-0 slots are exact: every ticket here is due now.
            debug_assert!(tickets.iter().all(|t| t.when == deadline));
            self.pending.extend(tickets.drain(..));
        } else {
            for ticket in tickets.drain(..) {
                self.file(ticket);
            }
        }
        // Hand the emptied vector back so the slot reuses its capacity next turn.
        self.levels[level][slot] = tickets;
    }
}

/// The level a deadline `when` in the current turn belongs on while the wheel is at `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | SLOT_MASK).min(TURN - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    significant / LEVEL_BITS as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (LEVEL_BITS as usize * level)) & SLOT_MASK) as usize
}

/// The iterator returned by [`TimingWheel::advance`].
pub struct Advance<'a, T> {
    wheel: &'a mut TimingWheel<T>,
    now: u64,
}

impl<T> fmt::Debug for Advance<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Advance").field("now", &self.now).finish()
    }
}

impl<T> Iterator for Advance<'_, T> {
    type Item = (u64, T);

    fn next(&mut self) -> Option<Self::Item> {
        self.wheel.poll(self.now)
    }
}

#[cfg(test)]
mod tests;
