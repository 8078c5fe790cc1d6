//! What the chaos run and the day benchmark share: a stack of real parts — `redis-server`,
//! the provider simulator on a socket of its own, and `dialer serve` as a child process on the
//! embedded store, with Redis leases and the `http` provider pointed at the simulator — and a
//! client of the engine's API.

pub mod host;
mod process;
pub mod prom;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use dialer_actors::clock::{ScaledClock, SystemClock};
use dialer_engine::Clock;
use dialer_storage::testsuite::redis_server::{RedisServer, free_port};
use serde_json::Value;

pub use process::{Dialer, Usage, own_peak_rss_bytes, own_usage, usage_of_pid};

use crate::sim::{self, SimConfig};

/// The harness's tokens: an admin for itself, a provider token for the simulator's callbacks.
pub const ADMIN: &str = "harness-admin-token-0123456789";
pub const PROVIDER: &str = "harness-provider-token-0123456789";

/// The `i`-th of many distinct valid numbers (10,000 per area code), from `AREAS`.
pub fn number_in(areas: &[u32], i: u32, offset: u32) -> String {
    let i = i + offset;
    let area = areas[(i / 10_000) as usize % areas.len().max(1)];
    format!("+1{area}555{:04}", i % 10_000)
}

/// The `i`-th of many distinct valid numbers in twelve US area codes.
pub fn number(i: u32, offset: u32) -> String {
    const AREAS: [u32; 12] = [212, 312, 415, 617, 713, 202, 305, 404, 503, 602, 646, 718];
    number_in(&AREAS, i, offset)
}

/// An API client with the harness's admin token.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT/api/v1`
    pub base: String,
}

impl Api {
    pub async fn send(&self, r: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let r = r.header("X-Auth-Token", ADMIN).send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// Creates a campaign; its id.
    pub async fn create_campaign(&self, body: Value) -> anyhow::Result<i64> {
        let (status, body) = self.post("/campaigns/", body).await?;
        if status != 201 {
            bail!("creating the campaign: {status} {body}");
        }
        body["id"].as_i64().context("the campaign's id")
    }

    pub async fn start_campaign(&self, campaign: i64) -> anyhow::Result<()> {
        let (status, body) = self
            .post(
                &format!("/campaigns/{campaign}/start"),
                serde_json::json!({}),
            )
            .await?;
        if status != 200 {
            bail!("starting the campaign: {status} {body}");
        }
        Ok(())
    }

    /// Imports a CSV of contacts in one request; the import report.
    pub async fn import_csv(&self, campaign: i64, csv: String) -> anyhow::Result<Value> {
        let (status, report) = self
            .send(
                self.http
                    .post(format!(
                        "{}/campaigns/{campaign}/contacts/import",
                        self.base
                    ))
                    .header("Content-Type", "text/csv")
                    .timeout(Duration::from_secs(600))
                    .body(csv),
            )
            .await?;
        if status != 200 {
            bail!("importing contacts: {status} {report}");
        }
        Ok(report)
    }

    /// The engine's Prometheus text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let root = self.base.trim_end_matches("/api/v1");
        Ok(self
            .http
            .get(format!("{root}/metrics"))
            .send()
            .await?
            .text()
            .await?)
    }
}

/// How to assemble the stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The `dialer` binary.
    pub dialer: PathBuf,
    /// Data, logs and the simulator's journal go here.
    pub work_dir: PathBuf,
    /// The engine's cap (`max_concurrent_calls`).
    pub cap: u32,
    /// The engine's and the simulator's clock speed, and what their clock reads at the start.
    pub speed: u32,
    pub clock_start: Option<DateTime<Utc>>,
    /// The `http` provider's request timeout.
    pub provider_timeout_ms: u64,
    /// The simulator (its callback token, clock and speed are set here).
    pub sim: SimConfig,
    /// `dialer serve`'s log level.
    pub log: &'static str,
}

/// The running stack.
pub struct Stack {
    pub redis: RedisServer,
    pub sim: sim::Running,
    pub dialer: Dialer,
    pub http: reqwest::Client,
    pub api: Api,
    /// The real instant both clocks count from, and the clock they read.
    pub epoch: DateTime<Utc>,
    pub clock: ScaledClock,
    pub data: PathBuf,
}

impl Stack {
    /// Starts Redis, the simulator and `dialer serve` (on a fresh data directory). Needs a
    /// multi-threaded tokio runtime: Redis starts blocking, on this worker thread.
    pub async fn start(c: StackConfig) -> anyhow::Result<Self> {
        let work = &c.work_dir;
        std::fs::create_dir_all(work)?;
        let data = work.join("data");
        let _ = std::fs::remove_dir_all(&data);
        let epoch = SystemClock.now();
        let clock = ScaledClock::anchored_at(epoch, c.clock_start.unwrap_or(epoch), c.speed);
        let redis = tokio::task::block_in_place(RedisServer::start)?;
        let sim = sim::start(
            SimConfig {
                speed: c.speed,
                callback_token: Some(PROVIDER.into()),
                clock_epoch: Some(epoch),
                clock_start: c.clock_start,
                ..c.sim.clone()
            },
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let port = free_port()?;
        let config = work.join("dialer.yaml");
        let clock_start = c
            .clock_start
            .map(|s| format!("clock_start: {}\n", s.to_rfc3339()))
            .unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                r#"version: 1
listen: 127.0.0.1:{port}
public_url: http://127.0.0.1:{port}
data_dir: {data}
leases: {{backend: redis, redis_url: "{redis}", ttl_secs: 30, quarantine_ms: 500}}
max_concurrent_calls: {cap}
duplicate_window_secs: 300
clock_speed: {speed}
clock_epoch: {epoch}
{clock_start}auth:
  rate_limit_per_second: 0
  provider_rate_limit_per_second: 0
  tokens:
    - {{name: admin, role: admin, token: {ADMIN}}}
    - {{name: carrier, role: provider, token: {PROVIDER}}}
providers:
  http:
    - {{name: http, base_url: "{sim}", timeout_ms: {timeout}}}
"#,
                data = data.display(),
                redis = redis.url(),
                cap = c.cap,
                speed = c.speed,
                epoch = epoch.to_rfc3339(),
                sim = sim.base_url(),
                timeout = c.provider_timeout_ms,
            ),
        )?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut dialer = Dialer::new(&c.dialer, &config, &work.join("dialer.log"), port, c.log);
        dialer.start(&http).await?;
        let api = Api {
            http: http.clone(),
            base: format!("{}/api/v1", dialer.base_url()),
        };
        Ok(Self {
            redis,
            sim,
            dialer,
            http,
            api,
            epoch,
            clock,
            data,
        })
    }
}

/// Hands every call of `campaign` that `store` holds to `f`, a page at a time (newest first).
pub async fn each_call(
    store: &dyn dialer_storage::CallStore,
    campaign: dialer_engine::CampaignId,
    mut f: impl FnMut(dialer_engine::Call),
) -> anyhow::Result<()> {
    let filter = dialer_storage::CallFilter {
        campaign_id: Some(campaign),
        ..dialer_storage::CallFilter::default()
    };
    let mut before = None;
    loop {
        let page = store.list_calls(&filter, before, 1_000).await?;
        let Some(last) = page.last().map(|c| c.call_id) else {
            return Ok(());
        };
        before = Some(last);
        page.into_iter().for_each(&mut f);
    }
}

/// The `dialer` binary: `given`, or the one next to the running executable.
pub fn dialer_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => Ok(d),
        None => std::env::current_exe()?
            .parent()
            .map(|dir| dir.join("dialer"))
            .ok_or_else(|| {
                anyhow::anyhow!("cannot tell where the dialer binary is; pass --dialer")
            }),
    }
}

/// A Python tool the tests run (k6, schemathesis): `$ENV` if set, else the venv `.ci/run` puts
/// it in under `target/` of the repository at `root`, else the PATH.
pub fn venv_tool(root: &Path, env: &str, venv: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    let local = root.join("target").join(venv).join("bin").join(name);
    if local.exists() {
        return local;
    }
    name.into()
}
