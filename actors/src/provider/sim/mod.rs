//! The simulated telephone network: demo mode, tests and benchmarks. It never reaches a network.
//!
//! Each attempt's fate is a pure function of the seed, the number and the attempt number, so a
//! run is reproducible and a test can compute the expected outcome of every contact in advance
//! ([`SimProvider::outcome_for`]). Time follows the engine's clock: ring and talk durations are
//! wall durations, slept as `clock.real_duration(..)` of tokio time.
//!
//! The simulator keeps its own record — every dial with its time, the peak of simultaneous
//! calls, dials repeated for the same attempt — as an independent witness of what the engine
//! did. Reports it cannot deliver (the engine is restarting) are kept and redelivered when an
//! engine attaches again, as a real provider retries its callbacks.
//!
//! Asked about an attempt ([`Provider::status`]), it answers from the attempt's fate and the
//! time its dial was recorded — so a new simulator, after a crash of the process that held the
//! old one, still knows how every call in flight went, as a real network would, and carries on
//! reporting the calls not finished yet. Faults can be injected per number
//! ([`SimProvider::fault_on`]): a refused connection, a timeout after the call was placed, a
//! failure before it was, and callbacks that never come.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    CallId, Clock, Outcome, PhoneNumber, ProviderEvent, ProviderReport, SimProfile,
};

use super::{Attempt, AttemptStatus, DialOutcome, Provider, ProviderError, ReportSink};

mod fate;

pub use fate::SimFate;
use fate::{external_id, timeline};
pub(crate) use fate::{fate, mix};

/// One dial as the simulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDial {
    pub call_id: CallId,
    pub attempt: u32,
    pub to: PhoneNumber,
    /// Wall time (engine clock) of the dial.
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// The simulator's own record of what it was asked to do.
#[derive(Debug, Clone, Default)]
pub struct SimRecord {
    /// Every dial, oldest first — or the latest ones, for a simulator that keeps a window
    /// ([`SimProvider::keeping`]).
    pub dials: VecDeque<SimDial>,
    /// Calls dialed whose outcome has not been delivered yet.
    pub active: usize,
    /// The most simultaneous calls seen.
    pub max_active: usize,
    /// Dials for an attempt already dialed, or for a call already active.
    pub duplicate_dials: usize,
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Reports delivered to the engine (including redeliveries).
    pub reports_delivered: u64,
}

impl SimRecord {
    /// The most dials in any half-open window of `window` length.
    pub fn max_dials_in(&self, window: chrono::Duration) -> usize {
        let mut times: Vec<DateTime<Utc>> = self.dials.iter().map(|d| d.at).collect();
        times.sort_unstable();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    pub fn dials_to(&self, to: &PhoneNumber) -> Vec<&SimDial> {
        self.dials.iter().filter(|d| &d.to == to).collect()
    }
}

/// A fault the simulator injects into the next dial to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// The connection is refused: nothing reaches the network.
    Refused,
    /// The request times out after the call was placed (the dial is uncertain; it rings).
    TimeoutAfterPlacing,
    /// The request fails before anything was placed, in a way that looks uncertain (a 5xx).
    FailBeforePlacing,
    /// The call is placed but none of its callbacks ever arrives.
    NoCallbacks,
    /// The call is placed, then the caller crashes (a panic in the dialing slot).
    PanicAfterPlacing,
}

#[derive(Default)]
struct State {
    record: SimRecord,
    dialed: HashSet<(CallId, u32)>,
    /// Attempts asked for and not placed.
    refused: HashSet<(CallId, u32)>,
    live: HashSet<CallId>,
    sink: Option<Arc<dyn ReportSink>>,
    undelivered: Vec<(CallId, ProviderReport)>,
    faults: HashMap<PhoneNumber, SimFault>,
}

/// The simulated provider.
pub struct SimProvider {
    name: String,
    seed: u64,
    profile: SimProfile,
    max_cps: Option<u32>,
    /// Answers no status query (like a provider that cannot look a call up).
    blind: bool,
    /// How many of the latest dials the record keeps (all of them when `None`).
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimProvider")
            .field("name", &self.name)
            .field("seed", &self.seed)
            .finish()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimProvider {
    pub fn new(seed: u64, profile: SimProfile, clock: Arc<dyn Clock>) -> Self {
        Self {
            name: "sim".into(),
            seed,
            profile,
            max_cps: None,
            blind: false,
            keep: None,
            clock,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Paces dials to `cps` per second, as a provider account would.
    pub fn with_max_cps(mut self, cps: u32) -> Self {
        self.max_cps = Some(cps);
        self
    }

    /// Keeps only the latest `dials` dials in its record, and tells repeated dials apart only
    /// among them: memory stays bounded however long it runs (`dialer serve`). Counts and
    /// peaks still cover every dial.
    pub fn keeping(mut self, dials: usize) -> Self {
        self.keep = Some(dials.max(1));
        self
    }

    /// A simulator that cannot say how a call went: only its reports tell.
    pub fn blind(mut self) -> Self {
        self.blind = true;
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where reports go; undelivered ones are sent now.
    pub fn attach(&self, sink: Arc<dyn ReportSink>) {
        let pending = {
            let mut s = lock(&self.state);
            s.sink = Some(Arc::clone(&sink));
            std::mem::take(&mut s.undelivered)
        };
        for (call_id, report) in pending {
            spawn_delivery(Arc::clone(&self.state), call_id, report);
        }
    }

    /// Stops delivering (the engine went away); reports are kept until `attach`.
    pub fn detach(&self) {
        lock(&self.state).sink = None;
    }

    /// Fault injection for tests: dialing this number records the dial, starts the call, and
    /// then panics inside the caller — a crash after the request reached the network.
    pub fn panic_after_dialing(&self, number: PhoneNumber) {
        self.fault_on(number, SimFault::PanicAfterPlacing);
    }

    /// Injects `fault` into the next dial to `number` (once).
    pub fn fault_on(&self, number: PhoneNumber, fault: SimFault) {
        lock(&self.state).faults.insert(number, fault);
    }

    /// A copy of the simulator's record.
    pub fn record(&self) -> SimRecord {
        lock(&self.state).record.clone()
    }

    /// The fate of attempt `attempt` to `to` under `profile`: a pure function of the seed.
    pub fn outcome_for(&self, to: &PhoneNumber, attempt: u32, profile: &SimProfile) -> SimFate {
        fate(self.seed, to, attempt, profile)
    }
}

fn spawn_delivery(state: Arc<Mutex<State>>, call_id: CallId, report: ProviderReport) {
    tokio::spawn(async move { deliver(&state, call_id, report).await });
}

async fn deliver(state: &Arc<Mutex<State>>, call_id: CallId, report: ProviderReport) {
    let sink = lock(state).sink.clone();
    let delivered = match sink {
        Some(sink) => sink.deliver(call_id, report.clone()).await.is_ok(),
        None => false,
    };
    let mut s = lock(state);
    if delivered {
        s.record.reports_delivered += 1;
    } else {
        s.undelivered.push((call_id, report));
    }
}

impl SimProvider {
    fn fate_of(&self, a: &Attempt) -> SimFate {
        let profile = a.sim.clone().unwrap_or_else(|| self.profile.clone());
        fate(self.seed, &a.to, a.attempt, &profile)
    }

    /// Runs an attempt's reports from `from` (a wall offset since its dial) to its end.
    fn play(&self, call_id: CallId, events: Vec<(Duration, ProviderReport)>, from: Duration) {
        let (state, clock) = (Arc::clone(&self.state), Arc::clone(&self.clock));
        tokio::spawn(async move {
            let mut elapsed = from;
            // What already happened by `from` is not played again.
            let ahead = events
                .into_iter()
                .filter(|(at, _)| from.is_zero() || *at > from);
            for (at, report) in ahead {
                tokio::time::sleep(clock.real_duration(at.saturating_sub(elapsed))).await;
                elapsed = elapsed.max(at);
                if let Some(ProviderEvent::Ended { outcome, .. }) = &report.event {
                    let mut s = lock(&state);
                    s.record.active = s.record.active.saturating_sub(1);
                    s.live.remove(&call_id);
                    *s.record.outcomes.entry(*outcome).or_default() += 1;
                }
                deliver(&state, call_id, report).await;
            }
        });
    }
}

#[async_trait]
impl Provider for SimProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn dial(&self, a: &Attempt) -> DialOutcome {
        let f = self.fate_of(a);
        let external = external_id(a.call_id, a.attempt);
        let fault = {
            let mut s = lock(&self.state);
            let fault = s.faults.remove(&a.to);
            if matches!(fault, Some(SimFault::Refused | SimFault::FailBeforePlacing)) {
                s.refused.insert((a.call_id, a.attempt));
            } else {
                let duplicate =
                    !s.dialed.insert((a.call_id, a.attempt)) || !s.live.insert(a.call_id);
                if duplicate {
                    s.record.duplicate_dials += 1;
                }
                s.record.dials.push_back(SimDial {
                    call_id: a.call_id,
                    attempt: a.attempt,
                    to: a.to.clone(),
                    at: self.clock.now(),
                    outcome: f.outcome,
                });
                if self.keep.is_some_and(|keep| s.record.dials.len() > keep)
                    && let Some(old) = s.record.dials.pop_front()
                {
                    s.dialed.remove(&(old.call_id, old.attempt));
                }
                s.record.active += 1;
                s.record.max_active = s.record.max_active.max(s.record.active);
            }
            fault
        };
        match fault {
            Some(SimFault::Refused) => {
                return DialOutcome::NotPlaced {
                    reason: "sim: connection refused".into(),
                    retry_after: None,
                };
            }
            Some(SimFault::FailBeforePlacing) => {
                return DialOutcome::Uncertain {
                    reason: "sim: HTTP 500".into(),
                };
            }
            _ => {}
        }
        let events = timeline(f, a.ring_timeout_secs, &external);
        if fault == Some(SimFault::NoCallbacks) {
            // The call runs its course on the network; nobody hears of it.
            let (state, clock, call_id) =
                (Arc::clone(&self.state), Arc::clone(&self.clock), a.call_id);
            let end = events.last().map(|(at, _)| *at).unwrap_or_default();
            tokio::spawn(async move {
                tokio::time::sleep(clock.real_duration(end)).await;
                let mut s = lock(&state);
                s.record.active = s.record.active.saturating_sub(1);
                s.live.remove(&call_id);
            });
        } else {
            self.play(a.call_id, events, Duration::ZERO);
        }
        match fault {
            Some(SimFault::PanicAfterPlacing) => {
                panic!("sim fault injection: crash after dialing {}", a.to.masked())
            }
            Some(SimFault::TimeoutAfterPlacing) => DialOutcome::Uncertain {
                reason: "sim: timed out after the call was placed".into(),
            },
            _ => DialOutcome::Placed {
                external_id: external,
            },
        }
    }

    /// How the attempt went, from its fate and its dial time: a simulator that never saw the
    /// attempt (a new process) answers as the network would, and plays the rest of the call.
    async fn status(&self, a: &Attempt) -> Result<Option<AttemptStatus>, ProviderError> {
        if self.blind {
            return Ok(None);
        }
        let key = (a.call_id, a.attempt);
        let (refused, tracked) = {
            let s = lock(&self.state);
            (s.refused.contains(&key), s.dialed.contains(&key))
        };
        if refused {
            return Ok(Some(AttemptStatus::Unknown));
        }
        let external = external_id(a.call_id, a.attempt);
        let events = timeline(self.fate_of(a), a.ring_timeout_secs, &external);
        let since = (self.clock.now() - a.dialed_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let last = events.iter().rev().find(|(at, _)| *at <= since);
        if let Some((_, r)) = last
            && matches!(r.event, Some(ProviderEvent::Ended { .. }))
        {
            return Ok(Some(AttemptStatus::Ended(r.clone())));
        }
        if !tracked {
            {
                let mut s = lock(&self.state);
                s.dialed.insert(key);
                s.live.insert(a.call_id);
                s.record.active += 1;
                s.record.max_active = s.record.max_active.max(s.record.active);
            }
            self.play(a.call_id, events.clone(), since);
        }
        Ok(Some(AttemptStatus::Live {
            external_id: Some(external),
            report: last.map(|(_, r)| r.clone()),
        }))
    }

    fn max_cps(&self) -> Option<u32> {
        self.max_cps
    }
}

/// Counts of how many distinct calls got each final outcome, from a record.
pub fn final_outcomes(record: &SimRecord) -> HashMap<CallId, Outcome> {
    let mut last: HashMap<CallId, (u32, Outcome)> = HashMap::new();
    for d in &record.dials {
        let e = last.entry(d.call_id).or_insert((d.attempt, d.outcome));
        if d.attempt >= e.0 {
            *e = (d.attempt, d.outcome);
        }
    }
    last.into_iter().map(|(id, (_, o))| (id, o)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_are_a_pure_function_of_seed_number_and_attempt() {
        let p = SimProfile::default();
        let n: PhoneNumber = "+12125550100".parse().unwrap();
        assert_eq!(fate(7, &n, 1, &p), fate(7, &n, 1, &p));
        let outcomes: HashSet<Outcome> = (0..200u32)
            .map(|i| {
                fate(
                    7,
                    &PhoneNumber::from_stored(&format!("+1212555{:04}", i)).unwrap(),
                    1,
                    &p,
                )
                .outcome
            })
            .collect();
        assert_eq!(outcomes.len(), 4, "a mixed profile yields every outcome");
    }

    #[test]
    fn the_mix_follows_the_weights() {
        let p = SimProfile {
            picked: 1,
            disconnected: 0,
            rnr: 0,
            failed: 0,
            ..SimProfile::default()
        };
        for i in 0..100u32 {
            let n = PhoneNumber::from_stored(&format!("+1212555{:04}", i)).unwrap();
            assert_eq!(fate(1, &n, 1, &p).outcome, Outcome::Picked);
        }
    }

    #[test]
    fn the_peak_rate_is_measured_over_half_open_windows() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let n: PhoneNumber = "+12125550100".parse().unwrap();
        let dial = |ms: i64| SimDial {
            call_id: CallId::generate(t0),
            attempt: 1,
            to: n.clone(),
            at: t0 + chrono::Duration::milliseconds(ms),
            outcome: Outcome::Picked,
        };
        let record = SimRecord {
            dials: VecDeque::from([dial(0), dial(500), dial(999), dial(1000)]),
            ..SimRecord::default()
        };
        assert_eq!(record.max_dials_in(chrono::Duration::seconds(1)), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_simulator_keeping_a_window_forgets_old_dials_and_still_counts_every_one() {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ScaledClock::new(
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
            1,
        ));
        let sim = SimProvider::new(1, SimProfile::default(), Arc::clone(&clock)).keeping(10);
        let attempt = |i: u32| Attempt {
            call_id: CallId::generate(clock.now()),
            campaign_id: dialer_engine::CampaignId::new(1).unwrap(),
            attempt: 1,
            to: PhoneNumber::from_stored(&format!("+1212555{:04}", i)).unwrap(),
            from: None,
            ring_timeout_secs: 30,
            max_call_duration_secs: 3600,
            sim: None,
            dialed_at: clock.now(),
            external_id: None,
            voice_template: false,
        };
        let first = attempt(0);
        sim.dial(&first).await;
        for i in 1..100 {
            sim.dial(&attempt(i)).await;
        }
        let record = sim.record();
        assert_eq!(record.dials.len(), 10, "only the latest are kept");
        assert_eq!(record.max_active, 100, "peaks cover every dial");
        assert_eq!(lock(&sim.state).dialed.len(), 10);
        // A repeat among the kept dials is still seen.
        let last = record.dials.back().unwrap();
        let mut again = attempt(99);
        again.call_id = last.call_id;
        sim.dial(&again).await;
        assert_eq!(sim.record().duplicate_dials, 1);
    }
}
