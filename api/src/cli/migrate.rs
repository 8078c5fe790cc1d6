//! `dialer migrate`: applies pending schema migrations, so that an upgrade is a step an operator
//! takes (and can see), not a side effect of the first request.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use dialer_actors::clock::{Clock, SystemClock};
use dialer_storage::Store;
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::scylla::{ScyllaConfig, ScyllaStore};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Migrate a ScyllaDB keyspace at these contact points (`host:port[,host:port]`) instead of
    /// the embedded store.
    #[arg(long, env = "DIALER_SCYLLA_URI", value_name = "NODES")]
    scylla_uri: Option<String>,
    /// The ScyllaDB keyspace.
    #[arg(long, env = "DIALER_SCYLLA_KEYSPACE", default_value = "dialer")]
    keyspace: String,
    /// The keyspace's replication, as a CQL map, used when the keyspace is created.
    #[arg(
        long,
        default_value = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}"
    )]
    replication: String,
    /// The embedded store's data directory.
    #[arg(long, env = "DIALER_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = std::io::stdout().lock();
    match args.scylla_uri {
        Some(uri) => {
            let mut config = ScyllaConfig::from_uri(&uri, &args.keyspace);
            config.replication = args.replication;
            let applied = runtime
                .block_on(ScyllaStore::migrate(&config, now.timestamp_millis()))
                .with_context(|| format!("migrating keyspace {} at {uri}", args.keyspace))?;
            writeln!(
                out,
                "scylla keyspace {}: schema version {} (applied now: {applied:?})",
                args.keyspace,
                ScyllaStore::schema_version()
            )?;
        }
        None => {
            let config = EmbeddedConfig::new(&args.data_dir);
            runtime.block_on(async {
                let store = EmbeddedStore::open(&config, now).with_context(|| {
                    format!(
                        "migrating the embedded store in {}",
                        args.data_dir.display()
                    )
                })?;
                store.close().await?;
                anyhow::Ok(())
            })?;
            writeln!(
                out,
                "embedded store {}: schema version {}",
                config.dir.join("dialer.sqlite").display(),
                EmbeddedStore::schema_version()
            )?;
        }
    }
    Ok(())
}
