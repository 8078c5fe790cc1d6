//! An engine on the in-memory store, in-process leases and the simulator, in paused time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dialer_actors::clock::ScaledClock;
use dialer_actors::provider::Providers;
use dialer_actors::provider::sim::SimProvider;
use dialer_actors::{Engine, EngineConfig, EngineDeps};
use dialer_engine::{
    CallingHours, Campaign, CampaignSettings, Clock, NewCampaign, Outcome, PhoneNumber,
    ProviderEvent, ProviderReport, RetryPolicy, SimProfile, ZonePolicy,
};
use dialer_storage::lease::InProcessLeases;
use dialer_storage::memory::MemoryStore;
use dialer_storage::{Attributes, CampaignStore, ContactStore, NewContact, Store};

/// Saturday 2026-06-06 00:00 UTC.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 6, 0, 0, 0).unwrap()
}

pub struct Harness {
    pub engine: Arc<Engine>,
    pub store: Arc<MemoryStore>,
    pub leases: Arc<InProcessLeases>,
    pub sim: Arc<SimProvider>,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    profile: SimProfile,
}

pub fn config() -> EngineConfig {
    EngineConfig {
        restart: dialer_engine::RestartPolicy {
            jitter: 0.0,
            ..Default::default()
        },
        ..EngineConfig::new("test-node".parse().unwrap())
    }
}

impl Harness {
    /// Every call of a campaign (up to 1,000), newest first, as storage holds them.
    pub async fn calls(&self, campaign: dialer_engine::CampaignId) -> Vec<dialer_engine::Call> {
        use dialer_storage::{CallFilter, CallStore};
        let filter = CallFilter {
            campaign_id: Some(campaign),
            ..CallFilter::default()
        };
        self.store.list_calls(&filter, None, 1000).await.unwrap()
    }

    pub async fn start(profile: SimProfile, config: EngineConfig) -> Self {
        Self::start_with(profile, config, |sim| sim).await
    }

    /// With a provider account limited to `cps` calls per second.
    pub async fn start_with_cps(profile: SimProfile, config: EngineConfig, cps: u32) -> Self {
        Self::start_with(profile, config, |sim| sim.with_max_cps(cps)).await
    }

    /// With the simulator made by `sim` from the default one.
    pub async fn start_with(
        profile: SimProfile,
        config: EngineConfig,
        sim: impl FnOnce(SimProvider) -> SimProvider,
    ) -> Self {
        // `DIALER_TEST_LOG=debug cargo test …` shows the engine's logs.
        if let Ok(filter) = std::env::var("DIALER_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::tokio(epoch()));
        let store = Arc::new(MemoryStore::new());
        let leases = Arc::new(InProcessLeases::new(Arc::clone(&clock)));
        let sim = Arc::new(sim(SimProvider::new(
            42,
            profile.clone(),
            Arc::clone(&clock),
        )));
        let engine = start_engine(&store, &leases, &sim, &clock, config.clone()).await;
        Self {
            engine,
            store,
            leases,
            sim,
            clock,
            config,
            profile,
        }
    }

    /// Drops the actor system and starts a new one on the same storage, leases and network.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the actor system (the network keeps its calls; their reports wait).
    pub async fn stop(&mut self) {
        self.sim.detach();
        self.engine.shutdown().await;
    }

    /// Starts a new actor system on the same storage, leases and network.
    pub async fn start_again(&mut self) {
        self.engine = start_engine(
            &self.store,
            &self.leases,
            &self.sim,
            &self.clock,
            self.config.clone(),
        )
        .await;
    }

    /// As after a crash of the process that also held the simulated network: a new simulator
    /// (the same seed: the same fates) that never saw the calls in flight, then a new engine.
    pub async fn crash_with_the_network(&mut self) {
        self.stop().await;
        self.sim = Arc::new(SimProvider::new(
            42,
            self.profile.clone(),
            Arc::clone(&self.clock),
        ));
        self.start_again().await;
    }

    pub async fn campaign(&self, settings: CampaignSettings, contacts: u32) -> Campaign {
        let campaign = self
            .store
            .create_campaign(
                NewCampaign {
                    name: "test".into(),
                    description: String::new(),
                    is_active: true,
                    settings,
                },
                self.clock.now(),
            )
            .await
            .unwrap();
        let batch: Vec<NewContact> = (0..contacts)
            .map(|i| NewContact {
                phone_number: number(i),
                attributes: Attributes::new(),
            })
            .collect();
        for chunk in batch.chunks(1000) {
            self.store
                .add_contacts(campaign.id, chunk.to_vec(), self.clock.now())
                .await
                .unwrap();
        }
        campaign
    }
}

async fn start_engine(
    store: &Arc<MemoryStore>,
    leases: &Arc<InProcessLeases>,
    sim: &Arc<SimProvider>,
    clock: &Arc<dyn Clock>,
    config: EngineConfig,
) -> Arc<Engine> {
    let deps = EngineDeps {
        store: Arc::clone(store) as Arc<dyn Store>,
        leases: Arc::clone(leases) as _,
        providers: Providers::new().with(Arc::clone(sim) as _),
        clock: Arc::clone(clock),
    };
    let engine = Engine::start(deps, config).await.unwrap();
    sim.attach(engine.sink());
    engine
}

/// Contact `i`'s number: distinct New York numbers.
pub fn number(i: u32) -> PhoneNumber {
    PhoneNumber::from_stored(&format!("+1212{:07}", 5_550_000 + i)).unwrap()
}

/// Settings that dial around the clock in UTC, retrying every `minutes` up to `attempts`.
pub fn settings(lines: u32, attempts: u32, minutes: u32) -> CampaignSettings {
    let retry = RetryPolicy::from_yaml(&format!(
        "max_attempts: {attempts}\nrules:\n  - {{day_of_week: daily, start_time: '00:00', end_time: '24:00', retry_interval_minutes: {minutes}}}\n"
    ))
    .unwrap();
    CampaignSettings {
        zone_policy: ZonePolicy::Campaign,
        time_zone: chrono_tz::UTC,
        calling_hours: all_day(),
        retry,
        max_concurrent: lines,
        ..CampaignSettings::default()
    }
}

pub fn all_day() -> CallingHours {
    serde_json::from_str(
        r#"[{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}]"#,
    )
    .unwrap()
}

/// Long enough for any campaign of these tests to finish (simulated).
pub const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// Calls of `talk` seconds, answered after 5 s.
pub fn talking(talk: u32) -> SimProfile {
    SimProfile {
        talk_min_secs: talk,
        talk_max_secs: talk,
        ..always_picked()
    }
}

/// An `http` provider's report that a call was answered and talked `secs` seconds.
pub fn picked_report(secs: u32) -> ProviderReport {
    ProviderReport {
        provider: "http".into(),
        raw_status: "PICKED".into(),
        event: Some(ProviderEvent::Ended {
            outcome: Outcome::Picked,
            duration_secs: secs,
            error_code: None,
        }),
        external_id: None,
        payload: None,
    }
}

/// A profile where every call is answered after 5 s and talks 30 s.
pub fn always_picked() -> SimProfile {
    SimProfile {
        picked: 1,
        disconnected: 0,
        rnr: 0,
        failed: 0,
        ring_min_ms: 5_000,
        ring_max_ms: 5_000,
        talk_min_secs: 30,
        talk_max_secs: 30,
    }
}

/// What the simulator's pure fate function says each contact's attempts will be, under a
/// policy that retries every failure until `max_attempts`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub dials: usize,
    pub by_outcome: std::collections::BTreeMap<dialer_engine::Outcome, u64>,
    pub picked: usize,
    pub exhausted: usize,
    /// Attempts per contact.
    pub attempts: Vec<u32>,
}

pub fn expected(
    sim: &SimProvider,
    profile: &SimProfile,
    contacts: u32,
    max_attempts: u32,
) -> Expected {
    let mut e = Expected::default();
    for i in 0..contacts {
        let mut attempt = 1;
        loop {
            let outcome = sim.outcome_for(&number(i), attempt, profile).outcome;
            e.dials += 1;
            *e.by_outcome.entry(outcome).or_default() += 1;
            if outcome == dialer_engine::Outcome::Picked {
                e.picked += 1;
                break;
            }
            if attempt == max_attempts {
                e.exhausted += 1;
                break;
            }
            attempt += 1;
        }
        e.attempts.push(attempt);
    }
    e
}

/// A mixed outcome profile with short timings.
pub fn mixed() -> SimProfile {
    SimProfile {
        picked: 55,
        disconnected: 10,
        rnr: 25,
        failed: 10,
        ring_min_ms: 2_000,
        ring_max_ms: 20_000,
        talk_min_secs: 10,
        talk_max_secs: 90,
    }
}

/// Waits (in paused time: instantly) for a campaign to reach `state`, failing after `limit`.
pub async fn wait_for(
    h: &Harness,
    id: dialer_engine::CampaignId,
    state: dialer_engine::CampaignState,
    limit: Duration,
) -> Campaign {
    tokio::time::timeout(limit, h.engine.wait_for_campaign(id, state))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "campaign {id} did not become {} within {limit:?}",
                state.as_str()
            )
        })
        .unwrap()
}
