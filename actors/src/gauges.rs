//! Gauges read from the engine's state at each scrape, never adjusted by hand: calls in flight
//! (the live routes), what each campaign's owner holds and how many of its lines are busy,
//! timers armed, the build. A campaign's series exist while its owner runs: an owner that stops
//! (its campaign completed, stopped or went idle) takes its series with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use dialer_engine::CampaignId;

pub const CALLS_ACTIVE: &str = "dialer_calls_active";
pub const CALLS_WAITING: &str = "dialer_calls_waiting";
pub const CAMPAIGN_LINES: &str = "dialer_campaign_lines";
pub const CAMPAIGN_LINES_BUSY: &str = "dialer_campaign_lines_busy";
pub const ENGINE_LINES: &str = "dialer_engine_lines";
pub const TIMERS_PENDING: &str = "dialer_timers_pending";
pub const BUILD_INFO: &str = "dialer_build_info";

/// (name, help) of every gauge rendered here.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        CALLS_ACTIVE,
        "Calls in flight (dialing, ringing or in progress) on this node.",
    ),
    (
        CALLS_WAITING,
        "Calls due and not dialed that a campaign's owner holds, by campaign and what they wait for (lines, rate_limit, calling_hours).",
    ),
    (
        CAMPAIGN_LINES,
        "Lines (concurrent calls) a campaign may use on this engine: its cap, within the engine's.",
    ),
    (
        CAMPAIGN_LINES_BUSY,
        "Lines of a campaign carrying a call or taking its leases, by campaign.",
    ),
    (
        ENGINE_LINES,
        "The engine's cap on concurrent calls (max_concurrent_calls).",
    ),
    (
        TIMERS_PENDING,
        "Actor timers armed and not fired or cancelled yet (call deadlines, status questions, campaign wake-ups).",
    ),
    (BUILD_INFO, "Always 1; the dialer's version as a label."),
];

/// What the reasons of `dialer_calls_waiting` are.
pub const WAITING_REASONS: [&str; 3] = ["lines", "rate_limit", "calling_hours"];

/// One campaign's gauges, as its owner last saw its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignGauges {
    /// When the earliest of the calls calling hours deferred may be dialed.
    pub hours_open_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Due calls the owner holds with no line to give them.
    pub waiting_lines: usize,
    /// Due calls held while the rate limit's bucket is empty.
    pub waiting_rate: usize,
    /// Calls held that calling hours deferred.
    pub waiting_hours: usize,
    pub lines: u32,
    pub lines_busy: usize,
}

/// Timers armed across the engine: one more when a timer task starts, one less when it ends
/// (fired or aborted) — a guard inside the task, so no way out can miss it.
pub(crate) static TIMERS: AtomicI64 = AtomicI64::new(0);

pub(crate) struct TimerGuard;

impl TimerGuard {
    pub(crate) fn new() -> Self {
        TIMERS.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        TIMERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Each running campaign owner's gauges.
#[derive(Debug, Default)]
pub(crate) struct StateGauges {
    campaigns: Mutex<BTreeMap<CampaignId, CampaignGauges>>,
}

impl StateGauges {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<CampaignId, CampaignGauges>> {
        self.campaigns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, id: CampaignId, gauges: CampaignGauges) {
        self.map().insert(id, gauges);
    }

    pub(crate) fn remove(&self, id: CampaignId) {
        self.map().remove(&id);
    }

    pub(crate) fn get(&self, id: CampaignId) -> Option<CampaignGauges> {
        self.map().get(&id).copied()
    }

    /// The gauges in the Prometheus text format (0.0.4), HELP and TYPE included.
    pub(crate) fn render(&self, active: usize, engine_lines: u32) -> String {
        let campaigns = self.map().clone();
        let mut out = String::new();
        let mut family = |name: &str, samples: &mut dyn Iterator<Item = (String, f64)>| {
            let help = DESCRIPTIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, h)| *h);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            CALLS_ACTIVE,
            &mut std::iter::once((String::new(), active as f64)),
        );
        family(
            CALLS_WAITING,
            &mut campaigns.iter().flat_map(|(id, g)| {
                let counts = [g.waiting_lines, g.waiting_rate, g.waiting_hours];
                WAITING_REASONS
                    .into_iter()
                    .zip(counts)
                    .map(move |(r, n)| (format!("{{campaign=\"{id}\",reason=\"{r}\"}}"), n as f64))
            }),
        );
        family(
            CAMPAIGN_LINES,
            &mut campaigns
                .iter()
                .map(|(id, g)| (format!("{{campaign=\"{id}\"}}"), f64::from(g.lines))),
        );
        family(
            CAMPAIGN_LINES_BUSY,
            &mut campaigns
                .iter()
                .map(|(id, g)| (format!("{{campaign=\"{id}\"}}"), g.lines_busy as f64)),
        );
        family(
            ENGINE_LINES,
            &mut std::iter::once((String::new(), f64::from(engine_lines))),
        );
        let timers = TIMERS.load(Ordering::Relaxed).max(0);
        family(
            TIMERS_PENDING,
            &mut std::iter::once((String::new(), timers as f64)),
        );
        family(
            BUILD_INFO,
            &mut std::iter::once((
                format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
                1.0,
            )),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_s_series_go_when_its_owner_does() {
        let gauges = StateGauges::default();
        let id = CampaignId::new(42).unwrap();
        gauges.set(
            id,
            CampaignGauges {
                hours_open_at: None,
                waiting_lines: 7,
                waiting_rate: 0,
                waiting_hours: 3,
                lines: 10,
                lines_busy: 10,
            },
        );
        let text = gauges.render(10, 100);
        assert!(text.contains(&format!(
            "dialer_calls_waiting{{campaign=\"{id}\",reason=\"lines\"}} 7"
        )));
        assert!(text.contains(&format!(
            "dialer_calls_waiting{{campaign=\"{id}\",reason=\"calling_hours\"}} 3"
        )));
        assert!(text.contains(&format!(
            "dialer_campaign_lines_busy{{campaign=\"{id}\"}} 10"
        )));
        assert!(text.contains("dialer_calls_active 10\n"));
        assert!(text.contains("dialer_engine_lines 100\n"));
        gauges.remove(id);
        let text = gauges.render(0, 100);
        assert!(!text.contains("campaign=\"42\""), "{text}");
        assert!(text.contains("# TYPE dialer_calls_waiting gauge"));
    }
}
