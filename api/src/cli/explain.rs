//! `dialer explain`: answers "why was this contact not dialed (yet)?" from the policy alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use dialer_actors::clock::{Clock, SystemClock};
use dialer_engine::explain::explain;
use dialer_engine::{CampaignSettings, PhoneNumber, Region, RetryPolicy};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The phone number, in any form people paste (`+1 (415) 555-2671`, `0044 20 7946 0958`).
    #[arg(long)]
    number: String,
    /// The instant to evaluate, RFC 3339 (`2026-06-06T14:00:00Z`); default: now.
    #[arg(long)]
    at: Option<String>,
    /// A campaign config (YAML): the campaign settings, e.g. time_zone, zone_policy,
    /// default_region, calling_hours, retry.
    #[arg(long, value_name = "FILE")]
    campaign_config: Option<PathBuf>,
    /// A retry config in the seed's `retry_config.yaml` format; overrides the campaign's `retry`.
    #[arg(long, value_name = "FILE")]
    retry_config: Option<PathBuf>,
    /// The region national numbers are read in (ISO code, e.g. US); overrides the campaign's.
    #[arg(long)]
    region: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut policy = match &args.campaign_config {
        Some(path) => load_campaign_settings(path)?,
        None => CampaignSettings::default(),
    };
    if let Some(path) = &args.retry_config {
        let text = read(path)?;
        policy.retry =
            RetryPolicy::from_yaml(&text).with_context(|| format!("{}", path.display()))?;
    }
    if let Some(region) = &args.region {
        policy.default_region = Some(region.parse::<Region>().context("--region")?);
    }
    let at = match &args.at {
        Some(text) => parse_instant(text)?,
        None => SystemClock.now(),
    };
    let number = PhoneNumber::parse(&args.number, policy.default_region)
        .with_context(|| format!("--number {:?} is not a dialable phone number", args.number))?;
    let explanation = explain(&number, at, &policy);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &explanation)?;
        writeln!(out)?;
    } else {
        write!(out, "{explanation}")?;
    }
    Ok(())
}

fn parse_instant(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("--at {text:?} is not an RFC 3339 instant like 2026-06-06T14:00:00Z")
        })
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a campaign config file: an optional `version: 1` and the campaign settings.
pub(crate) fn load_campaign_settings(path: &Path) -> anyhow::Result<CampaignSettings> {
    let text = read(path)?;
    let mut value: yaml_serde::Value =
        yaml_serde::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    let version = value.as_mapping_mut().and_then(|map| map.remove("version"));
    if let Some(version) = version.filter(|v| v.as_u64() != Some(1)) {
        bail!("{}: version must be 1, got {version:?}", path.display());
    }
    let settings: CampaignSettings =
        yaml_serde::from_value(value).with_context(|| format!("{}", path.display()))?;
    settings
        .validate()
        .with_context(|| format!("{}", path.display()))?;
    Ok(settings)
}
