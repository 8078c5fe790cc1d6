//! What the simulated provider saw, kept apart from anything the engine says: every create-call
//! request (optionally written to a journal file, one JSON line each), and aggregates — calls
//! placed, requests repeated with a known idempotency key, the peak of simultaneous calls and
//! of calls placed in any one second, the most calls to one number, attempts of one call placed
//! twice, calls dialed again after they were answered, outcomes, and how long the engine took
//! to take each call's final report.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use dialer_engine::Outcome;
use hdrhistogram::Histogram;
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
    /// Calls in progress now, and the most there ever were at once.
    pub simultaneous_calls: u64,
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
    /// A call's final report, from the first time it was sent to the engine's answer (which
    /// comes once the final state is stored), in milliseconds.
    pub final_report_ms: Latency,
    /// Placed calls the provider side still keeps for status queries and repeated keys (those
    /// of the retention window).
    pub calls_kept: u64,
    /// What it saw of messages.
    #[serde(default)]
    pub messages: super::messages::MessageStats,
}

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Summarizes a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// A histogram of microseconds from 1 µs to 10 minutes, three significant digits.
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}"))
}

/// A stable 64-bit hash (SipHash with fixed keys): the witness keys calls and numbers by it,
/// so that what it keeps per call is a few bytes, not the call's id. Two of a million ids
/// collide with odds of about 1 in 30 million.
pub fn stable_hash(s: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// The witness: aggregates, and the journal when asked for one. What it keeps grows by
/// about 40 bytes per call (the attempts it saw, whether it was answered) and per number (how
/// often it rang) — never a list of dials; the journal, when asked for, goes to a file.
pub struct Witness {
    stats: Stats,
    /// When each call in progress ends (real time).
    ends: BinaryHeap<Reverse<Instant>>,
    second: (i64, u64),
    per_number: HashMap<u64, u32>,
    calls: HashMap<u64, CallSeen>,
    /// Attempts numbered 64 and over: how often each was placed.
    later_attempts: HashMap<(u64, u32), u32>,
    final_reports: Histogram<u64>,
    journal: Option<std::io::BufWriter<std::fs::File>>,
}

/// What the witness keeps of one call.
#[derive(Default)]
struct CallSeen {
    /// Bit `n`: attempt `n` was placed.
    attempts: u64,
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
            later_attempts: HashMap::new(),
            final_reports: micros_histogram(),
            journal,
        })
    }

    pub fn stats(&mut self, now: Instant) -> Stats {
        self.expire(now);
        let mut stats = self.stats.clone();
        stats.simultaneous_calls = self.ends.len() as u64;
        stats.final_report_ms = Latency::of(&self.final_reports);
        stats
    }

    fn expire(&mut self, now: Instant) {
        while self.ends.peek().is_some_and(|Reverse(end)| *end <= now) {
            self.ends.pop();
        }
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
        self.expire(now);
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
        let number =
            e.to.trim_start_matches('+')
                .parse::<u64>()
                .unwrap_or_else(|_| stable_hash(&e.to));
        let n = self.per_number.entry(number).or_default();
        *n += 1;
        self.stats.max_calls_to_one_number = self.stats.max_calls_to_one_number.max(u64::from(*n));
        let id = stable_hash(&e.call_id);
        let call = self.calls.entry(id).or_default();
        if call.answered_at.is_some_and(|at| at <= now) {
            self.stats.answered_calls_dialed_again += 1;
        }
        let again = if e.attempt < 64 {
            let bit = 1u64 << e.attempt;
            let seen = call.attempts & bit != 0;
            call.attempts |= bit;
            seen
        } else {
            let n = self.later_attempts.entry((id, e.attempt)).or_default();
            *n += 1;
            *n > 1
        };
        if again {
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

    /// A final report was taken, `took` after it was first sent.
    pub fn final_report(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        self.final_reports.saturating_record(us);
    }

    pub fn set_calls_kept(&mut self, n: usize) {
        self.stats.calls_kept = n as u64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(call: &str, attempt: u32, to: &str, real_ms: i64) -> Entry {
        Entry {
            real_ms,
            sim_ms: real_ms,
            call_id: call.into(),
            attempt,
            to: to.into(),
            key: None,
            result: "placed".into(),
            fault: None,
            outcome: Some(Outcome::Picked),
        }
    }

    #[test]
    fn it_counts_duplicates_redials_after_an_answer_and_peaks() {
        let mut w = Witness::new(None).unwrap();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Two calls at once, one answered after 1 s; a third 10 s later.
        w.request(entry("a", 1, "+14155550100", 0), t0, Some(s(5)), Some(s(1)));
        w.request(entry("b", 1, "+14155550101", 10), t0, Some(s(5)), None);
        assert_eq!(w.stats(t0).simultaneous_calls, 2);
        // `b` again for the same attempt; `a` again after it was answered; attempt 70 twice.
        w.request(
            entry("b", 1, "+14155550101", 2_000),
            t0 + s(2),
            Some(s(5)),
            None,
        );
        w.request(
            entry("a", 2, "+14155550100", 3_000),
            t0 + s(3),
            Some(s(5)),
            None,
        );
        w.request(
            entry("c", 70, "+14155550102", 10_000),
            t0 + s(10),
            Some(s(1)),
            None,
        );
        w.request(
            entry("c", 70, "+14155550102", 10_500),
            t0 + s(10),
            Some(s(1)),
            None,
        );
        let stats = w.stats(t0 + s(10));
        assert_eq!(stats.calls_placed, 6);
        assert_eq!(stats.duplicate_dials_of_one_attempt, 2);
        assert_eq!(stats.answered_calls_dialed_again, 1);
        assert_eq!(stats.max_calls_to_one_number, 2);
        assert_eq!(stats.peak_simultaneous_calls, 4);
        assert_eq!(stats.peak_calls_in_one_second, 2);
        assert_eq!(
            stats.simultaneous_calls, 2,
            "a's and b's second dials ended"
        );
        assert_eq!(w.stats(t0 + s(60)).simultaneous_calls, 0);
    }

    #[test]
    fn final_reports_are_summarized_in_milliseconds() {
        let mut w = Witness::new(None).unwrap();
        for ms in 1..=100 {
            w.final_report(Duration::from_millis(ms));
        }
        let l = w.stats(Instant::now()).final_report_ms;
        assert_eq!(l.count, 100);
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.1, "{l:?}");
    }
}
