//! The comparison at the end of a chaos run: the simulator's journal of every create-call
//! request against storage (opened read-side once the engine has stopped), and the harness's
//! own record of what the API accepted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use dialer_engine::{AuditKind, Call, CallId, CallOrigin, CampaignId, Clock, Disposition};
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::{ContactStore, EventStore, Store};

use super::{ChaosConfig, Seen};
use crate::sim::{Stats, read_journal};

/// Dialing resumes this soon (real seconds) after Redis answers again.
pub const REDIS_RESUME_SECS: f64 = 1.0;

/// What a chaos run found. It passes when nothing was lost, nothing was dialed beyond what
/// storage recorded, no answered call was dialed again, the cap held and nothing is left over.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub contacts: u64,
    pub kills: usize,
    pub accepted_one_offs: usize,
    pub unanswered_requests: u64,
    pub refused_requests: u64,
    pub refused_examples: Vec<String>,
    pub calls: usize,
    /// Attempts recorded in storage, and calls placed as the simulator saw them.
    pub attempts_recorded: u64,
    pub calls_placed: u64,
    pub create_requests: u64,
    pub repeated_keys: u64,
    /// Accepted (201) call ids not in storage, and contacts with no call.
    pub lost: Vec<String>,
    /// Contacts with more than one call.
    pub contacts_called_twice: u64,
    /// Attempts placed more than once, and placements beyond the attempts storage recorded
    /// (or of calls it does not know).
    pub duplicate_dials: u64,
    pub unrecorded_dials: u64,
    pub answered_dialed_again: u64,
    pub peak_concurrency: u64,
    pub cap: u32,
    pub peak_calls_per_second: u64,
    /// Calls still pending past their due time, or still in flight, at the end.
    pub overdue: Vec<String>,
    pub in_flight_at_end: Vec<String>,
    /// Real seconds from Redis answering again (empty) to the next call placed, per outage.
    pub redis_resume_secs: Vec<f64>,
    /// The longest wait of a retry past its due time, down time excluded (simulated seconds).
    pub max_retry_lag_secs: f64,
    pub outcomes: BTreeMap<String, u64>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.contacts_called_twice == 0
            && self.duplicate_dials == 0
            && self.unrecorded_dials == 0
            && self.answered_dialed_again == 0
            && self.peak_concurrency <= u64::from(self.cap)
            && self.overdue.is_empty()
            && self.in_flight_at_end.is_empty()
            && self
                .redis_resume_secs
                .iter()
                .all(|s| *s <= REDIS_RESUME_SECS)
    }
}

fn first<T: fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(5).map(ToString::to_string).collect();
    if items.len() > 5 {
        format!("{} …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
        writeln!(
            f,
            "chaos run: {}",
            if self.passed() { "PASSED" } else { "FAILED" }
        )?;
        writeln!(
            f,
            "  accepted: {} contacts, {} one-off calls answered 201 ({} requests unanswered while the engine was down, {} refused{})",
            self.contacts,
            self.accepted_one_offs,
            self.unanswered_requests,
            self.refused_requests,
            if self.refused_examples.is_empty() {
                String::new()
            } else {
                format!(": {}", first(&self.refused_examples))
            }
        )?;
        writeln!(f, "  engine killed (-9) or stopped {} times", self.kills)?;
        writeln!(
            f,
            "  calls: {} stored, {} attempts recorded; the provider saw {} create requests, placed {} calls, {} repeats of a known key",
            self.calls,
            self.attempts_recorded,
            self.create_requests,
            self.calls_placed,
            self.repeated_keys
        )?;
        writeln!(
            f,
            "  lost: {} [{}] {}",
            self.lost.len(),
            mark(self.lost.is_empty()),
            first(&self.lost)
        )?;
        writeln!(
            f,
            "  contacts called twice: {} [{}]",
            self.contacts_called_twice,
            mark(self.contacts_called_twice == 0)
        )?;
        writeln!(
            f,
            "  duplicate dials of one attempt: {} [{}]; dials storage did not record: {} [{}]",
            self.duplicate_dials,
            mark(self.duplicate_dials == 0),
            self.unrecorded_dials,
            mark(self.unrecorded_dials == 0)
        )?;
        writeln!(
            f,
            "  answered calls dialed again: {} [{}]",
            self.answered_dialed_again,
            mark(self.answered_dialed_again == 0)
        )?;
        writeln!(
            f,
            "  peak concurrency {} against a cap of {} [{}]; peak {} calls in one second",
            self.peak_concurrency,
            self.cap,
            mark(self.peak_concurrency <= u64::from(self.cap)),
            self.peak_calls_per_second
        )?;
        writeln!(
            f,
            "  overdue at the end: {} [{}] {}; in flight at the end: {} [{}] {}",
            self.overdue.len(),
            mark(self.overdue.is_empty()),
            first(&self.overdue),
            self.in_flight_at_end.len(),
            mark(self.in_flight_at_end.is_empty()),
            first(&self.in_flight_at_end)
        )?;
        for secs in &self.redis_resume_secs {
            writeln!(
                f,
                "  dialing resumed {secs:.2} s after Redis came back empty [{}]",
                mark(*secs <= REDIS_RESUME_SECS)
            )?;
        }
        writeln!(
            f,
            "  longest wait of a retry past its due time, down time excluded: {:.1} s (simulated)",
            self.max_retry_lag_secs
        )?;
        write!(f, "  outcomes placed: {:?}", self.outcomes)
    }
}

/// Simulated time for a real instant, on the run's clock.
fn simulated(real: DateTime<Utc>, epoch: DateTime<Utc>, speed: u32) -> DateTime<Utc> {
    epoch + (real - epoch) * i32::try_from(speed).unwrap_or(i32::MAX)
}

pub(super) async fn check(
    c: &ChaosConfig,
    data: &Path,
    journal: &Path,
    campaign: i64,
    seen: &Seen,
    stats: &Stats,
) -> anyhow::Result<Report> {
    let now_real = dialer_actors::clock::SystemClock.now();
    let store = EmbeddedStore::open(&EmbeddedConfig::new(data), now_real)?;
    let campaign = CampaignId::new(campaign)?;
    let mut calls: Vec<Call> = Vec::new();
    crate::harness::each_call(&store, campaign, |call| calls.push(call)).await?;
    let by_id: HashMap<String, &Call> = calls.iter().map(|c| (c.call_id.to_string(), c)).collect();
    let mut report = Report {
        contacts: store.count_contacts(campaign).await?,
        kills: seen.down.len(),
        accepted_one_offs: seen.accepted.len(),
        unanswered_requests: seen.unanswered,
        refused_requests: seen.refused,
        refused_examples: seen.reasons.clone(),
        calls: calls.len(),
        attempts_recorded: calls.iter().map(|c| u64::from(c.attempt_count)).sum(),
        calls_placed: stats.calls_placed,
        create_requests: stats.requests,
        repeated_keys: stats.repeated_keys,
        answered_dialed_again: stats.answered_calls_dialed_again,
        peak_concurrency: stats.peak_simultaneous_calls,
        cap: c.cap,
        peak_calls_per_second: stats.peak_calls_in_one_second,
        outcomes: stats.outcomes.clone(),
        ..Report::default()
    };
    // Lost: an accepted call that is not stored; a contact without a call.
    report.lost = seen
        .accepted
        .iter()
        .filter(|id| !by_id.contains_key(*id))
        .map(|id| format!("accepted call {id} not stored"))
        .collect();
    let mut per_contact: HashMap<i64, u64> = HashMap::new();
    for call in calls.iter().filter(|c| c.origin == CallOrigin::Campaign) {
        if let Some(contact) = call.contact_id {
            *per_contact.entry(contact.get()).or_default() += 1;
        }
    }
    let mut after = None;
    loop {
        let page = store.contacts_page(campaign, after, 5_000).await?;
        let Some(last) = page.last().map(|c| c.id) else {
            break;
        };
        after = Some(last);
        for contact in page {
            match per_contact.get(&contact.id.get()).copied().unwrap_or(0) {
                0 => report
                    .lost
                    .push(format!("contact {} has no call", contact.id)),
                1 => {}
                _ => report.contacts_called_twice += 1,
            }
        }
    }
    // Left over at the end: in flight, or pending past its due time (by a minute's grace).
    let now = seen
        .epoch
        .map_or(now_real, |epoch| simulated(now_real, epoch, c.speed));
    for call in &calls {
        if call.status.is_live() {
            report
                .in_flight_at_end
                .push(format!("{} {}", call.call_id, call.status));
        } else if call.status.is_pending()
            && call
                .due_at
                .is_some_and(|d| d < now - chrono::Duration::minutes(1))
        {
            report.overdue.push(format!(
                "{} {} due {}",
                call.call_id,
                call.status,
                call.due_at.map_or_else(String::new, |d| d.to_rfc3339())
            ));
        }
    }
    // The witness against storage.
    let entries = read_journal(journal)?;
    let mut placed: HashMap<(String, u32), u64> = HashMap::new();
    for e in entries.iter().filter(|e| e.result == "placed") {
        *placed.entry((e.call_id.clone(), e.attempt)).or_default() += 1;
    }
    let mut attempts_placed: HashMap<&str, HashSet<u32>> = HashMap::new();
    for ((call_id, attempt), n) in &placed {
        report.duplicate_dials += n - 1;
        attempts_placed
            .entry(call_id.as_str())
            .or_default()
            .insert(*attempt);
    }
    for (call_id, attempts) in &attempts_placed {
        match by_id.get(*call_id) {
            Some(call) => {
                let recorded = call.attempt_count;
                report.unrecorded_dials += attempts
                    .iter()
                    .filter(|a| **a > recorded || **a == 0)
                    .count() as u64;
            }
            None => report.unrecorded_dials += attempts.len() as u64,
        }
    }
    // How soon dialing resumed after Redis came back: the first placement after it.
    if let Some(epoch) = seen.epoch {
        let speed = f64::from(c.speed.max(1));
        for back in &seen.redis_back {
            let back_ms = simulated(*back, epoch, c.speed).timestamp_millis();
            let next = entries
                .iter()
                .filter(|e| e.result == "placed" && e.sim_ms >= back_ms)
                .map(|e| e.sim_ms)
                .min();
            report
                .redis_resume_secs
                .push(next.map_or(f64::INFINITY, |at| (at - back_ms) as f64 / 1000.0 / speed));
        }
    }
    // How long retries waited past their due time, the engine's down time excluded.
    if let Some(epoch) = seen.epoch {
        let down: Vec<(DateTime<Utc>, DateTime<Utc>)> = seen
            .down
            .iter()
            .map(|(a, b)| (simulated(*a, epoch, c.speed), simulated(*b, epoch, c.speed)))
            .collect();
        let mut lag = 0.0f64;
        for e in entries
            .iter()
            .filter(|e| e.result == "placed" && e.attempt > 1)
        {
            let Some(call) = by_id.get(e.call_id.as_str()) else {
                continue;
            };
            let Some(due) = retry_due(&store, call.call_id, e.attempt - 1).await? else {
                continue;
            };
            let Some(dialed) = DateTime::<Utc>::from_timestamp_millis(e.sim_ms) else {
                continue;
            };
            let downtime: chrono::Duration = down
                .iter()
                .map(|(a, b)| {
                    let (a, b) = ((*a).max(due), (*b).min(dialed));
                    if b > a {
                        b - a
                    } else {
                        chrono::Duration::zero()
                    }
                })
                .sum();
            let waited = (dialed - due - downtime).num_milliseconds() as f64 / 1000.0;
            lag = lag.max(waited);
        }
        report.max_retry_lag_secs = lag;
    }
    store.close().await?;
    Ok(report)
}

/// When attempt `attempt + 1` of a call was due: the retry its attempt `attempt` scheduled.
async fn retry_due(
    store: &EmbeddedStore,
    call: CallId,
    attempt: u32,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    Ok(store
        .events_for_call(call)
        .await?
        .into_iter()
        .filter(|a| a.attempt == attempt)
        .find_map(|a| match a.kind {
            AuditKind::Ended {
                disposition: Disposition::RetryAt { at },
                ..
            } => Some(at),
            _ => None,
        }))
}
