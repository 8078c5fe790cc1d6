//! The storage traits. Every backend implements all of them; one contract suite
//! (`testsuite::contract`) checks each backend against the same expectations.
//!
//! Reads return `Ok(None)` / empty for absent records. Writes return once durable. Hot-path
//! writes (call states, audits, counters, dial cursors) travel together in a [`WriteBatch`]
//! through [`Store::commit`], which applies a batch atomically.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallId, Campaign, CampaignId, ContactId, Lane, NewCampaign, PhoneNumber,
};

use crate::error::Result;
use crate::model::{
    AddContact, CallFilter, CampaignDetails, Contact, DncEntry, DncKind, ListZone, NewContact,
    WriteBatch,
};

#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a campaign with the next id.
    async fn create_campaign(&self, new: NewCampaign, now: DateTime<Utc>) -> Result<Campaign>;
    async fn get_campaign(&self, id: CampaignId) -> Result<Option<Campaign>>;
    /// Ascending by id, strictly after `after`.
    async fn list_campaigns(&self, after: Option<CampaignId>, limit: u32) -> Result<Vec<Campaign>>;
    /// Changes what an operator may change — name, description, `is_active`, settings — and
    /// nothing else (never the state or the dial cursor, which the campaign's owner writes
    /// through [`Store::commit`]); returns the record as it now is. `NotFound` if absent.
    async fn update_campaign_details(
        &self,
        id: CampaignId,
        details: CampaignDetails,
        now: DateTime<Utc>,
    ) -> Result<Campaign>;
    /// Deletes a draft campaign that has no calls, with its contacts and counters: `Conflict`
    /// if it is not a draft or has a call; `false` if there is no such campaign.
    async fn delete_draft_campaign(&self, id: CampaignId) -> Result<bool>;
}

#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Adds contacts to a campaign, one result per input in order. A number already in the
    /// campaign keeps its id and gets the new attributes merged over its old ones.
    async fn add_contacts(
        &self,
        campaign: CampaignId,
        contacts: Vec<NewContact>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AddContact>>;
    /// Ascending by id, strictly after `after`.
    async fn contacts_page(
        &self,
        campaign: CampaignId,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>>;
    /// The zones the campaign's contacts are listed under (each contact under
    /// [`dialer_engine::dispatch::zone_key`] of its number), each with how far it has been made
    /// into calls (its [`crate::model::ListCursor`]), by key.
    async fn list_zones(&self, campaign: CampaignId) -> Result<Vec<ListZone>>;
    /// One zone's contacts, ascending by id, strictly after `after`: how a campaign pulls its
    /// list in pages.
    async fn zone_page(
        &self,
        campaign: CampaignId,
        zone: &str,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>>;
    async fn get_contact(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>>;
    async fn count_contacts(&self, campaign: CampaignId) -> Result<u64>;
}

#[async_trait]
pub trait CallStore: Send + Sync {
    async fn get_call(&self, id: CallId) -> Result<Option<Call>>;
    /// Newest first (call ids are time-ordered), strictly before `before`. Filtering on
    /// `status` is how calls are listed by status.
    async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>>;
    /// A campaign's calls in flight (DIALING, RINGING, IN_PROGRESS) by id, strictly after
    /// `after`: what its owner adopts after a restart.
    async fn live_calls(
        &self,
        campaign: CampaignId,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>>;
    /// Whether a campaign has any call that is not final (pending or in flight).
    async fn has_open_calls(&self, campaign: CampaignId) -> Result<bool>;
    /// The newest call to `phone` in `campaign` created at or after `since` (duplicate guard).
    async fn latest_call_to(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<Call>>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// A call's audit trail in the order it was written.
    async fn events_for_call(&self, id: CallId) -> Result<Vec<CallAudit>>;
}

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// The first `limit` pending calls (SCHEDULED, INITIATED, RETRYING) of one lane of a
    /// campaign, ascending by `(due_at, call_id)`, whether due yet or not: the order they are
    /// dialed in — from the start, or strictly after the key `after` (a reader topping up what
    /// it holds). The pending schedule is this index; nothing else holds it. `now` is the
    /// caller's clock: a backend that buckets the index by time may retire past, empty buckets.
    async fn pending_calls(
        &self,
        campaign: CampaignId,
        lane: Lane,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Call>>;
}

#[async_trait]
pub trait DncStore: Send + Sync {
    /// Adds entries; an existing (number, kind) keeps its first record. Returns how many were new.
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> Result<u32>;
    /// Removes one (number, kind); whether it was there.
    async fn remove_dnc(&self, phone: &PhoneNumber, kind: DncKind) -> Result<bool>;
    /// Every entry for a number (a number may be both on the DNC list and opted out).
    async fn check_dnc(&self, phone: &PhoneNumber) -> Result<Vec<DncEntry>>;
    /// In a stable backend-defined order, strictly after the entry `after`.
    async fn list_dnc(
        &self,
        kind: Option<DncKind>,
        after: Option<(PhoneNumber, DncKind)>,
        limit: u32,
    ) -> Result<Vec<DncEntry>>;
}

#[async_trait]
pub trait CounterStore: Send + Sync {
    /// A campaign's counters by name.
    async fn counters(&self, campaign: CampaignId) -> Result<BTreeMap<String, i64>>;
}

/// A complete backend.
#[async_trait]
pub trait Store:
    CampaignStore
    + ContactStore
    + CallStore
    + EventStore
    + ScheduleStore
    + DncStore
    + CounterStore
    + crate::audience::AudienceStore
    + crate::messages::MessageStore
{
    /// Applies a batch atomically; returns once it is durable.
    async fn commit(&self, batch: WriteBatch) -> Result<()>;
    /// Whether the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// Finishes pending writes and refuses new ones.
    async fn close(&self) -> Result<()>;
    /// `embedded`, `scylla` or `memory`.
    fn backend(&self) -> &'static str;
}
