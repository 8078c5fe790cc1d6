//! `dialer serve`: runs the engine and the HTTP API until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::app::{self, App};
use crate::config;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A YAML config file (see config/dialer.example.yaml); `DIALER_*` variables override it.
    /// Without one, dialer runs on the embedded store in ./data, in-process leases and the
    /// simulated provider.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on (overrides `listen` and `DIALER_LISTEN`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("DIALER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let listen = args.listen.map(|a| a.to_string());
    let env = move |name: &str| match (name, &listen) {
        ("DIALER_LISTEN", Some(addr)) => Some(addr.clone()),
        _ => std::env::var(name).ok(),
    };
    let settings = config::load(args.config.as_deref(), &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dialer")
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let termination = app::termination()?;
        let clock = app::clock(&settings);
        let app = App::build(settings, clock).await?;
        let s = &app.state.settings;
        tracing::info!(
            %address,
            node = %s.node_id,
            storage = app.state.store.backend(),
            leases = app.state.leases.backend(),
            providers = ?app.state.engine.providers().names().collect::<Vec<_>>(),
            "dialer is serving"
        );
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "dialer {} listening on http://{address}",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(out, "  console:   http://{address}/console/")?;
        writeln!(out, "  API docs:  http://{address}/docs/")?;
        if let Some(path) = &app.generated_token {
            writeln!(
                out,
                "  admin token (no tokens configured): {}",
                path.display()
            )?;
            writeln!(
                out,
                "  try: curl -H \"X-Auth-Token: $(cat {})\" http://{address}/api/v1/campaigns",
                path.display()
            )?;
        }
        drop(out);
        app.serve(listener, termination).await
    })
}
