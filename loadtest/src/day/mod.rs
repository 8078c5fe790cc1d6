//! The day benchmark: one simulated day of a campaign on one node, end to end — `dialer serve`
//! as a process (embedded store, Redis leases, the `http` provider) dialing the provider
//! simulator over real HTTP, on both sides' fast clock.
//!
//! The list (default 500,000 contacts across US time zones, [`contacts`]) is imported through
//! the HTTP import API by `dialer import` (its progress bar), the campaign dials it under
//! recipient-local calling hours 08:00–21:00 and the seed's retry rules, and the harness samples
//! the simulator (calls placed, calls in progress) and the engine's `/metrics` every second. At
//! the day's end it reads the engine's numbers, stops it, and checks storage against the
//! simulator: every attempt it placed is one storage recorded, no contact lost. See
//! [`Report`] for what it prints and writes as JSON. [`ceiling`] is the same stack driven for
//! the highest end-to-end attempt rate.

pub mod ceiling;
mod contacts;
mod report;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use dialer_actors::clock::Stopwatch;
use dialer_engine::{CampaignId, Clock, SimProfile};
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::{ContactStore, Store};
use serde_json::{Value, json};

pub use contacts::write_csv;
pub use report::{Latency, Rates, Report};

use crate::harness::host::HostMeter;
use crate::harness::prom::{self, Histogram};
use crate::harness::{ADMIN, Stack, StackConfig, usage_of_pid};
use crate::sim::{Mode, SimConfig};

/// What a day run does.
#[derive(Debug, Clone)]
pub struct DayConfig {
    /// The `dialer` binary (its `import` command too).
    pub dialer: PathBuf,
    pub work_dir: PathBuf,
    pub contacts: u32,
    /// The campaign's lines; the engine's cap is the same.
    pub lines: u32,
    /// The clock speed of the engine and the simulator.
    pub speed: u32,
    pub profile: SimProfile,
    pub seed: u64,
    /// What the simulated clock reads when the run starts (the day starts then).
    pub start: DateTime<Utc>,
    /// The day's length (simulated).
    pub hours: u32,
    /// After the day, go on until no contact is pending (at most this many simulated hours):
    /// a correctness run rather than a one-day measurement.
    pub until_done_hours: u32,
    /// `dialer serve`'s log level.
    pub log: &'static str,
}

/// The outcome mix and durations of a realistic day: 55% picked, 25% no answer, 10%
/// disconnected, 10% failed; rings of 5–30 s, talks of 20–120 s (about 60 s held per attempt).
pub fn realistic() -> SimProfile {
    SimProfile {
        picked: 55,
        disconnected: 10,
        rnr: 25,
        failed: 10,
        ring_min_ms: 5_000,
        ring_max_ms: 30_000,
        talk_min_secs: 20,
        talk_max_secs: 120,
    }
}

impl DayConfig {
    /// The default day: 500,000 contacts, 1,000 lines, 100× (the day in 14.4 minutes), from
    /// Monday 2026-12-07 04:00 in New York (09:00 UTC), before any US calling hours open.
    pub fn default_day(dialer: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            dialer,
            work_dir,
            contacts: 500_000,
            lines: 1_000,
            speed: 100,
            profile: realistic(),
            seed: 42,
            start: DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
                .map_or(DateTime::<Utc>::MIN_UTC, |d| d.with_timezone(&Utc)),
            hours: 24,
            until_done_hours: 0,
            log: "warn",
        }
    }

    /// The seed's literal setting: the same list under a cap of 100.
    pub fn seed_day(dialer: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            lines: 100,
            ..Self::default_day(dialer, work_dir)
        }
    }

    /// The run CI makes: 20,000 contacts on 200 lines at 500×, on until every contact is
    /// final or exhausted.
    pub fn ci(dialer: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            contacts: 20_000,
            lines: 200,
            speed: 500,
            until_done_hours: 72,
            log: "warn",
            ..Self::default_day(dialer, work_dir)
        }
    }
}

/// One sample of the run, taken every real second.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Real seconds since the campaign started.
    at: f64,
    placed: u64,
    in_progress: u64,
    waiting: f64,
}

/// Runs the day and reports it. Needs a multi-threaded tokio runtime.
pub async fn run(c: DayConfig) -> anyhow::Result<Report> {
    let wall = Stopwatch::start();
    let stack = Stack::start(StackConfig {
        dialer: c.dialer.clone(),
        work_dir: c.work_dir.clone(),
        cap: c.lines,
        speed: c.speed,
        clock_start: Some(c.start),
        provider_timeout_ms: 5_000,
        sim: SimConfig {
            mode: Mode::Http,
            seed: c.seed,
            profile: c.profile.clone(),
            callback_retries: 5,
            ..SimConfig::default()
        },
        log: c.log,
    })
    .await?;
    let campaign = stack
        .api
        .create_campaign(json!({"name": "day", "settings": {
            "max_concurrent": c.lines, "provider": "http", "one_off_share_percent": 0,
            "default_region": "US", "ring_timeout_secs": 30, "max_call_duration_secs": 600,
        }}))
        .await?;
    let csv = c.work_dir.join("contacts.csv");
    let spread = write_csv(&csv, c.contacts, c.seed)?;
    import(&c.dialer, &csv, campaign, &stack).await?;
    let imported_at = stack.clock.now();
    let lag_before = Histogram::parse(
        &stack.api.metrics().await?,
        dialer_actors::metrics::DISPATCH_LAG,
    );
    stack.api.start_campaign(campaign).await?;
    let started = Stopwatch::start();
    let host = HostMeter::start();
    let day_end = c.start + chrono::Duration::hours(i64::from(c.hours));
    let give_up = day_end + chrono::Duration::hours(i64::from(c.until_done_hours));
    let mut samples = Vec::new();
    let mut at_day_end: Option<Value> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = stack.sim.sim.stats();
        let metrics = stack.api.metrics().await.unwrap_or_default();
        samples.push(Sample {
            at: started.elapsed().as_secs_f64(),
            placed: stats.calls_placed,
            in_progress: stats.simultaneous_calls,
            waiting: [r#"reason="lines""#, r#"reason="rate_limit""#]
                .into_iter()
                .map(|r| prom::sum_where(&metrics, dialer_actors::gauges::CALLS_WAITING, r))
                .sum(),
        });
        let now = stack.clock.now();
        if now < day_end {
            continue;
        }
        let numbers = campaign_stats(&stack, campaign).await?;
        if at_day_end.is_none() {
            at_day_end = Some(numbers.clone());
        }
        if c.until_done_hours == 0 || pending(&numbers) == 0 || now >= give_up {
            break;
        }
    }
    let day_numbers = at_day_end.context("the day's numbers")?;
    let final_numbers = if c.until_done_hours == 0 {
        day_numbers.clone()
    } else {
        campaign_stats(&stack, campaign).await?
    };
    let metrics = stack.api.metrics().await?;
    // The engine's own numbers at the end, for a closer look.
    std::fs::write(c.work_dir.join("metrics.txt"), &metrics)?;
    let lag = Histogram::parse(&metrics, dialer_actors::metrics::DISPATCH_LAG).since(&lag_before);
    let due = Histogram::parse(&metrics, dialer_actors::metrics::DUE_TO_DIAL);
    let usage = stack.dialer.usage();
    let host = host.share();
    let redis_usage = stack.redis.pid().and_then(usage_of_pid);
    let Stack {
        mut dialer,
        redis,
        sim,
        data,
        ..
    } = stack;
    // The witness is read once the engine has stopped: a dial it made meanwhile is in both.
    dialer.stop().await?;
    let witness = sim.sim.stats();
    drop(redis);
    drop(sim);
    let stored = read_store(&data, campaign).await?;
    let report = Report::build(report::Inputs {
        config: &c,
        wall_seconds: wall.elapsed().as_secs_f64(),
        day_seconds: samples.iter().map(|s| s.at).fold(0.0, f64::max),
        imported_at,
        spread,
        day: &day_numbers,
        end: &final_numbers,
        samples: &samples
            .iter()
            .map(|s| (s.at, s.placed, s.in_progress, s.waiting))
            .collect::<Vec<_>>(),
        lag: &lag,
        due: &due,
        witness: &witness,
        usage,
        host,
        redis_usage,
        disk_bytes: disk_bytes(&data),
        stored,
    });
    std::fs::write(
        c.work_dir.join("day.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

/// Imports the list with `dialer import` (its progress bar on this process's stderr).
async fn import(dialer: &Path, csv: &Path, campaign: i64, stack: &Stack) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(dialer);
    command
        .arg("import")
        .arg(csv)
        .args(["--campaign", &campaign.to_string()])
        .args(["--server", &stack.dialer.base_url(), "--token", ADMIN])
        .stdout(std::process::Stdio::null());
    let status = tokio::task::spawn_blocking(move || command.status())
        .await?
        .context("running dialer import")?;
    if !status.success() {
        bail!("dialer import failed: {status}");
    }
    Ok(())
}

async fn campaign_stats(stack: &Stack, campaign: i64) -> anyhow::Result<Value> {
    let (status, body) = stack
        .api
        .get(&format!("/campaigns/{campaign}/stats"))
        .await?;
    if status != 200 {
        bail!("campaign stats: {status} {body}");
    }
    Ok(body)
}

/// Contacts not final yet: never dialed, or waiting for a retry or in flight.
fn pending(stats: &Value) -> u64 {
    let contacts = stats["contacts"].as_u64().unwrap_or(0);
    let finals: i64 = stats["final_statuses"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_i64).sum());
    contacts.saturating_sub(u64::try_from(finals).unwrap_or(0))
}

/// What storage holds at the end, read with the engine stopped.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub contacts: u64,
    /// Contacts the campaign handed to dialing (up to their zone's cursor), and those of them
    /// with no call: lost.
    pub handed_out: u64,
    pub lost: u64,
    /// Contacts dialed at least once, and attempts recorded in all.
    pub dialed: u64,
    pub attempts: u64,
    /// Calls in flight when the engine stopped (a run that ends mid-day): their last
    /// attempt is recorded, and may not have reached the provider.
    pub in_flight: u64,
    /// Contacts still pending, by zone (of those [`contacts::write_csv`] spread them over).
    pub pending_by_zone: Vec<(&'static str, u64)>,
    /// The first calls still pending (waiting for a retry or never dialed), described.
    pub pending: Vec<String>,
}

async fn read_store(data: &Path, campaign: i64) -> anyhow::Result<Stored> {
    let now = dialer_actors::clock::SystemClock.now();
    let store = EmbeddedStore::open(&EmbeddedConfig::new(data), now)?;
    let id = CampaignId::new(campaign)?;
    // How far each zone of the list was made into calls.
    let cursors: HashMap<String, i64> = (store.list_zones(id).await?.into_iter())
        .map(|z| (z.key, z.after.map_or(0, |c| c.get())))
        .collect();
    let mut with_call = std::collections::HashSet::new();
    let mut pending = std::collections::HashSet::new();
    let mut stored = Stored::default();
    crate::harness::each_call(&store, id, |call| {
        if let Some(contact) = call.contact_id {
            with_call.insert(contact.get());
        }
        stored.attempts += u64::from(call.attempt_count);
        stored.in_flight += u64::from(call.status.is_live());
        if call.attempt_count > 0 {
            stored.dialed += 1;
        }
        if let Some(contact) = call.contact_id.filter(|_| call.status.is_pending()) {
            pending.insert(contact.get());
        }
        if call.status.is_pending() && stored.pending.len() < 5 {
            stored.pending.push(format!(
                "{} {} attempt {}/{}, due {:?}, last {:?} at {:?}, updated {}",
                call.call_id,
                call.status.as_str(),
                call.attempt_count,
                call.max_attempts,
                call.due_at,
                call.last_outcome,
                call.last_attempt_at,
                call.updated_at
            ));
        }
    })
    .await?;
    let mut after = None;
    loop {
        let page = store.contacts_page(id, after, 5_000).await?;
        let Some(last) = page.last().map(|c| c.id) else {
            break;
        };
        after = Some(last);
        for contact in page {
            stored.contacts += 1;
            if pending.contains(&contact.id.get()) {
                let zone = contacts::zone_of(contact.phone_number.as_str()).unwrap_or("other");
                match stored.pending_by_zone.iter_mut().find(|(z, _)| *z == zone) {
                    Some((_, n)) => *n += 1,
                    None => stored.pending_by_zone.push((zone, 1)),
                }
            }
            let zone = dialer_engine::dispatch::zone_key(&contact.phone_number);
            if contact.id.get() <= cursors.get(&zone).copied().unwrap_or(0) {
                stored.handed_out += 1;
                if !with_call.contains(&contact.id.get()) {
                    stored.lost += 1;
                }
            }
        }
    }
    store.close().await?;
    Ok(stored)
}

/// Bytes under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => disk_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}
