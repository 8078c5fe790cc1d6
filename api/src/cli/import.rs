//! `dialer import FILE --campaign ID`: streams a contact file to a running dialer's import
//! endpoint with a progress bar, then prints the data-quality report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::io::ReaderStream;

use crate::app::ADMIN_TOKEN_FILE;
use crate::import::ImportReport;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The contacts: CSV with a `phone_number` column, a JSON array of objects, or NDJSON.
    file: PathBuf,
    /// The campaign to add them to.
    #[arg(long)]
    campaign: i64,
    /// The dialer to send them to.
    #[arg(long, env = "DIALER_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An operator or admin token; default: the token `dialer serve` generated in --data-dir.
    #[arg(long, env = "DIALER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where `dialer serve` keeps its data (to find a generated token).
    #[arg(long, env = "DIALER_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// `csv`, `json` or `ndjson`; default: from the file's extension.
    #[arg(long)]
    format: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

fn content_type(args: &Args) -> anyhow::Result<&'static str> {
    let format = match &args.format {
        Some(f) => f.to_ascii_lowercase(),
        None => args
            .file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase(),
    };
    Ok(match format.as_str() {
        "csv" | "txt" => "text/csv",
        "json" => "application/json",
        "ndjson" | "jsonl" => "application/x-ndjson",
        other => bail!(
            "cannot tell the format of {} ({other:?}): pass --format csv, json or ndjson",
            args.file.display()
        ),
    })
}

fn token(args: &Args) -> anyhow::Result<String> {
    if let Some(t) = &args.token {
        return Ok(t.clone());
    }
    let path = args.data_dir.join(ADMIN_TOKEN_FILE);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .with_context(|| {
            format!(
                "no --token or DIALER_TOKEN given, and {} cannot be read",
                path.display()
            )
        })
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let content_type = content_type(&args)?;
    let token = token(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(send(&args, content_type, &token))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} rows: {} accepted ({} new, {} merged), {} duplicates, {} invalid",
        report.rows,
        report.accepted,
        report.added,
        report.merged,
        report.duplicates,
        report.invalid
    )?;
    for bad in report.invalid_rows.iter().take(20) {
        writeln!(out, "  line {}: {:?}: {}", bad.line, bad.value, bad.reason)?;
    }
    if report.invalid > 20 {
        writeln!(
            out,
            "  … {} more invalid rows (--json lists up to 1000)",
            report.invalid - 20
        )?;
    }
    Ok(())
}

/// Sends `request` to `url` with the token; the text of a 2xx answer, or the server's refusal
/// with its error message.
async fn exchange(
    url: &str,
    request: reqwest::RequestBuilder,
    token: &str,
) -> anyhow::Result<String> {
    let response = request
        .header("X-Auth-Token", token)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if status.is_success() {
        return Ok(text);
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or(text);
    bail!("{url} answered {status}: {message}")
}

async fn send(args: &Args, content_type: &str, token: &str) -> anyhow::Result<ImportReport> {
    let file = open(&args.file).await?;
    let client = reqwest::Client::new();
    let campaign_url = format!(
        "{}/api/v1/campaigns/{}",
        args.server.trim_end_matches('/'),
        args.campaign
    );
    // The campaign first: a server that refuses the import before reading the file may close
    // the connection while it is still being sent, and its answer would be lost.
    exchange(&campaign_url, client.get(&campaign_url), token).await?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    let body = ReaderStream::with_capacity(file, 256 << 10).inspect(move |chunk| {
        if let Ok(c) = chunk {
            progress.inc(c.len() as u64);
        }
    });
    let url = format!("{campaign_url}/contacts/import");
    let request = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(reqwest::Body::wrap_stream(body));
    let answer = exchange(&url, request, token).await;
    bar.finish_and_clear();
    serde_json::from_str(&answer?)
        .with_context(|| format!("{url} answered with something that is not an import report"))
}

async fn open(path: &Path) -> anyhow::Result<tokio::fs::File> {
    tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}
