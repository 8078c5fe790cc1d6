//! `dialer-chaos`: runs `dialer serve` under faults — `kill -9` at random moments, Redis
//! stopped and back empty, a provider answering 5xx and timing out after placing calls, a stop
//! across due retries — and checks the simulator's witness against storage. Exit status 0 when
//! nothing was lost or dialed twice, 1 otherwise. See `dialer_loadtest::chaos`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dialer_loadtest::chaos::{self, ChaosConfig};
use dialer_loadtest::sim::Faults;

/// mimalloc, as the engine: the simulator allocates and frees small objects for every request
/// and callback from many threads, and glibc malloc took a tenth of the harness's CPU at the
/// throughput ceiling (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "dialer-chaos",
    version,
    about = "Kill dialer while it dials, and check the witness"
)]
struct Args {
    /// The `dialer` binary (default: next to this one).
    #[arg(long)]
    dialer: Option<PathBuf>,
    /// Where data, logs and the provider's journal go.
    #[arg(long, default_value = "target/chaos")]
    work_dir: PathBuf,
    #[arg(long, default_value_t = 3_000)]
    contacts: u32,
    #[arg(long, default_value_t = 300)]
    one_off_calls: u32,
    #[arg(long, default_value_t = 40)]
    scheduled_calls: u32,
    /// The campaign's lines.
    #[arg(long, default_value_t = 100)]
    lines: u32,
    /// The engine's cap (max_concurrent_calls).
    #[arg(long, default_value_t = 100)]
    cap: u32,
    /// Clock speed of the engine and the provider.
    #[arg(long, default_value_t = 60)]
    speed: u32,
    /// How long the faults go on, in seconds.
    #[arg(long, default_value_t = 60)]
    chaos_secs: u64,
    #[arg(long, default_value_t = 3)]
    kills: u32,
    /// Seconds Redis is down (0: no outage).
    #[arg(long, default_value_t = 5)]
    redis_outage_secs: u64,
    /// Seconds of provider faults (0: none): 30% 5xx, 10% answers after the request timeout.
    #[arg(long, default_value_t = 10)]
    provider_faults_secs: u64,
    /// Skip the stop across due retries.
    #[arg(long)]
    no_stop_across_retries: bool,
    #[arg(long, default_value_t = 5)]
    retry_minutes: u32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seconds everything may take to become final after the faults.
    #[arg(long, default_value_t = 300)]
    drain_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let dialer = dialer_loadtest::harness::dialer_binary(args.dialer)?;
    let mut config = ChaosConfig::ci(dialer, args.work_dir);
    config.contacts = args.contacts;
    config.one_off_calls = args.one_off_calls;
    config.scheduled_calls = args.scheduled_calls;
    config.lines = args.lines;
    config.cap = args.cap;
    config.speed = args.speed;
    config.chaos = Duration::from_secs(args.chaos_secs);
    config.kills = args.kills;
    config.redis_outage =
        (args.redis_outage_secs > 0).then(|| Duration::from_secs(args.redis_outage_secs));
    config.provider_faults = (args.provider_faults_secs > 0).then(|| {
        (
            Faults {
                fail_percent: 30,
                fail_after_placing_percent: 0,
                timeout_percent: 10,
                timeout_ms: config.provider_timeout_ms + 500,
            },
            Duration::from_secs(args.provider_faults_secs),
        )
    });
    config.stop_across_retries = !args.no_stop_across_retries;
    config.retry_minutes = args.retry_minutes;
    config.seed = args.seed;
    config.drain = Duration::from_secs(args.drain_secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(chaos::run(config))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
