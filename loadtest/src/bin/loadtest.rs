//! `dialer-loadtest`: goose scenarios against a running `dialer serve`.
//!
//! * `initiate`: `POST /api/v1/initiate-call/`, each request a new number, into one campaign
//!   dialed by the in-process simulator — the API under the engine's own load.
//! * `callbacks`: the setup places calls through a provider that only accepts them (run
//!   `dialer-provider-sim --mode accept`), waits until every one is dialing, then each goose
//!   transaction plays one call's provider: `PUT /api/v1/callback/` with RINGING, IN_PROGRESS
//!   and PICKED.
//! * `operator`: each transaction is one operator's session — create a campaign, import its
//!   contacts (CSV), start it, read its statistics and calls, pause and resume it.
//! * `mix`: what a busy node sees at once — initiate-calls, callbacks for calls in flight (the
//!   `callbacks` setup) and operators' reads, weighted 10 : 10 : 1.
//!
//! Every goose option works (`--users`, `--run-time`, `--throttle-requests` for a fixed request
//! rate, `--report-file`…); the end prints the latency percentiles per request.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool: its report is its output.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use goose::config::GooseConfiguration;
use goose::metrics::GooseMetrics;
use goose::prelude::*;
use serde_json::{Value, json};

/// mimalloc, as the engine: the simulator allocates and frees small objects for every request
/// and callback from many threads, and glibc malloc took a tenth of the harness's CPU at the
/// throughput ceiling (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Initiate,
    Callbacks,
    Operator,
    Mix,
}

#[derive(Debug, Parser)]
#[command(
    name = "dialer-loadtest",
    version,
    about = "goose load tests of a running dialer"
)]
struct Args {
    #[arg(long, value_enum)]
    scenario: Kind,
    /// An admin or operator token of the dialer under test.
    #[arg(long, env = "DIALER_TOKEN", hide_env_values = true)]
    token: String,
    /// callbacks: how many calls to place before the run (each takes three callbacks).
    #[arg(long, default_value_t = 30_000)]
    calls: usize,
    /// operator: contacts imported per session.
    #[arg(long, default_value_t = 200)]
    contacts: usize,
    /// callbacks: the provider that accepts dials without reporting.
    #[arg(long, default_value = "loadsim")]
    provider: String,
    #[command(flatten)]
    goose: GooseConfiguration,
}

static TOKEN: OnceLock<String> = OnceLock::new();
static CAMPAIGN: OnceLock<i64> = OnceLock::new();
static CALLS: OnceLock<Vec<String>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);
static CALLBACK_NEXT: AtomicUsize = AtomicUsize::new(0);
static SESSION: AtomicUsize = AtomicUsize::new(0);
static CONTACTS: OnceLock<usize> = OnceLock::new();

/// The n-th distinct, valid North American number.
fn number(n: usize) -> String {
    const AREAS: [u32; 8] = [212, 213, 310, 312, 415, 617, 646, 718];
    let area = AREAS[n % AREAS.len()];
    let rest = 2_000_000 + (n / AREAS.len()) % 7_000_000;
    format!("+1{area}{rest:07}")
}

async fn send(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    body: &Value,
    expect: u16,
) -> Result<Value, Box<TransactionError>> {
    let token = TOKEN.get().map_or("", String::as_str);
    let rb = user
        .get_request_builder(&method, path)?
        .header("X-Auth-Token", token)
        .json(body);
    send_built(user, method, path, rb, expect, None).await
}

/// Sends a prepared request, named `name` in the report (default: its path); its JSON answer.
async fn send_built(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    rb: reqwest::RequestBuilder,
    expect: u16,
    name: Option<&str>,
) -> Result<Value, Box<TransactionError>> {
    let mut request = GooseRequest::builder()
        .method(method)
        .path(path)
        .set_request_builder(rb)
        .expect_status_code(expect);
    if let Some(name) = name {
        request = request.name(name);
    }
    let answer = user.request(request.build()).await?;
    Ok(match answer.response {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    })
}

async fn initiate_call(user: &mut GooseUser) -> TransactionResult {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let body =
        json!({"phone_number": number(n), "campaign_id": CAMPAIGN.get().copied().unwrap_or(0)});
    send(
        user,
        GooseMethod::Post,
        "/api/v1/initiate-call/",
        &body,
        201,
    )
    .await?;
    Ok(())
}

async fn one_calls_callbacks(user: &mut GooseUser) -> TransactionResult {
    let calls = CALLS.get().map_or(&[][..], Vec::as_slice);
    let next = CALLBACK_NEXT.fetch_add(1, Ordering::Relaxed);
    let Some(call) = calls.get(next % calls.len().max(1)) else {
        return Ok(());
    };
    for (status, duration) in [
        ("RINGING", None),
        ("IN_PROGRESS", None),
        ("PICKED", Some(42)),
    ] {
        let body = json!({"call_id": call, "status": status, "call_duration": duration});
        send(user, GooseMethod::Put, "/api/v1/callback/", &body, 200).await?;
    }
    Ok(())
}

/// One operator's session: a campaign created, its contacts imported, started, watched,
/// paused and resumed.
async fn operator_session(user: &mut GooseUser) -> TransactionResult {
    let session = SESSION.fetch_add(1, Ordering::Relaxed);
    let contacts = CONTACTS.get().copied().unwrap_or(200);
    let settings = json!({
        "zone_policy": "campaign", "time_zone": "UTC", "max_concurrent": 10, "provider": "sim",
        "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
    });
    let created = send(
        user,
        GooseMethod::Post,
        "/api/v1/campaigns/",
        &json!({"name": format!("goose operator {session}"), "settings": settings}),
        201,
    )
    .await?;
    let Some(id) = created["id"].as_i64() else {
        return Ok(());
    };
    let mut csv = String::from("phone_number,first_name\n");
    for k in 0..contacts {
        csv.push_str(&number(5_000_000 + session * contacts + k));
        csv.push_str(",goose\n");
    }
    let token = TOKEN.get().map_or("", String::as_str);
    let path = format!("/api/v1/campaigns/{id}/contacts/import");
    let rb = user
        .get_request_builder(&GooseMethod::Post, &path)?
        .header("X-Auth-Token", token)
        .header("Content-Type", "text/csv")
        .body(csv);
    send_built(user, GooseMethod::Post, &path, rb, 200, Some("import")).await?;
    let none = json!({});
    for step in ["start", "pause", "resume"] {
        let path = format!("/api/v1/campaigns/{id}/{step}");
        let rb = user
            .get_request_builder(&GooseMethod::Post, &path)?
            .header("X-Auth-Token", token)
            .json(&none);
        send_built(user, GooseMethod::Post, &path, rb, 200, Some(step)).await?;
        if step == "start" {
            reads(user, id).await?;
        }
    }
    Ok(())
}

/// An operator's reads of a campaign: its statistics and its latest calls.
async fn reads(user: &mut GooseUser, id: i64) -> TransactionResult {
    let token = TOKEN.get().map_or("", String::as_str);
    for (path, name) in [
        (format!("/api/v1/campaigns/{id}/stats"), "stats"),
        (format!("/api/v1/calls?campaign_id={id}&limit=50"), "calls"),
    ] {
        let rb = user
            .get_request_builder(&GooseMethod::Get, &path)?
            .header("X-Auth-Token", token);
        send_built(user, GooseMethod::Get, &path, rb, 200, Some(name)).await?;
    }
    Ok(())
}

async fn campaign_reads(user: &mut GooseUser) -> TransactionResult {
    reads(user, CAMPAIGN.get().copied().unwrap_or(0)).await
}

/// A small client for the setup steps.
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let response = r
            .send()
            .await
            .with_context(|| format!("{path}: cannot reach dialer at {}", self.base))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status}: {value}");
        }
        Ok(value)
    }

    async fn campaign(&self, name: &str, provider: &str, lines: u32) -> anyhow::Result<i64> {
        let settings = json!({
            "provider": provider,
            "zone_policy": "campaign",
            "time_zone": "UTC",
            "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
            "max_concurrent": lines,
        });
        let c = self
            .call(
                reqwest::Method::POST,
                "/api/v1/campaigns",
                Some(json!({"name": name, "settings": settings})),
            )
            .await?;
        c["id"].as_i64().context("the campaign has no id")
    }

    /// Places `calls` calls through `provider`, waits until each is dialing, returns their ids.
    async fn dialing_calls(&self, provider: &str, calls: usize) -> anyhow::Result<Vec<String>> {
        let per_campaign = 10_000;
        let mut campaigns = Vec::new();
        let mut placed = 0;
        while placed < calls {
            let n = per_campaign.min(calls - placed);
            let id = self
                .campaign(
                    &format!("loadtest callbacks {}", campaigns.len() + 1),
                    provider,
                    per_campaign as u32,
                )
                .await?;
            for chunk in (placed..placed + n).collect::<Vec<_>>().chunks(5_000) {
                let numbers: Vec<String> = chunk.iter().map(|&i| number(1_000_000 + i)).collect();
                let r = self
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/initiate-call/bulk",
                        Some(json!({"campaign_id": id, "phone_numbers": numbers})),
                    )
                    .await?;
                if let Some(rejected) = r["rejected"].as_array().filter(|r| !r.is_empty()) {
                    bail!("the setup's calls were refused: {}", rejected[0]);
                }
            }
            placed += n;
            campaigns.push(id);
        }
        eprintln!(
            "placed {calls} calls in {} campaigns; waiting until every one is dialing",
            campaigns.len()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        for id in &campaigns {
            loop {
                let queued = self
                    .call(
                        reqwest::Method::GET,
                        &format!("/api/v1/calls?campaign_id={id}&status=INITIATED&limit=1"),
                        None,
                    )
                    .await?;
                if queued["results"].as_array().is_none_or(Vec::is_empty) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!(
                        "calls of campaign {id} were still queued after 10 minutes: is the provider accepting dials?"
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let mut ids = Vec::with_capacity(calls);
        for id in &campaigns {
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/calls?campaign_id={id}&status=DIALING&limit=500");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = self.call(reqwest::Method::GET, &path, None).await?;
                ids.extend(
                    page["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["call_id"].as_str().map(str::to_owned)),
                );
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
        }
        if ids.len() < calls {
            bail!("only {} of {calls} calls are dialing", ids.len());
        }
        Ok(ids)
    }
}

fn print_summary(metrics: &GooseMetrics) {
    let mut keys: Vec<&String> = metrics.requests.keys().collect();
    keys.sort();
    println!(
        "\nrequest                          count   fail     rps    p50 ms   p90 ms   p99 ms p99.9 ms   max ms"
    );
    for key in keys {
        let r = &metrics.requests[key];
        let t = &r.raw_data;
        let ms = |p: f32| t.percentile_us(p) as f64 / 1000.0;
        let rps = if metrics.duration > 0 {
            t.counter as f64 / metrics.duration as f64
        } else {
            0.0
        };
        println!(
            "{key:<30} {:>7} {:>6} {:>7.0} {:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>9.2}",
            t.counter,
            r.fail_count,
            rps,
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(0.999),
            t.maximum_time_us as f64 / 1000.0
        );
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let host = args
            .goose
            .host
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let api = Api {
            base: host.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token: args.token.clone(),
        };
        let _ = TOKEN.set(args.token.clone());
        let scenario = match args.scenario {
            Kind::Initiate => {
                let id = api.campaign("loadtest initiate-call", "sim", 100).await?;
                let _ = CAMPAIGN.set(id);
                scenario!("InitiateCall").register_transaction(transaction!(initiate_call))
            }
            Kind::Callbacks => {
                let ids = api.dialing_calls(&args.provider, args.calls).await?;
                eprintln!(
                    "{} calls are dialing; the provider's callbacks begin",
                    ids.len()
                );
                let _ = CALLS.set(ids);
                scenario!("Callbacks").register_transaction(transaction!(one_calls_callbacks))
            }
            Kind::Operator => {
                let _ = CONTACTS.set(args.contacts);
                scenario!("Operator").register_transaction(transaction!(operator_session))
            }
            Kind::Mix => {
                let id = api.campaign("loadtest mix", "sim", 100).await?;
                let _ = CAMPAIGN.set(id);
                let ids = api.dialing_calls(&args.provider, args.calls).await?;
                let _ = CALLS.set(ids);
                scenario!("Mix")
                    .register_transaction(transaction!(initiate_call).set_weight(10)?)
                    .register_transaction(transaction!(one_calls_callbacks).set_weight(10)?)
                    .register_transaction(transaction!(campaign_reads).set_weight(1)?)
            }
        };
        let attack = GooseAttack::initialize_with_config(args.goose)?
            .register_scenario(scenario)
            .set_default(GooseDefault::Host, host.as_str())?
            .set_default(GooseDefault::NoTelnet, true)?;
        // goose's run is a large future: keep it on the heap.
        let metrics = Box::pin(attack.execute()).await?;
        print_summary(&metrics);
        anyhow::Ok(())
    })
}
