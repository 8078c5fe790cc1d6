//! An in-memory backend for tests (feature `testsuite`): the simplest implementation of the
//! traits, which makes it the model the other backends are checked against, and a store that
//! completes synchronously, so actor tests under paused tokio time stay deterministic.
//!
//! It is not durable and never used by `dialer serve`.

mod audience;
mod contacts;
mod messages;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallId, Campaign, CampaignId, ContactId, Lane, NewCampaign, PhoneNumber,
};

use crate::error::{Result, StorageError};
use crate::model::{
    CallFilter, CampaignDetails, Contact, DncEntry, DncKind, ListCursor, WriteBatch, pending_in,
    pending_key,
};
use crate::traits::{
    CallStore, CampaignStore, CounterStore, DncStore, EventStore, ScheduleStore, Store,
};

#[derive(Debug, Default)]
struct State {
    campaigns: BTreeMap<CampaignId, Campaign>,
    next_campaign: i64,
    contacts: BTreeMap<ContactId, Contact>,
    contact_by_phone: HashMap<(CampaignId, PhoneNumber), ContactId>,
    /// Each campaign's list zones and how far each was made into calls.
    zones: BTreeMap<(CampaignId, String), Option<ContactId>>,
    /// Each contact under its campaign and zone key, in id order.
    by_zone: std::collections::BTreeSet<(CampaignId, String, ContactId)>,
    next_contact: i64,
    calls: BTreeMap<CallId, Call>,
    events: HashMap<CallId, Vec<CallAudit>>,
    dnc: BTreeMap<(PhoneNumber, DncKind), DncEntry>,
    counters: BTreeMap<(CampaignId, String), i64>,
    audience: audience::Audience,
    messages: messages::Messages,
    closed: bool,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Fault injection: commits fail as unavailable while set.
    fail_commits: std::sync::atomic::AtomicBool,
    /// Fault injection: the next this-many campaign reads fail as unavailable.
    fail_campaign_reads: std::sync::atomic::AtomicU32,
    /// Fault injection: commits that move a dial cursor wait while set (a slow write).
    hold_cursors: std::sync::atomic::AtomicBool,
    /// Fault injection: the commit moving a dial cursor that brings this to 0 is refused.
    cursor_commits_to_failure: std::sync::atomic::AtomicU32,
    cursors_released: tokio::sync::Notify,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fault injection: every commit fails (`StorageError::Unavailable`) until turned off.
    pub fn fail_commits(&self, fail: bool) {
        self.fail_commits
            .store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    /// Fault injection: the next `n` reads of a campaign fail.
    pub fn fail_campaign_reads(&self, n: u32) {
        self.fail_campaign_reads
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Fault injection: commits that move a campaign's dial cursor (contacts made into calls)
    /// wait until this is turned off.
    pub fn hold_cursor_commits(&self, hold: bool) {
        self.hold_cursors
            .store(hold, std::sync::atomic::Ordering::SeqCst);
        if !hold {
            self.cursors_released.notify_waiters();
        }
    }

    /// Fault injection: of the commits that move a campaign's dial cursor from now on, the
    /// `n`-th is refused (once; 0: none) — as a conflict, which retrying does not mend.
    pub fn fail_cursor_commit(&self, n: u32) {
        self.cursor_commits_to_failure
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Counts a commit moving a dial cursor down to an injected failure: true when it is the one.
    fn cursor_commit_fails(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.cursor_commits_to_failure
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|n| n == 1)
    }

    async fn held(&self) {
        loop {
            let released = self.cursors_released.notified();
            if !self.hold_cursors.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            released.await;
        }
    }

    fn injected(flag: bool) -> Result<()> {
        if flag {
            Err(StorageError::Unavailable("injected fault".into()))
        } else {
            Ok(())
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.closed {
            Err(StorageError::Closed)
        } else {
            Ok(guard)
        }
    }
}

fn page<T: Clone>(items: impl Iterator<Item = T>, limit: u32) -> Vec<T> {
    items.take(limit as usize).collect()
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn create_campaign(&self, new: NewCampaign, now: DateTime<Utc>) -> Result<Campaign> {
        let mut s = self.state()?;
        s.next_campaign += 1;
        let id =
            CampaignId::new(s.next_campaign).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let c = Campaign {
            id,
            name: new.name,
            description: new.description,
            is_active: new.is_active,
            state: dialer_engine::CampaignState::Draft,
            settings: new.settings,
            dial_cursor: None,
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        s.campaigns.insert(id, c.clone());
        Ok(c)
    }

    async fn get_campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
        use std::sync::atomic::Ordering;
        let failing = self
            .fail_campaign_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Self::injected(failing)?;
        Ok(self.state()?.campaigns.get(&id).cloned())
    }

    async fn list_campaigns(&self, after: Option<CampaignId>, limit: u32) -> Result<Vec<Campaign>> {
        let s = self.state()?;
        Ok(page(
            s.campaigns
                .values()
                .filter(|c| after.is_none_or(|a| c.id > a))
                .cloned(),
            limit,
        ))
    }

    async fn update_campaign_details(
        &self,
        id: CampaignId,
        details: CampaignDetails,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        let mut s = self.state()?;
        let existing = s
            .campaigns
            .get_mut(&id)
            .ok_or_else(|| StorageError::NotFound {
                what: "campaign",
                id: id.to_string(),
            })?;
        existing.name = details.name;
        existing.description = details.description;
        existing.is_active = details.is_active;
        existing.settings = details.settings;
        existing.archived_at = details.archived_at;
        existing.updated_at = now;
        Ok(existing.clone())
    }

    async fn delete_draft_campaign(&self, id: CampaignId) -> Result<bool> {
        let mut s = self.state()?;
        let Some(campaign) = s.campaigns.get(&id) else {
            return Ok(false);
        };
        if campaign.state != dialer_engine::CampaignState::Draft {
            return Err(StorageError::Conflict(format!(
                "campaign {id} is {}: only a draft can be deleted (archive it instead)",
                campaign.state.as_str()
            )));
        }
        if s.calls.values().any(|c| c.campaign_id == id) {
            return Err(StorageError::Conflict(format!(
                "campaign {id} has calls: archive it instead, which keeps them"
            )));
        }
        s.contacts.retain(|_, c| c.campaign_id != id);
        s.contact_by_phone.retain(|(c, _), _| *c != id);
        s.zones.retain(|(c, _), _| *c != id);
        s.by_zone.retain(|(c, ..)| *c != id);
        s.counters.retain(|(c, _), _| *c != id);
        s.campaigns.remove(&id);
        Ok(true)
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn get_call(&self, id: CallId) -> Result<Option<Call>> {
        Ok(self.state()?.calls.get(&id).cloned())
    }

    async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let s = self.state()?;
        let items = s
            .calls
            .values()
            .rev()
            .filter(|c| before.is_none_or(|b| c.call_id < b) && filter.matches(c))
            .cloned();
        Ok(page(items, limit))
    }

    async fn live_calls(
        &self,
        campaign: CampaignId,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let s = self.state()?;
        let items = s
            .calls
            .values()
            .filter(|c| {
                c.campaign_id == campaign
                    && after.is_none_or(|a| c.call_id > a)
                    && c.status.is_live()
            })
            .cloned();
        Ok(page(items, limit))
    }

    async fn has_open_calls(&self, campaign: CampaignId) -> Result<bool> {
        let s = self.state()?;
        Ok(s.calls
            .values()
            .any(|c| c.campaign_id == campaign && !c.status.is_terminal()))
    }

    async fn latest_call_to(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<Call>> {
        let s = self.state()?;
        Ok(s.calls
            .values()
            .filter(|c| {
                c.campaign_id == campaign && &c.phone_number == phone && c.created_at >= since
            })
            .max_by_key(|c| (c.created_at, c.call_id))
            .cloned())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn events_for_call(&self, id: CallId) -> Result<Vec<CallAudit>> {
        Ok(self.state()?.events.get(&id).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn pending_calls(
        &self,
        campaign: CampaignId,
        lane: Lane,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Call>> {
        let s = self.state()?;
        let mut pending: Vec<&Call> = s
            .calls
            .values()
            .filter(|c| c.campaign_id == campaign && pending_in(c, lane))
            .filter(|c| after.is_none_or(|a| pending_key(c).is_some_and(|k| k > a)))
            .collect();
        pending.sort_unstable_by_key(|c| pending_key(c));
        Ok(page(pending.into_iter().cloned(), limit))
    }
}

#[async_trait]
impl DncStore for MemoryStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> Result<u32> {
        let mut s = self.state()?;
        let mut added = 0;
        for e in entries {
            let key = (e.phone_number.clone(), e.kind);
            if let std::collections::btree_map::Entry::Vacant(v) = s.dnc.entry(key) {
                v.insert(e);
                added += 1;
            }
        }
        Ok(added)
    }

    async fn remove_dnc(&self, phone: &PhoneNumber, kind: DncKind) -> Result<bool> {
        Ok(self.state()?.dnc.remove(&(phone.clone(), kind)).is_some())
    }

    async fn check_dnc(&self, phone: &PhoneNumber) -> Result<Vec<DncEntry>> {
        let s = self.state()?;
        Ok(s.dnc
            .values()
            .filter(|e| &e.phone_number == phone)
            .cloned()
            .collect())
    }

    async fn list_dnc(
        &self,
        kind: Option<DncKind>,
        after: Option<(PhoneNumber, DncKind)>,
        limit: u32,
    ) -> Result<Vec<DncEntry>> {
        let s = self.state()?;
        let items = s
            .dnc
            .iter()
            .filter(|(k, e)| {
                kind.is_none_or(|want| e.kind == want) && after.as_ref().is_none_or(|a| *k > a)
            })
            .map(|(_, e)| e.clone());
        Ok(page(items, limit))
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn counters(&self, campaign: CampaignId) -> Result<BTreeMap<String, i64>> {
        let s = self.state()?;
        Ok(s.counters
            .iter()
            .filter(|((c, _), _)| *c == campaign)
            .map(|((_, name), v)| (name.clone(), *v))
            .collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn commit(&self, batch: WriteBatch) -> Result<()> {
        if !batch.cursors.is_empty() {
            self.held().await;
            if self.cursor_commit_fails() {
                return Err(StorageError::Conflict("injected refusal".into()));
            }
        }
        Self::injected(self.fail_commits.load(std::sync::atomic::Ordering::SeqCst))?;
        let mut s = self.state()?;
        // Check before changing anything: a batch applies whole or not at all.
        if let Some(campaign) = batch.campaigns().find(|c| !s.campaigns.contains_key(c)) {
            return Err(StorageError::NotFound {
                what: "campaign",
                id: campaign.to_string(),
            });
        }
        for change in &batch.states {
            if let Some(c) = s.campaigns.get_mut(&change.campaign_id) {
                c.state = change.state;
                c.updated_at = change.at;
            }
        }
        for ListCursor {
            campaign_id,
            zone,
            contact,
        } in batch.cursors
        {
            if let Some(c) = s.campaigns.get_mut(&campaign_id) {
                c.dial_cursor = Some(c.dial_cursor.map_or(contact, |old| old.max(contact)));
            }
            let at = s.zones.entry((campaign_id, zone)).or_insert(None);
            *at = Some(at.map_or(contact, |old| old.max(contact)));
        }
        for call in batch.calls {
            s.calls.insert(call.call_id, call);
        }
        for audit in batch.audits {
            s.events.entry(audit.call_id).or_default().push(audit);
        }
        for d in batch.counters {
            *s.counters.entry((d.campaign_id, d.name)).or_insert(0) += d.delta;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.state().map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.state()?.closed = true;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
