//! The `dialer` command line: parses arguments and dispatches to one module per subcommand.

mod explain;
mod import;
mod migrate;
mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dialer",
    version,
    about = "An actor-based outbound call engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine and the HTTP API (embedded storage, in-process leases and the simulated
    /// provider unless configured otherwise).
    Serve(serve::Args),
    /// Stream a contact file (CSV, JSON or NDJSON) into a campaign of a running dialer and print
    /// the data-quality report.
    Import(import::Args),
    /// Explain what the dialing policy decides for one number at one instant: its E.164 form,
    /// zones and local time, whether calling hours are open, and the retry schedule per outcome.
    Explain(explain::Args),
    /// Create or upgrade the storage schema: the embedded store's data directory, or a ScyllaDB
    /// keyspace.
    Migrate(migrate::Args),
}

/// Runs the command line and maps failures to an exit code: 1 for a failed command, 2 for a
/// usage error (from clap).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Import(args) => import::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Migrate(args) => migrate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
