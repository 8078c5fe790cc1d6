//! What the simulated provider saw, kept apart from anything the engine says: every create-call
//! request (optionally written to a journal file, one JSON line each), and aggregates — calls
//! placed, requests repeated with a known idempotency key, the peak of simultaneous calls and
//! of calls placed in any one second, the most calls to one number, attempts of one call placed
//! twice, calls dialed again after they were answered, outcomes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use dialer_engine::Outcome;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// One create-call request, as the journal records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// When it arrived: real Unix milliseconds, and the simulated clock's (see `--clock-epoch`).
    pub real_ms: i64,
    pub sim_ms: i64,
    /// The engine's call id and attempt (Twilio-shaped requests: the call id from the status
    /// callback URL, the attempt counted per call).
    pub call_id: String,
    pub attempt: u32,
    pub to: String,
    pub key: Option<String>,
    /// What happened: `placed`, `repeat` (a known key: the call it created before), `refused`
    /// (a 5xx before anything was placed), `invalid`.
    pub result: String,
    /// A fault injected into the answer: `5xx_after_placing`, `timeout_after_placing`.
    pub fault: Option<String>,
    pub outcome: Option<Outcome>,
}

/// The aggregates `/stats` reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Create-call requests received.
    pub requests: u64,
    /// Calls placed (a person's phone rang).
    pub calls_placed: u64,
    /// Requests repeating a key already placed: answered with that call, nothing placed.
    pub repeated_keys: u64,
    /// Requests refused with a 5xx before anything was placed.
    pub refused: u64,
    pub peak_simultaneous_calls: u64,
    pub peak_calls_in_one_second: u64,
    pub max_calls_to_one_number: u64,
    /// Attempts (call id, attempt) placed more than once.
    pub duplicate_dials_of_one_attempt: u64,
    /// Placements of a call after one of its attempts had been answered.
    pub answered_calls_dialed_again: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub callbacks_delivered: u64,
    pub callbacks_failed: u64,
}

/// The witness: aggregates, and the journal when asked for one.
pub struct Witness {
    stats: Stats,
    /// When each call in progress ends (real time).
    ends: BinaryHeap<Reverse<Instant>>,
    second: (i64, u64),
    per_number: HashMap<String, u64>,
    /// Per call: attempts placed (and how many times), and when it was answered.
    calls: HashMap<String, CallSeen>,
    journal: Option<std::io::BufWriter<std::fs::File>>,
}

#[derive(Default)]
struct CallSeen {
    attempts: HashMap<u32, u32>,
    answered_at: Option<Instant>,
}

impl Witness {
    pub fn new(journal: Option<&Path>) -> std::io::Result<Self> {
        let journal = match journal {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        Ok(Self {
            stats: Stats::default(),
            ends: BinaryHeap::new(),
            second: (0, 0),
            per_number: HashMap::new(),
            calls: HashMap::new(),
            journal,
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Records a create request; for a placement, `lasts` is how long the call takes and
    /// `answered_after` when (if ever) it is answered.
    pub fn request(
        &mut self,
        entry: Entry,
        now: Instant,
        lasts: Option<Duration>,
        answered_after: Option<Duration>,
    ) {
        self.stats.requests += 1;
        match entry.result.as_str() {
            "placed" => {
                self.stats.calls_placed += 1;
                self.place(&entry, now, lasts.unwrap_or_default(), answered_after);
            }
            "repeat" => self.stats.repeated_keys += 1,
            "refused" => self.stats.refused += 1,
            _ => {}
        }
        if let Some(journal) = &mut self.journal {
            if let Ok(line) = serde_json::to_string(&entry) {
                let _ = writeln!(journal, "{line}");
            }
            let _ = journal.flush();
        }
    }

    fn place(
        &mut self,
        e: &Entry,
        now: Instant,
        lasts: Duration,
        answered_after: Option<Duration>,
    ) {
        while self.ends.peek().is_some_and(|Reverse(end)| *end <= now) {
            self.ends.pop();
        }
        self.ends.push(Reverse(now + lasts));
        self.stats.peak_simultaneous_calls = self
            .stats
            .peak_simultaneous_calls
            .max(self.ends.len() as u64);
        let second = e.real_ms.div_euclid(1000);
        self.second = if self.second.0 == second {
            (second, self.second.1 + 1)
        } else {
            (second, 1)
        };
        self.stats.peak_calls_in_one_second =
            self.stats.peak_calls_in_one_second.max(self.second.1);
        let n = self.per_number.entry(e.to.clone()).or_default();
        *n += 1;
        self.stats.max_calls_to_one_number = self.stats.max_calls_to_one_number.max(*n);
        let call = self.calls.entry(e.call_id.clone()).or_default();
        if call.answered_at.is_some_and(|at| at <= now) {
            self.stats.answered_calls_dialed_again += 1;
        }
        let placed = call.attempts.entry(e.attempt).or_default();
        *placed += 1;
        if *placed > 1 {
            self.stats.duplicate_dials_of_one_attempt += 1;
        }
        if let Some(after) = answered_after {
            let at = now + after;
            call.answered_at = Some(call.answered_at.map_or(at, |old| old.min(at)));
        }
        if let Some(o) = e.outcome {
            *self
                .stats
                .outcomes
                .entry(o.as_str().to_owned())
                .or_default() += 1;
        }
    }

    pub fn callback(&mut self, delivered: bool) {
        if delivered {
            self.stats.callbacks_delivered += 1;
        } else {
            self.stats.callbacks_failed += 1;
        }
    }
}

/// Reads a journal file back.
pub fn read_journal(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
