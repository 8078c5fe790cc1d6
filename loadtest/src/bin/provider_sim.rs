//! `dialer-provider-sim`: a telephony provider on a port, for load tests, chaos runs and demos,
//! and an independent witness of what dialer did (`/stats`, and `--journal FILE`). See
//! `dialer_loadtest::sim` for what it speaks and how.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use dialer_engine::SimProfile;
use dialer_loadtest::sim::{self, Faults, Mode, SimConfig};

/// mimalloc, as the engine: the simulator allocates and frees small objects for every request
/// and callback from many threads, and glibc malloc took a tenth of the harness's CPU at the
/// throughput ceiling (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "dialer-provider-sim",
    version,
    about = "A simulated telephony provider for load tests, chaos runs and demos"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18090")]
    listen: SocketAddr,
    #[arg(long, value_enum, default_value = "http")]
    mode: Mode,
    /// The X-Auth-Token for seed callbacks (a provider or operator token).
    #[arg(long, env = "PROVIDER_SIM_CALLBACK_TOKEN", hide_env_values = true)]
    callback_token: Option<String>,
    /// Where seed callbacks go when a dial request names no callback_url.
    #[arg(long, default_value = "http://127.0.0.1:8080/api/v1/callback/")]
    callback_url: String,
    /// The Twilio auth token status callbacks are signed with.
    #[arg(long, env = "PROVIDER_SIM_TWILIO_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// The seed of every call's fate.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ring and talk times are divided by this (a demo at 60× rings for a fraction of a second).
    #[arg(long, default_value_t = 1)]
    speed: u32,
    /// The real instant the simulated clock counts from (dialer's `clock_epoch`), RFC 3339.
    #[arg(long)]
    clock_epoch: Option<chrono::DateTime<chrono::Utc>>,
    /// What the simulated clock reads at --clock-epoch (dialer's `clock_start`), RFC 3339.
    #[arg(long)]
    clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// The outcome mix and timings as JSON (SimProfile), e.g. '{"picked": 80, "rnr": 20}'.
    #[arg(long)]
    profile: Option<String>,
    /// Write every create-call request to this file, one JSON line each.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Percent of create requests answered 503 before anything is placed.
    #[arg(long, default_value_t = 0)]
    fail_percent: u8,
    /// Percent of create requests whose call is placed, then answered 500.
    #[arg(long, default_value_t = 0)]
    fail_after_placing_percent: u8,
    /// Percent of create requests whose call is placed, then answered after --timeout-ms.
    #[arg(long, default_value_t = 0)]
    timeout_percent: u8,
    #[arg(long, default_value_t = 7_000)]
    timeout_ms: u64,
    /// How often an undelivered callback is tried again.
    #[arg(long, default_value_t = 5)]
    callback_retries: u32,
    /// How long (simulated seconds) after its end a call can still be asked about or repeated;
    /// older calls are forgotten, so memory follows this window, not the run.
    #[arg(long, default_value_t = 7_200)]
    retain_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let profile: SimProfile = match &args.profile {
        Some(p) => serde_json::from_str(p).map_err(|e| anyhow::anyhow!("--profile: {e}"))?,
        None => SimProfile::default(),
    };
    if args.mode == Mode::Twilio && args.twilio_auth_token.is_none() {
        anyhow::bail!("--mode twilio needs --twilio-auth-token (or PROVIDER_SIM_TWILIO_TOKEN)");
    }
    let config = SimConfig {
        mode: args.mode,
        seed: args.seed,
        speed: args.speed.max(1),
        profile,
        callback_token: args.callback_token,
        callback_url: args.callback_url,
        twilio_auth_token: args.twilio_auth_token,
        journal: args.journal,
        faults: Faults {
            fail_percent: args.fail_percent,
            fail_after_placing_percent: args.fail_after_placing_percent,
            timeout_percent: args.timeout_percent,
            timeout_ms: args.timeout_ms,
        },
        callback_retries: args.callback_retries,
        clock_epoch: args.clock_epoch,
        clock_start: args.clock_start,
        retain: std::time::Duration::from_secs(args.retain_secs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let running = sim::start(config, args.listen).await?;
        tracing::info!(address = %running.address, mode = ?args.mode, "provider simulator listening");
        // The first line on stdout is the address (with --listen 127.0.0.1:0, the port chosen).
        #[allow(clippy::print_stdout)]
        {
            println!("listening on {}", running.base_url());
        }
        let _ = tokio::signal::ctrl_c().await;
        anyhow::Ok(())
    })
}
