//! `dialer serve` configuration: an optional YAML file, then `DIALER_*` environment variables
//! on top, validated into [`Settings`]. With nothing configured at all, dialer runs on the
//! embedded store in `./data`, in-process leases and the simulated provider.
//!
//! Every field has a unit in its name where it has one; unknown fields are errors; secrets
//! (tokens) are never printed — `Settings`' `Debug` redacts them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dialer_actors::provider::http::HttpProviderConfig;
use dialer_actors::provider::twilio::TwilioConfig;
use dialer_engine::{NodeId, RetryPolicy, SimProfile};
use serde::Deserialize;

/// `leases.quarantine_ms` when unset.
const DEFAULT_QUARANTINE_MS: u64 = dialer_storage::lease::DEFAULT_QUARANTINE.as_millis() as u64;

use crate::auth::Role;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub version: Option<u32>,
    pub node_id: Option<String>,
    pub listen: Option<SocketAddr>,
    /// dialer's externally reachable base URL, for provider callbacks.
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub leases: LeaseConfig,
    pub max_concurrent_calls: Option<u32>,
    /// The seed's duplicate-call window: the same number in the same campaign is refused (429)
    /// within it.
    pub duplicate_window_secs: Option<u64>,
    /// How numbers are checked where a campaign does not say: `strict` (the numbering plan,
    /// the default) or `e164` (syntax only, for test numbers like the seed's `+1234567890`).
    pub phone_validation: Option<dialer_engine::PhoneValidation>,
    /// Run the wall clock N× faster (demos, load tests); 1 in production.
    pub clock_speed: Option<u32>,
    /// With `clock_speed` > 1: the real instant at which the fast clock reads real time, so
    /// that every process started with the same value agrees on the time (RFC 3339; default
    /// the process's start).
    pub clock_epoch: Option<chrono::DateTime<chrono::Utc>>,
    /// What the clock reads at `clock_epoch` (RFC 3339; default `clock_epoch` itself): a run
    /// of the fast clock that starts on a chosen day and hour (benchmarks).
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The retry rules new campaigns get when they do not set their own (a relative path is
    /// read next to the config file).
    pub retry_config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `embedded` (default) or `scylla`.
    pub backend: Option<String>,
    /// `normal` (default) or `full`.
    pub synchronous: Option<dialer_storage::embedded::Synchronous>,
    pub scylla_uri: Option<String>,
    pub keyspace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// `in_process` (default) or `redis`.
    pub backend: Option<String>,
    pub redis_url: Option<String>,
    pub ttl_secs: Option<u64>,
    /// How long a pool Redis no longer knows (it came back empty) grants only the leases of
    /// calls still in flight, before anyone takes a new one.
    pub quarantine_ms: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Requests per second per token (burst of the same size); 0 turns the limit off.
    pub rate_limit_per_second: Option<u32>,
    /// The same for tokens of the `provider` role, which carry every call's callbacks: by
    /// default 20 per line of `max_concurrent_calls` (at least 1,000), more than the lines can
    /// produce even with calls that fail at once. 0 turns the limit off.
    pub provider_rate_limit_per_second: Option<u32>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    /// The token itself, or…
    pub token: Option<String>,
    /// …the environment variable that holds it.
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub sim: Option<SimConfig>,
    #[serde(default)]
    pub http: Vec<HttpProviderConfig>,
    #[serde(default)]
    pub twilio: Vec<TwilioFileConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    pub seed: Option<u64>,
    pub profile: Option<SimProfile>,
    pub max_cps: Option<u32>,
}

/// Twilio settings in the file: the auth token comes from an environment variable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioFileConfig {
    #[serde(default = "twilio_name")]
    pub name: String,
    pub account_sid: String,
    pub auth_token_env: String,
    pub api_base: Option<String>,
    pub from: String,
    pub voice_url: String,
    pub machine_detection: Option<String>,
    pub max_cps: Option<u32>,
}

fn twilio_name() -> String {
    "twilio".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_body_bytes: Option<usize>,
    pub max_import_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
}

/// Where the calls are stored.
#[derive(Debug, Clone)]
pub enum StorageChoice {
    Embedded {
        dir: PathBuf,
        synchronous: dialer_storage::embedded::Synchronous,
    },
    Scylla {
        uri: String,
        keyspace: String,
    },
}

#[derive(Debug, Clone)]
pub enum LeaseChoice {
    InProcess,
    Redis { url: String, quarantine_ms: u64 },
}

/// An API token. `Debug` never shows the secret.
#[derive(Clone)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    pub secret: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node_id: NodeId,
    pub listen: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub storage: StorageChoice,
    pub leases: LeaseChoice,
    pub lease_ttl_secs: u64,
    pub max_concurrent_calls: u32,
    pub duplicate_window_secs: u64,
    pub phone_validation: dialer_engine::PhoneValidation,
    pub clock_speed: u32,
    pub clock_epoch: Option<chrono::DateTime<chrono::Utc>>,
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    pub tokens: Vec<ApiToken>,
    pub rate_limit_per_second: u32,
    pub provider_rate_limit_per_second: u32,
    pub sim: SimSettings,
    pub http_providers: Vec<HttpProviderConfig>,
    pub twilio: Vec<TwilioConfig>,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub request_timeout_ms: u64,
    pub default_retry: Option<RetryPolicy>,
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    pub seed: u64,
    pub profile: SimProfile,
    pub max_cps: Option<u32>,
}

/// Reads the file (if any) and the environment.
pub fn load(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
    let path = path
        .map(Path::to_path_buf)
        .or_else(|| env("DIALER_CONFIG").map(PathBuf::from));
    let mut file: FileConfig = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))?;
            yaml_serde::from_str(&text).with_context(|| format!("config {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    // Files the config names are found next to it.
    if let (Some(dir), Some(retry)) = (path.as_deref().and_then(Path::parent), &file.retry_config)
        && retry.is_relative()
    {
        file.retry_config = Some(dir.join(retry));
    }
    settings(file, env).with_context(|| match &path {
        Some(p) => format!("config {}", p.display()),
        None => "configuration".into(),
    })
}

fn parse_env<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    env(name)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}"))
        })
        .transpose()
}

fn settings(f: FileConfig, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
    if let Some(v) = f.version.filter(|v| *v != 1) {
        bail!("version: must be 1, got {v}");
    }
    let node_id: NodeId = env("DIALER_NODE_ID")
        .or(f.node_id)
        .unwrap_or_else(|| "node-1".into())
        .parse()?;
    let listen = parse_env(env, "DIALER_LISTEN")?
        .or(f.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let public_url = env("DIALER_PUBLIC_URL")
        .or(f.public_url)
        .unwrap_or_else(|| format!("http://{listen}"));
    let data_dir = env("DIALER_DATA_DIR")
        .map(PathBuf::from)
        .or(f.data_dir)
        .unwrap_or_else(|| PathBuf::from("data"));

    let scylla_uri = env("DIALER_SCYLLA_URI").or(f.storage.scylla_uri);
    let backend = f.storage.backend.clone().unwrap_or_else(|| {
        if scylla_uri.is_some() {
            "scylla".into()
        } else {
            "embedded".into()
        }
    });
    let storage = match backend.as_str() {
        "embedded" => StorageChoice::Embedded {
            dir: data_dir.clone(),
            synchronous: match env("DIALER_SYNCHRONOUS").as_deref().map(str::trim) {
                Some("normal") => dialer_storage::embedded::Synchronous::Normal,
                Some("full") => dialer_storage::embedded::Synchronous::Full,
                Some(other) => bail!("DIALER_SYNCHRONOUS={other:?}: must be normal or full"),
                None => f.storage.synchronous.unwrap_or_default(),
            },
        },
        "scylla" => StorageChoice::Scylla {
            uri: scylla_uri.context(
                "storage.scylla_uri: required with backend scylla (or set DIALER_SCYLLA_URI)",
            )?,
            keyspace: env("DIALER_SCYLLA_KEYSPACE")
                .or(f.storage.keyspace)
                .unwrap_or_else(|| "dialer".into()),
        },
        other => bail!("storage.backend: must be embedded or scylla, got {other:?}"),
    };
    let redis_url = env("DIALER_REDIS_URL").or(f.leases.redis_url);
    let lease_backend = f.leases.backend.clone().unwrap_or_else(|| {
        if redis_url.is_some() {
            "redis".into()
        } else {
            "in_process".into()
        }
    });
    let leases = match lease_backend.as_str() {
        "in_process" => LeaseChoice::InProcess,
        "redis" => LeaseChoice::Redis {
            url: redis_url.context(
                "leases.redis_url: required with backend redis (or set DIALER_REDIS_URL)",
            )?,
            quarantine_ms: f
                .leases
                .quarantine_ms
                .unwrap_or(DEFAULT_QUARANTINE_MS)
                .min(600_000),
        },
        other => bail!("leases.backend: must be in_process or redis, got {other:?}"),
    };
    // The seed's variable name is honoured too.
    let max_concurrent_calls = parse_env(env, "DIALER_MAX_CONCURRENT_CALLS")?
        .or(parse_env(env, "MAX_CONCURRENT_CALLS")?)
        .or(f.max_concurrent_calls)
        .unwrap_or(100);
    if !(1..=100_000).contains(&max_concurrent_calls) {
        bail!("max_concurrent_calls: must be between 1 and 100000, got {max_concurrent_calls}");
    }
    let clock_speed = parse_env(env, "DIALER_CLOCK_SPEED")?
        .or(f.clock_speed)
        .unwrap_or(1);
    let clock_epoch = parse_env(env, "DIALER_CLOCK_EPOCH")?.or(f.clock_epoch);
    let clock_start = parse_env(env, "DIALER_CLOCK_START")?.or(f.clock_start);
    if !(1..=100_000).contains(&clock_speed) {
        bail!("clock_speed: must be between 1 and 100000, got {clock_speed}");
    }
    let mut tokens = Vec::new();
    for (i, t) in f.auth.tokens.into_iter().enumerate() {
        let secret = match (t.token, t.token_env) {
            (Some(s), None) => s,
            (None, Some(var)) => env(&var)
                .with_context(|| format!("auth.tokens[{i}].token_env: {var} is not set"))?,
            _ => bail!("auth.tokens[{i}]: give exactly one of token and token_env"),
        };
        if secret.len() < 16 {
            bail!("auth.tokens[{i}].token: must be at least 16 characters");
        }
        tokens.push(ApiToken {
            name: t.name,
            role: t.role,
            secret,
        });
    }
    if let Some(secret) = env("DIALER_ADMIN_TOKEN") {
        if secret.len() < 16 {
            bail!("DIALER_ADMIN_TOKEN: must be at least 16 characters");
        }
        tokens.push(ApiToken {
            name: "admin".into(),
            role: Role::Admin,
            secret,
        });
    }
    let sim = f.providers.sim.unwrap_or_default();
    let sim = SimSettings {
        seed: sim.seed.unwrap_or(1),
        profile: sim.profile.unwrap_or_default(),
        max_cps: sim.max_cps,
    };
    let mut twilio = Vec::new();
    for (i, t) in f.providers.twilio.into_iter().enumerate() {
        let auth_token = env(&t.auth_token_env).with_context(|| {
            format!(
                "providers.twilio[{i}].auth_token_env: {} is not set",
                t.auth_token_env
            )
        })?;
        twilio.push(TwilioConfig {
            name: t.name,
            account_sid: t.account_sid,
            auth_token,
            api_base: t
                .api_base
                .unwrap_or_else(|| "https://api.twilio.com".into()),
            from: t.from,
            voice_url: t.voice_url,
            public_url: public_url.clone(),
            machine_detection: t.machine_detection,
            max_cps: t.max_cps,
        });
    }
    let default_retry = match &f.retry_config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("retry_config: cannot read {}", p.display()))?;
            Some(
                RetryPolicy::from_yaml(&text)
                    .with_context(|| format!("retry_config {}", p.display()))?,
            )
        }
        None => None,
    };
    Ok(Settings {
        node_id,
        listen,
        public_url,
        data_dir,
        storage,
        leases,
        lease_ttl_secs: f.leases.ttl_secs.unwrap_or(30).clamp(3, 3600),
        max_concurrent_calls,
        duplicate_window_secs: parse_env(env, "DIALER_DUPLICATE_WINDOW_SECS")?
            .or(f.duplicate_window_secs)
            .unwrap_or(300),
        phone_validation: parse_env(env, "DIALER_PHONE_VALIDATION")?
            .or(f.phone_validation)
            .unwrap_or_default(),
        clock_speed,
        clock_epoch,
        clock_start,
        tokens,
        rate_limit_per_second: f.auth.rate_limit_per_second.unwrap_or(200),
        provider_rate_limit_per_second: f
            .auth
            .provider_rate_limit_per_second
            .unwrap_or_else(|| max_concurrent_calls.saturating_mul(20).max(1_000)),
        sim,
        http_providers: f.providers.http,
        twilio,
        max_body_bytes: f.limits.max_body_bytes.unwrap_or(1 << 20),
        max_import_bytes: f.limits.max_import_bytes.unwrap_or(256 << 20),
        request_timeout_ms: f.limits.request_timeout_ms.unwrap_or(30_000),
        default_retry,
    })
}

#[cfg(test)]
mod tests;
