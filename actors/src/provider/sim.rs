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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    CallId, Clock, Outcome, PhoneNumber, ProviderEvent, ProviderReport, SimProfile,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{DialRequest, Dialed, Provider, ProviderError, ReportSink};

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
    pub dials: Vec<SimDial>,
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

#[derive(Default)]
struct State {
    record: SimRecord,
    dialed: HashSet<(CallId, u32)>,
    live: HashSet<CallId>,
    sink: Option<Arc<dyn ReportSink>>,
    undelivered: Vec<(CallId, ProviderReport)>,
    panic_after_dial: HashSet<PhoneNumber>,
}

/// The simulated provider.
pub struct SimProvider {
    name: String,
    seed: u64,
    profile: SimProfile,
    max_cps: Option<u32>,
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

/// What the simulator will do with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFate {
    pub outcome: Outcome,
    pub ring: Duration,
    pub talk_secs: u32,
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
            clock,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Paces dials to `cps` per second, as a provider account would.
    pub fn with_max_cps(mut self, cps: u32) -> Self {
        self.max_cps = Some(cps);
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
        lock(&self.state).panic_after_dial.insert(number);
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

/// A stable 64-bit mix of the seed, the number and the attempt (SplitMix64 finalizer).
fn mix(seed: u64, to: &PhoneNumber, attempt: u32) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for b in to.digits().bytes().chain(attempt.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

pub(crate) fn fate(seed: u64, to: &PhoneNumber, attempt: u32, p: &SimProfile) -> SimFate {
    let mut rng = SmallRng::seed_from_u64(mix(seed, to, attempt));
    let total =
        u64::from(p.picked) + u64::from(p.disconnected) + u64::from(p.rnr) + u64::from(p.failed);
    let roll = if total == 0 {
        0
    } else {
        rng.random_range(0..total)
    };
    let outcome = [
        (Outcome::Picked, p.picked),
        (Outcome::Disconnected, p.disconnected),
        (Outcome::Rnr, p.rnr),
        (Outcome::Failed, p.failed),
    ]
    .into_iter()
    .scan(0u64, |acc, (o, w)| {
        *acc += u64::from(w);
        Some((o, *acc))
    })
    .find(|(_, upto)| roll < *upto)
    .map_or(Outcome::Picked, |(o, _)| o);
    let ring =
        Duration::from_millis(rng.random_range(p.ring_min_ms..=p.ring_max_ms.max(p.ring_min_ms)));
    let talk_secs = rng.random_range(p.talk_min_secs..=p.talk_max_secs.max(p.talk_min_secs));
    SimFate {
        outcome,
        ring,
        talk_secs,
    }
}

fn report(event: Option<ProviderEvent>, raw: &str, external: &str) -> ProviderReport {
    ProviderReport {
        provider: "sim".into(),
        raw_status: raw.into(),
        event,
        external_id: Some(external.to_owned()),
        payload: None,
    }
}

/// The reports of one attempt with the wall delay before each.
fn timeline(f: SimFate, ring_timeout_secs: u32, external: &str) -> Vec<(Duration, ProviderReport)> {
    let ended = |outcome, secs, code: Option<&str>| {
        Some(ProviderEvent::Ended {
            outcome,
            duration_secs: secs,
            error_code: code.map(str::to_owned),
        })
    };
    let ringing = (
        Duration::from_millis(500).min(f.ring),
        report(Some(ProviderEvent::Ringing), "ringing", external),
    );
    match f.outcome {
        Outcome::Picked => vec![
            ringing,
            (
                f.ring,
                report(Some(ProviderEvent::Answered), "in-progress", external),
            ),
            (
                f.ring + Duration::from_secs(u64::from(f.talk_secs)),
                report(
                    ended(Outcome::Picked, f.talk_secs, None),
                    "completed",
                    external,
                ),
            ),
        ],
        Outcome::Disconnected => {
            let secs = (f.talk_secs / 4).max(1);
            vec![
                ringing,
                (
                    f.ring,
                    report(Some(ProviderEvent::Answered), "in-progress", external),
                ),
                (
                    f.ring + Duration::from_secs(u64::from(secs)),
                    report(
                        ended(Outcome::Disconnected, secs, None),
                        "disconnected",
                        external,
                    ),
                ),
            ]
        }
        Outcome::Rnr => {
            let timeout =
                Duration::from_secs(u64::from(ring_timeout_secs)).max(Duration::from_millis(600));
            vec![
                ringing,
                (
                    timeout,
                    report(ended(Outcome::Rnr, 0, None), "no-answer", external),
                ),
            ]
        }
        Outcome::Failed => vec![(
            Duration::from_millis(200),
            report(
                ended(Outcome::Failed, 0, Some("sim_failed")),
                "failed",
                external,
            ),
        )],
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

#[async_trait]
impl Provider for SimProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn dial(&self, r: DialRequest) -> Result<Dialed, ProviderError> {
        let profile = r.sim.clone().unwrap_or_else(|| self.profile.clone());
        let f = fate(self.seed, &r.to, r.attempt, &profile);
        let external = format!("SIM-{}-{}", r.call_id, r.attempt);
        let panic_now = {
            let mut s = lock(&self.state);
            let duplicate = !s.dialed.insert((r.call_id, r.attempt)) || !s.live.insert(r.call_id);
            if duplicate {
                s.record.duplicate_dials += 1;
            }
            s.record.dials.push(SimDial {
                call_id: r.call_id,
                attempt: r.attempt,
                to: r.to.clone(),
                at: self.clock.now(),
                outcome: f.outcome,
            });
            s.record.active += 1;
            s.record.max_active = s.record.max_active.max(s.record.active);
            s.panic_after_dial.remove(&r.to)
        };
        let (state, clock, call_id) = (Arc::clone(&self.state), Arc::clone(&self.clock), r.call_id);
        let events = timeline(f, r.ring_timeout_secs, &external);
        tokio::spawn(async move {
            let mut elapsed = Duration::ZERO;
            for (at, report) in events {
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
        if panic_now {
            panic!("sim fault injection: crash after dialing {}", r.to.masked());
        }
        Ok(Dialed {
            external_id: external,
        })
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
            dials: vec![dial(0), dial(500), dial(999), dial(1000)],
            ..SimRecord::default()
        };
        assert_eq!(record.max_dials_in(chrono::Duration::seconds(1)), 3);
    }
}
