//! `dialer-bench`: the end-to-end benchmarks.
//!
//! - `dialer-bench day` — one simulated day of a campaign on one node (default: 500,000
//!   contacts across US time zones, 1,000 lines, 100×, the day in 14.4 minutes); `--preset
//!   seed` runs the seed's cap of 100. Prints the report and writes `day.json` in `--work-dir`.
//! - `dialer-bench ceiling` — the highest sustained end-to-end attempt rate with 10,000 lines
//!   and calls that end at once; writes `ceiling.json`.
//!
//! Both start `redis-server`, the provider simulator and `dialer serve` (the `dialer` binary
//! next to this one, or `--dialer`). See `dialer_loadtest::day`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use dialer_loadtest::day::ceiling::{self, CeilingConfig};
use dialer_loadtest::day::{self, DayConfig};

/// mimalloc, as the engine: the simulator allocates and frees small objects for every request
/// and callback from many threads, and glibc malloc took a tenth of the harness's CPU at the
/// throughput ceiling (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "dialer-bench",
    version,
    about = "dialer's end-to-end benchmarks"
)]
struct Args {
    /// The `dialer` binary (default: next to this one).
    #[arg(long, global = true)]
    dialer: Option<PathBuf>,
    /// Where data, logs and the JSON report go.
    #[arg(long, global = true, default_value = "target/bench-day")]
    work_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    /// 500,000 contacts, 1,000 lines, 100×.
    Default,
    /// The seed's setting: the same list under a cap of 100.
    Seed,
    /// The CI run: 20,000 contacts, 200 lines, 500×, on until every contact is final.
    Ci,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One simulated day.
    Day {
        #[arg(long, value_enum, default_value = "default")]
        preset: Preset,
        #[arg(long)]
        contacts: Option<u32>,
        /// The campaign's lines (and the engine's cap).
        #[arg(long)]
        lines: Option<u32>,
        /// The clock speed (100: the day in 14.4 minutes).
        #[arg(long)]
        speed: Option<u32>,
        /// The day's length in simulated hours.
        #[arg(long)]
        hours: Option<u32>,
        /// After the day, go on until no contact is pending, for at most this many hours.
        #[arg(long)]
        until_done_hours: Option<u32>,
        /// The outcome mix and durations as JSON (SimProfile), e.g.
        /// '{"picked": 55, "rnr": 25, "disconnected": 10, "failed": 10}'.
        #[arg(long)]
        profile: Option<String>,
        /// The simulated instant the run starts (RFC 3339; default Monday 2026-12-07 09:00 UTC).
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        /// `dialer serve`'s log level.
        #[arg(long, default_value = "warn")]
        log: String,
    },
    /// The highest sustained end-to-end attempt rate.
    Ceiling {
        #[arg(long, default_value_t = 400_000)]
        contacts: u32,
        #[arg(long, default_value_t = 10_000)]
        lines: u32,
        /// The window the rate is sustained over, in seconds.
        #[arg(long, default_value_t = 60)]
        window_secs: u64,
        /// Stop after this many seconds of dialing.
        #[arg(long, default_value_t = 300)]
        max_secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let dialer = dialer_loadtest::harness::dialer_binary(args.dialer)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        Command::Day {
            preset,
            contacts,
            lines,
            speed,
            hours,
            until_done_hours,
            profile,
            start,
            log,
        } => {
            let mut c = match preset {
                Preset::Default => DayConfig::default_day(dialer, args.work_dir),
                Preset::Seed => DayConfig::seed_day(dialer, args.work_dir),
                Preset::Ci => DayConfig::ci(dialer, args.work_dir),
            };
            c.contacts = contacts.unwrap_or(c.contacts);
            c.lines = lines.unwrap_or(c.lines);
            c.speed = speed.unwrap_or(c.speed);
            c.hours = hours.unwrap_or(c.hours);
            c.until_done_hours = until_done_hours.unwrap_or(c.until_done_hours);
            c.start = start.unwrap_or(c.start);
            if let Some(p) = profile {
                c.profile =
                    serde_json::from_str(&p).map_err(|e| anyhow::anyhow!("--profile: {e}"))?;
            }
            c.log = match log.as_str() {
                "error" => "error",
                "info" => "info",
                "debug" => "debug",
                _ => "warn",
            };
            let report = runtime.block_on(day::run(c))?;
            #[allow(clippy::print_stdout)]
            {
                println!("{report}");
            }
            if !report.sound() {
                std::process::exit(1);
            }
        }
        Command::Ceiling {
            contacts,
            lines,
            window_secs,
            max_secs,
        } => {
            let mut c = CeilingConfig::new(dialer, args.work_dir);
            c.contacts = contacts;
            c.lines = lines;
            c.window = Duration::from_secs(window_secs);
            c.max_run = Duration::from_secs(max_secs);
            let report = runtime.block_on(ceiling::run(c))?;
            #[allow(clippy::print_stdout)]
            {
                println!("{report}");
            }
        }
    }
    Ok(())
}
