//! The throughput ceiling: the day's stack with 10,000 lines and calls that ring and end at
//! once, driven for the highest sustained end-to-end attempt rate — a dial request, the
//! provider's reports, and the attempt's final state stored (the simulator counts a final
//! report only when the engine has answered it, which it does after the commit) — with the
//! load generator, the simulator and the engine on the same machine.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use dialer_actors::clock::Stopwatch;
use dialer_engine::SimProfile;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{import, write_csv};
use crate::harness::host::HostMeter;
use crate::harness::prom::Histogram;
use crate::harness::{Stack, StackConfig};
use crate::sim::{Mode, SimConfig};

#[derive(Debug, Clone)]
pub struct CeilingConfig {
    pub dialer: PathBuf,
    pub work_dir: PathBuf,
    pub contacts: u32,
    pub lines: u32,
    /// The window the sustained rate is measured over.
    pub window: Duration,
    /// Stop after this long even if contacts remain.
    pub max_run: Duration,
    pub seed: u64,
}

impl CeilingConfig {
    pub fn new(dialer: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            dialer,
            work_dir,
            contacts: 400_000,
            lines: 10_000,
            window: Duration::from_secs(60),
            max_run: Duration::from_secs(300),
            seed: 42,
        }
    }
}

/// Calls that ring and end at once, in the realistic outcome mix (so that each attempt
/// brings one to three reports).
pub fn instant() -> SimProfile {
    SimProfile {
        ring_min_ms: 0,
        ring_max_ms: 20,
        talk_min_secs: 0,
        talk_max_secs: 0,
        ..super::realistic()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CeilingReport {
    pub contacts: u32,
    pub lines: u32,
    pub window_seconds: f64,
    /// The best window's rate of attempts made final (stored), and of dial requests.
    pub sustained_final_per_second: f64,
    pub sustained_dials_per_second: f64,
    pub peak_final_in_one_second: u64,
    pub attempts_placed: u64,
    pub attempts_final: u64,
    pub run_seconds: f64,
    pub peak_concurrency: u64,
    pub duplicate_dials: u64,
    pub dispatch_lag_p99_ms: f64,
    pub final_report_ms: crate::sim::witness::Latency,
    pub engine_cpu_seconds: f64,
    pub engine_peak_rss_bytes: u64,
    /// How busy the machine was over the run, and how much of it the host took back.
    #[serde(default)]
    pub host: Option<crate::harness::host::HostShare>,
}

impl fmt::Display for CeilingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ceiling: {} contacts on {} lines, calls that ring and end at once",
            self.contacts, self.lines
        )?;
        writeln!(
            f,
            "  sustained over the best {:.0} s: {:.0} attempts/s made final (dial → reports → stored), {:.0} dial requests/s; peak {} in one second",
            self.window_seconds,
            self.sustained_final_per_second,
            self.sustained_dials_per_second,
            self.peak_final_in_one_second
        )?;
        writeln!(
            f,
            "  {} placed, {} final in {:.0} s; peak concurrency {}; duplicate dials {}",
            self.attempts_placed,
            self.attempts_final,
            self.run_seconds,
            self.peak_concurrency,
            self.duplicate_dials
        )?;
        let fr = self.final_report_ms;
        writeln!(
            f,
            "  dispatch lag p99 {:.2} ms; final report → stored p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms",
            self.dispatch_lag_p99_ms, fr.p50, fr.p99, fr.max
        )?;
        writeln!(
            f,
            "  engine: {:.0} CPU s ({:.0}% of one core over the run), peak RSS {:.0} MiB",
            self.engine_cpu_seconds,
            100.0 * self.engine_cpu_seconds / self.run_seconds.max(1.0),
            self.engine_peak_rss_bytes as f64 / (1024.0 * 1024.0)
        )?;
        write!(
            f,
            "  over the run, {}",
            crate::harness::host::describe(self.host)
        )
    }
}

/// Runs the ceiling. Needs a multi-threaded tokio runtime.
pub async fn run(c: CeilingConfig) -> anyhow::Result<CeilingReport> {
    let stack = Stack::start(StackConfig {
        dialer: c.dialer.clone(),
        work_dir: c.work_dir.clone(),
        cap: c.lines,
        speed: 1,
        clock_start: None,
        provider_timeout_ms: 5_000,
        sim: SimConfig {
            mode: Mode::Http,
            seed: c.seed,
            profile: instant(),
            callback_retries: 5,
            retain: Duration::from_secs(60),
            ..SimConfig::default()
        },
        log: "warn",
    })
    .await?;
    let campaign = stack
        .api
        .create_campaign(json!({"name": "ceiling", "settings": {
            "zone_policy": "campaign", "time_zone": "UTC",
            "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
            "retry": {"max_attempts": 1, "rules": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00", "retry_interval_minutes": 60}]},
            "max_concurrent": c.lines, "provider": "http", "one_off_share_percent": 0,
            "ring_timeout_secs": 30, "max_call_duration_secs": 600,
        }}))
        .await?;
    let csv = c.work_dir.join("contacts.csv");
    write_csv(&csv, c.contacts, c.seed)?;
    import(&c.dialer, &csv, campaign, &stack).await?;
    let lag_before = Histogram::parse(
        &stack.api.metrics().await?,
        dialer_actors::metrics::DISPATCH_LAG,
    );
    stack.api.start_campaign(campaign).await?;
    let started = Stopwatch::start();
    let host = HostMeter::start();
    // (seconds, attempts final, dials)
    let mut samples: Vec<(f64, u64, u64)> = vec![(0.0, 0, 0)];
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = stack.sim.sim.stats();
        let at = started.elapsed().as_secs_f64();
        samples.push((at, s.final_report_ms.count, s.calls_placed));
        if s.final_report_ms.count >= u64::from(c.contacts) || started.elapsed() >= c.max_run {
            break;
        }
    }
    let window = c.window.as_secs_f64();
    let (mut best_final, mut best_dials, mut peak) = (0.0f64, 0.0f64, 0u64);
    for (i, a) in samples.iter().enumerate() {
        if let Some(b) = samples.get(i + 1) {
            peak = peak.max(b.1 - a.1);
        }
        // The first sample at least `window` later.
        if let Some(b) = samples[i..].iter().find(|b| b.0 - a.0 >= window) {
            let dt = b.0 - a.0;
            best_final = best_final.max((b.1 - a.1) as f64 / dt);
            best_dials = best_dials.max((b.2 - a.2) as f64 / dt);
        }
    }
    let lag = Histogram::parse(
        &stack.api.metrics().await?,
        dialer_actors::metrics::DISPATCH_LAG,
    )
    .since(&lag_before);
    let usage = stack.dialer.usage().unwrap_or_default();
    let host = host.share();
    let witness = stack.sim.sim.stats();
    let Stack { mut dialer, .. } = stack;
    dialer.stop().await?;
    let report = CeilingReport {
        contacts: c.contacts,
        lines: c.lines,
        window_seconds: window,
        sustained_final_per_second: best_final,
        sustained_dials_per_second: best_dials,
        peak_final_in_one_second: peak,
        attempts_placed: witness.calls_placed,
        attempts_final: witness.final_report_ms.count,
        run_seconds: samples.last().map_or(0.0, |s| s.0),
        peak_concurrency: witness.peak_simultaneous_calls,
        duplicate_dials: witness.duplicate_dials_of_one_attempt,
        dispatch_lag_p99_ms: lag.quantile(0.99).unwrap_or(0.0) * 1000.0,
        final_report_ms: witness.final_report_ms,
        engine_cpu_seconds: usage.cpu_seconds,
        engine_peak_rss_bytes: usage.peak_rss_bytes,
        host,
    };
    std::fs::write(
        c.work_dir.join("ceiling.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}
