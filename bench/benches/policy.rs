//! The calling-hours and retry decisions every attempt makes, on the default campaign settings
//! (08:00–21:00 recipient-local, the seed's retry rules) for a New York number: the last check
//! before a dial while the hours are open and while they are closed, and the retry after a
//! no-answer inside a retry window and just past one (its next opening the next morning).
//!
//! `cargo bench -p dialer-bench --bench policy`

use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use dialer_engine::{CampaignSettings, Listed, Outcome, PhoneNumber, dispatch};

fn utc(h: u32, m: u32) -> DateTime<Utc> {
    // Monday 2026-12-07; New York is UTC-5.
    Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0)
        .single()
        .unwrap_or_default()
}

fn policy(c: &mut Criterion) {
    let settings = CampaignSettings::default();
    let Ok(number) = PhoneNumber::parse("+12125550123", None) else {
        return;
    };
    let listed = Listed::default();
    let mut g = c.benchmark_group("policy");
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(3));
    for (name, at) in [("gate_open", utc(18, 0)), ("gate_closed", utc(3, 0))] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(dispatch::gate(&settings, &number, listed, black_box(at))))
        });
    }
    let zones = settings.zones_for(&number);
    // 10:00 and 16:45 in New York: the next try at 11:00, and one that the 09–17 window's hour
    // would put past 17:00 (the 17–20 rule's half hour takes it).
    for (name, at) in [("retry_inside", utc(15, 0)), ("retry_edge", utc(21, 45))] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(settings.retry.next_attempt(
                    Outcome::Rnr,
                    1,
                    black_box(at),
                    zones.as_slice(),
                ))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
