//! The chaos harness: `dialer serve` as a child process (embedded store, Redis leases, the
//! `http` provider pointed at the simulator over real HTTP), fed a campaign and a stream of
//! `initiate-call`s and scheduled calls, and hit while it works: `kill -9` at random moments
//! (restarted on the same data), Redis stopped and brought back empty, the provider answering
//! 5xx and timing out after placing calls, and a stop across due retries.
//!
//! The simulator is the witness: it records every create-call request. At the end the harness
//! compares it with storage ([`check`]) and reports: calls accepted and contacts, lost (neither
//! final nor pending), dials beyond the attempts recorded, answered calls dialed again, peak
//! concurrency against the cap, whether every 201'd call id is stored, calls left overdue.

mod check;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use dialer_actors::clock::SystemClock;
use dialer_engine::{Clock, SimProfile};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

pub use check::Report;
use dialer_storage::testsuite::redis_server::RedisServer;

use crate::harness::{Api, Dialer, Stack, StackConfig, number};
use crate::sim::{self, Faults, Mode, SimConfig};

/// What a run does.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The `dialer` binary.
    pub dialer: PathBuf,
    /// Where data, logs and the journal go.
    pub work_dir: PathBuf,
    pub contacts: u32,
    /// `initiate-call`s sent while the chaos runs, and scheduled calls among them.
    pub one_off_calls: u32,
    pub scheduled_calls: u32,
    /// The campaign's lines and the engine's cap.
    pub lines: u32,
    pub cap: u32,
    /// The engine's and the simulator's clock speed.
    pub speed: u32,
    /// How long the chaos lasts (real time); kills and faults happen in it.
    pub chaos: Duration,
    pub kills: u32,
    /// Stop Redis this long (real time), bringing it back empty.
    pub redis_outage: Option<Duration>,
    /// Provider faults switched on for a while (real time).
    pub provider_faults: Option<(Faults, Duration)>,
    /// Stop the engine (SIGTERM) for longer than the retry interval.
    pub stop_across_retries: bool,
    pub retry_minutes: u32,
    pub max_attempts: u32,
    /// The http provider's request timeout (ms).
    pub provider_timeout_ms: u64,
    pub profile: SimProfile,
    pub seed: u64,
    /// How long (real time) everything may take to become final after the chaos.
    pub drain: Duration,
}

impl ChaosConfig {
    /// The run CI makes: about 3,000 contacts, 3 kills, one Redis outage that comes back
    /// empty, one phase of provider faults with timeouts past the request timeout, and one
    /// stop across due retries.
    pub fn ci(dialer: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            dialer,
            work_dir,
            contacts: 3_000,
            one_off_calls: 300,
            scheduled_calls: 40,
            lines: 100,
            cap: 100,
            speed: 60,
            chaos: Duration::from_secs(60),
            kills: 3,
            redis_outage: Some(Duration::from_secs(5)),
            provider_faults: Some((
                Faults {
                    fail_percent: 30,
                    fail_after_placing_percent: 0,
                    timeout_percent: 10,
                    timeout_ms: 1_500,
                },
                Duration::from_secs(10),
            )),
            stop_across_retries: true,
            retry_minutes: 5,
            max_attempts: 3,
            provider_timeout_ms: 1_000,
            profile: crate::day::realistic(),
            seed: 7,
            drain: Duration::from_secs(180),
        }
    }
}

/// What the harness saw of the engine from outside.
#[derive(Debug, Default)]
struct Seen {
    /// Call ids answered 201.
    accepted: BTreeSet<String>,
    /// Requests with no answer (the engine was being killed): accepted or not.
    unanswered: u64,
    /// Requests refused (4xx/5xx), with the first few reasons.
    refused: u64,
    reasons: Vec<String>,
    /// Real intervals the engine was down.
    down: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The real instant the engine's fast clock counts from.
    epoch: Option<DateTime<Utc>>,
    /// Real instants Redis answered again after an outage.
    redis_back: Vec<DateTime<Utc>>,
}

/// Runs the chaos and checks what happened. Needs a multi-threaded tokio runtime.
pub async fn run(c: ChaosConfig) -> anyhow::Result<Report> {
    let journal = c.work_dir.join("journal.jsonl");
    let mut rng = SmallRng::seed_from_u64(c.seed);
    let Stack {
        mut redis,
        sim,
        mut dialer,
        http,
        api,
        epoch,
        data,
        ..
    } = Stack::start(StackConfig {
        dialer: c.dialer.clone(),
        work_dir: c.work_dir.clone(),
        cap: c.cap,
        speed: c.speed,
        clock_start: None,
        provider_timeout_ms: c.provider_timeout_ms,
        sim: SimConfig {
            mode: Mode::Http,
            seed: c.seed,
            profile: c.profile.clone(),
            journal: Some(journal.clone()),
            callback_retries: 3,
            ..SimConfig::default()
        },
        log: "info",
    })
    .await?;

    // The campaign: around the clock in UTC, the seed's retry rules at `retry_minutes`.
    let campaign = api
        .create_campaign(json!({"name": "chaos", "settings": {
                "zone_policy": "campaign", "time_zone": "UTC",
                "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
                "retry": {"max_attempts": c.max_attempts, "rules": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00", "retry_interval_minutes": c.retry_minutes}]},
                "max_concurrent": c.lines, "provider": "http",
                "ring_timeout_secs": 30, "max_call_duration_secs": 300,
        }}))
        .await?;
    let mut csv = String::from("phone_number\n");
    for i in 0..c.contacts {
        csv.push_str(&number(i, 0));
        csv.push('\n');
    }
    let report = api.import_csv(campaign, csv).await?;
    if report["accepted"].as_u64() != Some(u64::from(c.contacts)) {
        bail!("importing contacts: {report}");
    }
    api.start_campaign(campaign).await?;

    // The stream of one-off calls, beside the chaos.
    let seen = Arc::new(Mutex::new(Seen {
        epoch: Some(epoch),
        ..Seen::default()
    }));
    let stream = tokio::spawn(one_offs(
        api.clone(),
        campaign,
        c.clone(),
        epoch,
        Arc::clone(&seen),
    ));
    chaos(&c, &mut rng, &mut dialer, &mut redis, &sim, &http, &seen).await?;
    stream.await.context("the one-off stream")??;
    drain(&c, &api, campaign).await?;
    dialer.stop().await?;
    redis.stop();
    let stats = sim.sim.stats();
    drop(sim);
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    check::check(&c, &data, &journal, campaign, &seen, &stats).await
}

/// Sends `initiate-call`s (and some scheduled calls) through the chaos, at an even pace.
async fn one_offs(
    api: Api,
    campaign: i64,
    c: ChaosConfig,
    epoch: DateTime<Utc>,
    seen: Arc<Mutex<Seen>>,
) -> anyhow::Result<()> {
    let every = c.chaos / c.one_off_calls.max(1);
    // Every k-th call is scheduled, the others are dialed at once.
    let k = (c.one_off_calls / c.scheduled_calls.max(1)).max(1);
    let clock = dialer_actors::clock::ScaledClock::anchored(epoch, c.speed);
    for i in 0..c.one_off_calls {
        let number = number(i, 100_000);
        let scheduled = c.scheduled_calls > 0 && i % k == 0 && i / k < c.scheduled_calls;
        let answer = if scheduled {
            // Due one to ten minutes from now, on the engine's clock.
            let at = clock.now() + chrono::Duration::minutes(i64::from(1 + i % 10));
            api.post(
                "/calls",
                json!({"campaign_id": campaign, "phone_number": number, "scheduled_at": at.to_rfc3339()}),
            )
            .await
        } else {
            api.post(
                "/initiate-call/",
                json!({"campaign_id": campaign, "phone_number": number}),
            )
            .await
        };
        record(&seen, answer);
        tokio::time::sleep(every).await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn chaos(
    c: &ChaosConfig,
    rng: &mut SmallRng,
    dialer: &mut Dialer,
    redis: &mut RedisServer,
    sim: &sim::Running,
    http: &reqwest::Client,
    seen: &Arc<Mutex<Seen>>,
) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let end = start + c.chaos;
    // The events, at random moments spread over the chaos.
    let mut events: Vec<(Duration, Event)> = (0..c.kills)
        .map(|_| (rand_within(rng, c.chaos), Event::Kill))
        .collect();
    if let Some(d) = c.redis_outage {
        events.push((rand_within(rng, c.chaos), Event::Redis(d)));
    }
    if let Some((faults, d)) = c.provider_faults {
        events.push((rand_within(rng, c.chaos), Event::Faults(faults, d)));
    }
    if c.stop_across_retries {
        events.push((rand_within(rng, c.chaos), Event::StopAcrossRetries));
    }
    events.sort_by_key(|(at, _)| *at);
    // Each event begins a while after the last ended, so that what follows one (dialing
    // resuming after Redis returns) is seen on its own.
    let mut quiet_until = start;
    for (at, event) in events {
        tokio::time::sleep_until((start + at).max(quiet_until)).await;
        match event {
            Event::Kill => {
                let down = Duration::from_millis(rng.random_range(200..2_000));
                tracing::info!(?down, "kill -9");
                let from = SystemClock.now();
                dialer.kill9();
                tokio::time::sleep(down).await;
                dialer.start(http).await?;
                lock(seen).down.push((from, SystemClock.now()));
            }
            Event::Redis(d) => {
                tracing::info!(?d, "redis down, back empty");
                redis.stop();
                tokio::time::sleep(d).await;
                tokio::task::block_in_place(|| redis.restart())?;
                lock(seen).redis_back.push(SystemClock.now());
            }
            Event::Faults(faults, d) => {
                tracing::info!(?faults, ?d, "provider faults");
                sim.sim.set_faults(faults);
                tokio::time::sleep(d).await;
                sim.sim.set_faults(Faults::default());
            }
            Event::StopAcrossRetries => {
                // Down past the retry interval: retries fall due while nothing runs.
                let down = Duration::from_secs(u64::from(c.retry_minutes) * 60) / c.speed.max(1)
                    + Duration::from_secs(2);
                tracing::info!(?down, "SIGTERM across due retries");
                let from = SystemClock.now();
                dialer.stop().await?;
                tokio::time::sleep(down).await;
                dialer.start(http).await?;
                lock(seen).down.push((from, SystemClock.now()));
            }
        }
        quiet_until = tokio::time::Instant::now() + Duration::from_secs(2);
    }
    tokio::time::sleep_until(end.max(quiet_until)).await;
    Ok(())
}

/// What one request's answer says: accepted, refused, or no answer.
fn record(seen: &Mutex<Seen>, answer: anyhow::Result<(u16, Value)>) {
    let mut s = lock(seen);
    match answer {
        Ok((201, body)) => {
            if let Some(id) = body["call_id"].as_str() {
                s.accepted.insert(id.to_owned());
            }
        }
        Ok((status, body)) => {
            s.refused += 1;
            if s.reasons.len() < 5 {
                s.reasons.push(format!("{status} {body}"));
            }
        }
        Err(_) => s.unanswered += 1,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Kill,
    Redis(Duration),
    Faults(Faults, Duration),
    StopAcrossRetries,
}

fn rand_within(rng: &mut SmallRng, d: Duration) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(2);
    Duration::from_millis(rng.random_range(ms / 10..ms))
}

/// Waits until nothing is pending or in flight and the campaign completed.
async fn drain(c: &ChaosConfig, api: &Api, campaign: i64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + c.drain;
    let open = [
        "SCHEDULED",
        "INITIATED",
        "DIALING",
        "RINGING",
        "IN_PROGRESS",
        "RETRYING",
    ];
    loop {
        let mut busy = false;
        for status in open {
            let (code, page) = api
                .get(&format!(
                    "/calls?campaign_id={campaign}&status={status}&limit=1"
                ))
                .await?;
            if code != 200 || page["results"].as_array().is_none_or(|r| !r.is_empty()) {
                busy = true;
                break;
            }
        }
        let (_, campaign_now) = api.get(&format!("/campaigns/{campaign}")).await?;
        if !busy && campaign_now["state"] == "completed" {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            tracing::warn!("the drain ran out of time; the check will say what is left");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
