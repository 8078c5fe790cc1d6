//! An attempt's fate — outcome, ring and talk time — as a pure function of (seed, number,
//! attempt), and the reports it produces over time.

use std::time::Duration;

use dialer_engine::{CallId, Outcome, PhoneNumber, ProviderEvent, ProviderReport, SimProfile};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// What the simulator will do with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFate {
    pub outcome: Outcome,
    pub ring: Duration,
    pub talk_secs: u32,
}

/// A stable 64-bit mix of the seed, the number and the attempt (SplitMix64 finalizer).
pub(crate) fn mix(seed: u64, to: &PhoneNumber, attempt: u32) -> u64 {
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

/// The simulator's id for an attempt.
pub(super) fn external_id(call_id: CallId, attempt: u32) -> String {
    format!("SIM-{call_id}-{attempt}")
}

/// The reports of one attempt with the wall delay (from the dial) before each.
pub(super) fn timeline(
    f: SimFate,
    ring_timeout_secs: u32,
    external: &str,
) -> Vec<(Duration, ProviderReport)> {
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
