//! Assembling a running dialer from [`Settings`]: the clock, storage, lease store, providers,
//! the actor engine and the HTTP server — and taking it down again in order.
//!
//! Shutdown: stop accepting connections, let in-flight requests finish (server-sent event
//! streams are ended), stop the engine (its recorder flushes every pending write), then close
//! storage, which waits for the last commit.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use dialer_actors::clock::{ScaledClock, SystemClock};
use dialer_actors::messenger::Messengers;
use dialer_actors::messenger::http::HttpMessenger;
use dialer_actors::messenger::runner::{Runner, RunnerSink};
use dialer_actors::messenger::sim::SimMessenger;
use dialer_actors::messenger::twilio::TwilioMessenger;
use dialer_actors::provider::Providers;
use dialer_actors::provider::http::HttpProvider;
use dialer_actors::provider::sim::SimProvider;
use dialer_actors::provider::twilio::TwilioProvider;
use dialer_actors::{Engine, EngineConfig, EngineDeps};
use dialer_engine::Clock;
use dialer_storage::Store;
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::lease::{InProcessLeases, LeaseStore, RedisLeaseConfig, RedisLeases};
use dialer_storage::scylla::{ScyllaConfig, ScyllaStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, Role};
use crate::config::{ApiToken, LeaseChoice, Settings, StorageChoice};
use crate::state::{AppState, Inner};

/// The file the generated admin token is written to, inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A dialer ready to serve.
pub struct App {
    pub state: AppState,
    /// The simulated provider (always registered as `sim`).
    pub sim: Arc<SimProvider>,
    /// The simulated messenger (always registered as `sim`).
    pub sim_messenger: Arc<SimMessenger>,
    /// Where a generated admin token was written, when no token was configured.
    pub generated_token: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The wall clock `settings` ask for.
pub fn clock(settings: &Settings) -> Arc<dyn Clock> {
    if settings.clock_speed > 1 || settings.clock_start.is_some() {
        let epoch = settings.clock_epoch.unwrap_or_else(|| SystemClock.now());
        let reads = settings.clock_start.unwrap_or(epoch);
        Arc::new(ScaledClock::anchored_at(epoch, reads, settings.clock_speed))
    } else {
        Arc::new(SystemClock)
    }
}

async fn open_store(settings: &Settings, clock: &dyn Clock) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.storage {
        StorageChoice::Embedded { dir, synchronous } => {
            let mut config = EmbeddedConfig::new(dir);
            config.synchronous = *synchronous;
            let now = clock.now();
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&config, now))
                .await?
                .with_context(|| format!("opening the embedded store in {}", dir.display()))?;
            Arc::new(store)
        }
        StorageChoice::Scylla { uri, keyspace } => {
            let config = ScyllaConfig::from_uri(uri, keyspace.clone());
            let store = ScyllaStore::connect(&config)
                .await
                .with_context(|| format!("connecting to ScyllaDB at {uri} (run `dialer migrate --scylla-uri {uri}` first)"))?;
            Arc::new(store)
        }
    })
}

async fn open_leases(
    settings: &Settings,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn LeaseStore>> {
    Ok(match &settings.leases {
        LeaseChoice::InProcess => Arc::new(InProcessLeases::new(Arc::clone(clock))),
        LeaseChoice::Redis { url, quarantine_ms } => {
            let config = RedisLeaseConfig {
                quarantine: Duration::from_millis(*quarantine_ms),
                ..RedisLeaseConfig::new(url)
            };
            let leases = RedisLeases::connect(&config)
                .await
                .context("connecting to Redis for leases")?;
            Arc::new(leases)
        }
    })
}

fn providers(settings: &Settings, sim: &Arc<SimProvider>) -> anyhow::Result<Providers> {
    let mut providers = Providers::new().with(Arc::clone(sim) as _);
    for http in &settings.http_providers {
        let mut config = http.clone();
        if config.callback_url.is_none() {
            config.callback_url = Some(format!(
                "{}/api/v1/callback/",
                settings.public_url.trim_end_matches('/')
            ));
        }
        let name = config.name.clone();
        providers = providers.with(Arc::new(
            HttpProvider::new(config).map_err(|e| anyhow::anyhow!("provider {name}: {e}"))?,
        ));
    }
    for twilio in &settings.twilio {
        let name = twilio.name.clone();
        providers = providers.with(Arc::new(
            TwilioProvider::new(twilio.clone())
                .map_err(|e| anyhow::anyhow!("provider {name}: {e}"))?,
        ));
    }
    Ok(providers)
}

/// The messengers: the simulator, and one for each configured Twilio account and http provider
/// (the same names as their call providers).
fn messengers(settings: &Settings, sim: &Arc<SimMessenger>) -> anyhow::Result<Messengers> {
    let mut messengers = Messengers::new().with(Arc::clone(sim) as _);
    for http in &settings.http_providers {
        let callback = format!(
            "{}/api/v1/messages/callback",
            settings.public_url.trim_end_matches('/')
        );
        let name = http.name.clone();
        messengers = messengers.with(Arc::new(
            HttpMessenger::new(http.clone(), Some(callback))
                .map_err(|e| anyhow::anyhow!("messenger {name}: {e}"))?,
        ));
    }
    for twilio in &settings.twilio {
        let name = twilio.name.clone();
        messengers = messengers.with(Arc::new(
            TwilioMessenger::new(twilio.clone())
                .map_err(|e| anyhow::anyhow!("messenger {name}: {e}"))?,
        ));
    }
    Ok(messengers)
}

/// With no token configured, dialer makes an admin token and writes it (mode 0600) to the data
/// directory, so that a first run works without setup and without printing a secret.
fn generated_admin_token(dir: &Path) -> anyhow::Result<(ApiToken, std::path::PathBuf)> {
    use rand::RngExt;
    let path = dir.join(ADMIN_TOKEN_FILE);
    dialer_storage::private::private_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    // A token file from before keeps no mode wider than its owner's.
    dialer_storage::private::private_file(&path)
        .with_context(|| format!("making {} private", path.display()))?;
    let secret = match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= 16 => existing.trim().to_owned(),
        _ => {
            let bytes: [u8; 24] = rand::rng().random();
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
            secret
        }
    };
    Ok((
        ApiToken {
            name: "admin".into(),
            role: Role::Admin,
            secret,
        },
        path,
    ))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}

impl App {
    /// Opens storage and leases, starts the engine. `clock` is the wall clock (tests inject
    /// theirs).
    pub async fn build(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // libphonenumber loads its metadata on first use (~0.1 s): not on the first request.
        tokio::task::spawn_blocking(|| dialer_engine::PhoneNumber::parse("+14155552671", None))
            .await?
            .ok();
        let store = open_store(&settings, clock.as_ref()).await?;
        let leases = open_leases(&settings, &clock).await?;
        // The latest 100,000 dials (about 10 MB): enough for any look at a demo or a test,
        // bounded for a `dialer serve` that runs for months.
        let mut sim = SimProvider::new(
            settings.sim.seed,
            settings.sim.profile.clone(),
            Arc::clone(&clock),
        )
        .keeping(100_000);
        if let Some(cps) = settings.sim.max_cps {
            sim = sim.with_max_cps(cps);
        }
        let sim = Arc::new(sim);
        let providers = providers(&settings, &sim)?;
        let mut generated_token = None;
        if settings.tokens.is_empty() {
            let (token, path) = generated_admin_token(&settings.data_dir)?;
            settings.tokens.push(token);
            generated_token = Some(path);
        }
        let mut config = EngineConfig::new(settings.node_id.clone());
        config.max_concurrent_calls = settings.max_concurrent_calls;
        config.lease_ttl = Duration::from_secs(settings.lease_ttl_secs);
        let deps = EngineDeps {
            store: Arc::clone(&store),
            leases: Arc::clone(&leases),
            providers,
            clock: Arc::clone(&clock),
        };
        let engine = Engine::start(deps, config)
            .await
            .map_err(|e| anyhow::anyhow!("starting the engine: {e}"))?;
        sim.attach(engine.sink());
        let sim_messenger = Arc::new(SimMessenger::new(settings.sim.seed, Arc::clone(&clock)));
        let runner = Runner::new(
            Arc::clone(&store),
            messengers(&settings, &sim_messenger)?,
            Arc::clone(&clock),
        );
        sim_messenger.attach(Arc::new(RunnerSink(Arc::clone(&runner))));
        let shutdown = CancellationToken::new();
        tokio::spawn(Arc::clone(&runner).run(shutdown.child_token()));
        let twilio = settings
            .twilio
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect::<HashMap<_, _>>();
        let state = AppState::new(Inner {
            auth: Auth::new(
                settings.tokens.clone(),
                settings.rate_limit_per_second,
                settings.provider_rate_limit_per_second,
            ),
            metrics: crate::metrics::handle(),
            started_at: clock.now(),
            imports: Arc::new(tokio::sync::Semaphore::new(crate::import::MAX_IMPORTS)),
            shutdown,
            messaging: runner,
            engine,
            store,
            leases,
            twilio,
            settings,
        });
        Ok(Self {
            state,
            sim,
            sim_messenger,
            generated_token,
        })
    }

    pub fn router(&self) -> Router {
        crate::routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down in order.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let cancel = self.state.shutdown.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            cancel.cancel();
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(signal)
            .await;
        self.state.shutdown.cancel();
        self.close().await;
        served.context("serving HTTP")
    }

    /// Stops the engine and flushes storage.
    pub async fn close(&self) {
        self.sim.detach();
        self.sim_messenger.detach();
        self.state.engine.shutdown().await;
        if let Err(e) = self.state.store.close().await {
            tracing::error!(error = %e, "closing storage");
        }
        tracing::info!("stopped");
    }
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that resolves on either.
///
/// The handlers are registered before the caller announces that it listens: a handler first
/// installed when the future is polled left a window in which SIGTERM killed the process with
/// the default action instead of a graceful stop (seen in CI under load).
pub fn termination() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("installing SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("installing SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
