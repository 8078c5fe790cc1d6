//! What a day run found: printed for people, written as JSON (`day.json`) for tools.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DayConfig, Stored};
use crate::harness::Usage;
use crate::harness::host::HostShare;
use crate::harness::prom::Histogram;
use crate::sim::Stats;

/// Contacts by where they stand.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Reached {
    /// Final, and not exhausted (answered, or blocked, or cancelled).
    pub finished: u64,
    /// Out of attempts without an answer.
    pub exhausted: u64,
    /// Not final: never dialed yet, waiting for a retry, or in flight.
    pub pending: u64,
}

impl Reached {
    fn of(stats: &Value) -> Self {
        let contacts = stats["contacts"].as_u64().unwrap_or(0);
        let finals = stats["final_statuses"].as_object();
        let count = |v: &Value| v.as_u64().unwrap_or(0);
        let all: u64 = finals.map_or(0, |m| m.values().map(count).sum());
        let exhausted = finals.and_then(|m| m.get("EXHAUSTED")).map_or(0, count);
        Self {
            finished: all - exhausted,
            exhausted,
            pending: contacts.saturating_sub(all),
        }
    }
}

/// Attempts per second, in real (wall) and simulated time.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Rates {
    pub peak_wall: f64,
    pub mean_wall: f64,
    pub peak_simulated: f64,
    pub mean_simulated: f64,
}

/// A latency from a histogram, in milliseconds: quantiles interpolated in their bucket, the
/// largest as the bound of its bucket.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_at_most_ms: f64,
    /// The share at or below 10 ms.
    pub within_10ms: f64,
}

impl Latency {
    fn of(h: &Histogram) -> Self {
        let ms = |v: Option<f64>| v.map_or(0.0, |s| s * 1000.0);
        Self {
            count: h.count() as u64,
            p50_ms: ms(h.quantile(0.5)),
            p99_ms: ms(h.quantile(0.99)),
            max_at_most_ms: ms(h.max_bound()),
            within_10ms: h.share_at_or_below(0.01).unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub contacts: u32,
    pub lines: u32,
    pub speed: u32,
    pub day_hours: u32,
    pub start: DateTime<Utc>,
    /// The simulated instant the import was done.
    pub imported_at: DateTime<Utc>,
    pub zones: Vec<(String, u32)>,
    /// The whole run (start-up and import included), and the dialing part, in real seconds.
    pub wall_seconds: f64,
    pub dialing_wall_seconds: f64,
    pub at_day_end: Reached,
    /// Where contacts stood when the run stopped (the day's end, or later with
    /// `until_done_hours`).
    pub at_end: Reached,
    /// Contacts dialed at least once.
    pub contacts_dialed: u64,
    /// Calls the simulator placed; attempts storage recorded. Every placed attempt is
    /// recorded; a recorded one may not have been placed only if its call was in flight when
    /// the engine stopped (`attempts_in_flight`, 0 when the run ends with nothing in flight).
    pub attempts_placed: u64,
    pub attempts_recorded: u64,
    pub attempts_in_flight: u64,
    pub attempts_per_second: Rates,
    /// The engine's dispatch lag: from due with a line free to the dial request (real ms).
    pub dispatch_lag: Latency,
    /// From due to dial on the engine's clock, waiting for a line included (simulated ms).
    pub due_to_dial: Latency,
    /// A call's final report to the engine's answer (its final state stored), as the
    /// simulator timed it (real ms).
    pub final_report_ms: crate::sim::witness::Latency,
    pub peak_concurrency: u64,
    pub cap: u32,
    pub peak_calls_in_one_second: u64,
    pub duplicate_dials: u64,
    pub answered_dialed_again: u64,
    pub max_calls_to_one_number: u64,
    pub lost: u64,
    /// The first calls still pending at the end, described (a run that did not finish).
    pub pending_calls: Vec<String>,
    /// Contacts still pending at the end, by zone.
    #[serde(default)]
    pub pending_by_zone: Vec<(String, u64)>,
    /// Mean share of the lines in use while calls were due and waiting for one.
    pub line_utilization_while_waiting: f64,
    pub engine_cpu_seconds: f64,
    pub engine_peak_rss_bytes: u64,
    pub disk_bytes: u64,
    /// This process (the simulator and the harness).
    pub harness_peak_rss_bytes: u64,
    /// CPU seconds of the whole run, import included, as the engine's are.
    #[serde(default)]
    pub harness_cpu_seconds: f64,
    #[serde(default)]
    pub redis_cpu_seconds: f64,
    /// How busy the machine was while dialing, and how much of it the host took back: a run's
    /// numbers on a shared box are read against these.
    #[serde(default)]
    pub host: Option<HostShare>,
}

pub(super) struct Inputs<'a> {
    pub config: &'a DayConfig,
    pub wall_seconds: f64,
    pub day_seconds: f64,
    pub imported_at: DateTime<Utc>,
    pub spread: Vec<(&'static str, u32)>,
    pub day: &'a Value,
    pub end: &'a Value,
    /// (real seconds, calls placed, in progress, waiting)
    pub samples: &'a [(f64, u64, u64, f64)],
    pub lag: &'a Histogram,
    pub due: &'a Histogram,
    pub witness: &'a Stats,
    pub usage: Option<Usage>,
    pub host: Option<HostShare>,
    pub redis_usage: Option<Usage>,
    pub disk_bytes: u64,
    pub stored: Stored,
}

impl Report {
    pub(super) fn build(i: Inputs<'_>) -> Self {
        let c = i.config;
        let speed = f64::from(c.speed.max(1));
        let mut peak = 0.0f64;
        for w in i.samples.windows(2) {
            let dt = w[1].0 - w[0].0;
            if dt > 0.0 {
                peak = peak.max((w[1].1 - w[0].1) as f64 / dt);
            }
        }
        let placed = i.witness.calls_placed;
        let mean = if i.day_seconds > 0.0 {
            placed as f64 / i.day_seconds
        } else {
            0.0
        };
        let waiting: Vec<f64> = i
            .samples
            .iter()
            .filter(|s| s.3 > 0.0)
            .map(|s| s.2 as f64 / f64::from(c.lines.max(1)))
            .collect();
        let utilization = if waiting.is_empty() {
            0.0
        } else {
            waiting.iter().sum::<f64>() / waiting.len() as f64
        };
        let usage = i.usage.unwrap_or_default();
        Self {
            contacts: c.contacts,
            lines: c.lines,
            speed: c.speed,
            day_hours: c.hours,
            start: c.start,
            imported_at: i.imported_at,
            zones: i
                .spread
                .iter()
                .map(|(z, n)| ((*z).to_owned(), *n))
                .collect(),
            wall_seconds: i.wall_seconds,
            dialing_wall_seconds: i.day_seconds,
            at_day_end: Reached::of(i.day),
            at_end: Reached::of(i.end),
            contacts_dialed: i.stored.dialed,
            attempts_placed: placed,
            attempts_recorded: i.stored.attempts,
            attempts_in_flight: i.stored.in_flight,
            attempts_per_second: Rates {
                peak_wall: peak,
                mean_wall: mean,
                peak_simulated: peak / speed,
                mean_simulated: mean / speed,
            },
            dispatch_lag: Latency::of(i.lag),
            due_to_dial: Latency::of(i.due),
            final_report_ms: i.witness.final_report_ms,
            peak_concurrency: i.witness.peak_simultaneous_calls,
            cap: c.lines,
            peak_calls_in_one_second: i.witness.peak_calls_in_one_second,
            duplicate_dials: i.witness.duplicate_dials_of_one_attempt,
            answered_dialed_again: i.witness.answered_calls_dialed_again,
            max_calls_to_one_number: i.witness.max_calls_to_one_number,
            lost: i.stored.lost,
            pending_calls: i.stored.pending.clone(),
            pending_by_zone: (i.stored.pending_by_zone.iter())
                .map(|(z, n)| ((*z).to_owned(), *n))
                .collect(),
            line_utilization_while_waiting: utilization,
            engine_cpu_seconds: usage.cpu_seconds,
            engine_peak_rss_bytes: usage.peak_rss_bytes,
            disk_bytes: i.disk_bytes,
            harness_peak_rss_bytes: crate::harness::own_peak_rss_bytes().unwrap_or(0),
            harness_cpu_seconds: crate::harness::own_usage().map_or(0.0, |u| u.cpu_seconds),
            redis_cpu_seconds: i.redis_usage.map_or(0.0, |u| u.cpu_seconds),
            host: i.host,
        }
    }

    /// Nothing lost or dialed twice, every placement recorded, the cap held.
    pub fn sound(&self) -> bool {
        self.lost == 0
            && self.duplicate_dials == 0
            && self.answered_dialed_again == 0
            && self.attempts_agree()
            && self.peak_concurrency <= u64::from(self.cap)
    }

    /// Storage recorded every attempt the simulator placed, and no other — but for calls in
    /// flight when the engine stopped, whose last dial may not have left.
    pub fn attempts_agree(&self) -> bool {
        self.attempts_placed <= self.attempts_recorded
            && self.attempts_recorded - self.attempts_placed <= self.attempts_in_flight
    }

    /// Sound, and every contact final or exhausted when the run stopped.
    pub fn complete(&self) -> bool {
        self.sound() && self.at_end.pending == 0
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
        writeln!(
            f,
            "day: {} contacts, {} lines, {}x, {} h from {} ({:.0} s wall, {:.0} s dialing)",
            self.contacts,
            self.lines,
            self.speed,
            self.day_hours,
            self.start.to_rfc3339(),
            self.wall_seconds,
            self.dialing_wall_seconds
        )?;
        let zones: Vec<String> = self.zones.iter().map(|(z, n)| format!("{z} {n}")).collect();
        writeln!(f, "  zones: {}", zones.join(", "))?;
        let r = self.at_day_end;
        writeln!(
            f,
            "  at the day's end: {} final, {} exhausted, {} pending",
            r.finished, r.exhausted, r.pending
        )?;
        if self.at_end != self.at_day_end {
            let r = self.at_end;
            writeln!(
                f,
                "  at the end of the run: {} final, {} exhausted, {} pending",
                r.finished, r.exhausted, r.pending
            )?;
        }
        let a = self.attempts_per_second;
        writeln!(
            f,
            "  attempts: {} placed (simulator), {} recorded (storage; {} calls in flight at the stop) [{}]; {} contacts dialed",
            self.attempts_placed,
            self.attempts_recorded,
            self.attempts_in_flight,
            mark(self.attempts_agree()),
            self.contacts_dialed
        )?;
        writeln!(
            f,
            "  attempts/s: peak {:.0}, mean {:.0} (wall); peak {:.2}, mean {:.2} (simulated)",
            a.peak_wall, a.mean_wall, a.peak_simulated, a.mean_simulated
        )?;
        let l = self.dispatch_lag;
        writeln!(
            f,
            "  dispatch lag (due with a line free → dial request, wall): p50 {:.2} ms, p99 {:.2} ms, max ≤ {:.1} ms; {:.2}% within 10 ms ({} dials)",
            l.p50_ms,
            l.p99_ms,
            l.max_at_most_ms,
            l.within_10ms * 100.0,
            l.count
        )?;
        let d = self.due_to_dial;
        writeln!(
            f,
            "  due → dial, waiting for a line included (simulated): p50 {:.1} s, p99 {:.1} s, max ≤ {:.0} s",
            d.p50_ms / 1000.0,
            d.p99_ms / 1000.0,
            d.max_at_most_ms / 1000.0
        )?;
        let fr = self.final_report_ms;
        writeln!(
            f,
            "  final report → final state stored (wall): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} calls)",
            fr.p50, fr.p90, fr.p99, fr.max, fr.count
        )?;
        writeln!(
            f,
            "  peak concurrency {} of a cap of {} [{}]; peak {} calls placed in one second",
            self.peak_concurrency,
            self.cap,
            mark(self.peak_concurrency <= u64::from(self.cap)),
            self.peak_calls_in_one_second
        )?;
        writeln!(
            f,
            "  duplicate dials {} [{}], answered calls dialed again {} [{}], lost {} [{}], most calls to one number {}",
            self.duplicate_dials,
            mark(self.duplicate_dials == 0),
            self.answered_dialed_again,
            mark(self.answered_dialed_again == 0),
            self.lost,
            mark(self.lost == 0),
            self.max_calls_to_one_number
        )?;
        writeln!(
            f,
            "  line utilization while calls waited: {:.1}%",
            self.line_utilization_while_waiting * 100.0
        )?;
        if !self.pending_by_zone.is_empty() {
            let zones: Vec<String> = (self.pending_by_zone.iter())
                .map(|(z, n)| format!("{z} {n}"))
                .collect();
            writeln!(f, "  still pending by zone: {}", zones.join(", "))?;
        }
        for call in &self.pending_calls {
            writeln!(f, "  still pending: {call}")?;
        }
        writeln!(
            f,
            "  engine: {:.0} CPU s, peak RSS {:.0} MiB; {:.0} MiB on disk; harness {:.0} CPU s, peak RSS {:.0} MiB; Redis {:.0} CPU s",
            self.engine_cpu_seconds,
            mib(self.engine_peak_rss_bytes),
            mib(self.disk_bytes),
            self.harness_cpu_seconds,
            mib(self.harness_peak_rss_bytes),
            self.redis_cpu_seconds
        )?;
        write!(
            f,
            "  while dialing, {}",
            crate::harness::host::describe(self.host)
        )
    }
}
