//! The storage traits on ScyllaDB: reads walk the per-query tables partition by partition,
//! writes other than `commit` are single statements or lightweight transactions.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallId, Campaign, CampaignId, CampaignState, ContactId, NewCampaign,
    PhoneNumber,
};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryRowsResult;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlValue, Row};
use uuid::Uuid;

use super::rows::{
    CAMPAIGN_BUCKET, CONTACT_BUCKET, CallRow, CampaignRow, ContactRow, DAY_MS, DNC_BUCKETS, DncRow,
    EventRow, HOUR_MS, OPEN_SHARDS, Values, big, contact_id_of, contact_seq, created_ms,
    dnc_bucket, int, open_shard, text, uuid,
};
use super::{ScyllaStore, unavailable};
use crate::decode::{attributes_json, ms, settings_json};
use crate::error::{Result, StorageError};
use crate::model::{
    AddContact, CallFilter, Contact, DncEntry, DncKind, DueCall, NewContact, WriteBatch,
};
use crate::traits::{
    CallStore, CampaignStore, ContactStore, CounterStore, DncStore, EventStore, ScheduleStore,
    Store,
};

/// How many partitions one listing request may walk before it answers with what it found.
const MAX_PARTITIONS_PER_PAGE: usize = 400;
/// Ids reserved per sequence round trip for contacts (one LWT per block, not per contact).
const CONTACT_BLOCK: i64 = 1_000;

fn values<const N: usize>(pairs: [(&'static str, Option<CqlValue>); N]) -> Values {
    HashMap::from(pairs)
}

fn lim(limit: usize) -> Option<CqlValue> {
    int(i64::try_from(limit).unwrap_or(i64::from(i32::MAX)))
}

fn rows_of<R>(result: &QueryRowsResult) -> Result<Vec<R>>
where
    R: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    result
        .rows::<R>()
        .map_err(unavailable)?
        .map(|r| r.map_err(unavailable))
        .collect()
}

/// Whether a lightweight transaction applied, and the row it saw when it did not.
fn lwt(result: &QueryRowsResult) -> Result<(bool, HashMap<String, Option<CqlValue>>)> {
    let names: Vec<String> = result
        .column_specs()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let Some(row) = result.maybe_first_row::<Row>().map_err(unavailable)? else {
        return Err(unavailable("a lightweight transaction returned no row"));
    };
    let applied = matches!(row.columns.first(), Some(Some(CqlValue::Boolean(true))));
    Ok((applied, names.into_iter().zip(row.columns).collect()))
}

impl ScyllaStore {
    async fn run(&self, st: &PreparedStatement, v: Values) -> Result<QueryRowsResult> {
        let result = self
            .session
            .execute_unpaged(st, v)
            .await
            .map_err(unavailable)?;
        result.into_rows_result().map_err(unavailable)
    }

    async fn exec(&self, st: &PreparedStatement, v: Values) -> Result<()> {
        self.session
            .execute_unpaged(st, v)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Reserves `n` consecutive ids of sequence `name` (a compare-and-set loop); the first.
    async fn allocate(&self, name: &str, n: i64) -> Result<i64> {
        for _ in 0..64 {
            let found = self
                .run(&self.st.seq_get, values([("name", text(name))]))
                .await?;
            match found
                .maybe_first_row::<(Option<i64>,)>()
                .map_err(unavailable)?
                .and_then(|r| r.0)
            {
                None => {
                    let r = self
                        .run(
                            &self.st.seq_init,
                            values([("name", text(name)), ("next", big(1 + n))]),
                        )
                        .await?;
                    if lwt(&r)?.0 {
                        return Ok(1);
                    }
                }
                Some(current) => {
                    let v = values([
                        ("next", big(current + n)),
                        ("name", text(name)),
                        ("expected", big(current)),
                    ]);
                    if lwt(&self.run(&self.st.seq_cas, v).await?)?.0 {
                        return Ok(current);
                    }
                }
            }
        }
        Err(StorageError::Conflict(format!(
            "sequence {name}: too much contention"
        )))
    }

    /// The highest id issued by a sequence (0 when none).
    async fn sequence_high(&self, name: &str) -> Result<i64> {
        let found = self
            .run(&self.st.seq_get, values([("name", text(name))]))
            .await?;
        Ok(found
            .maybe_first_row::<(Option<i64>,)>()
            .map_err(unavailable)?
            .and_then(|r| r.0)
            .map_or(0, |n| n - 1))
    }

    pub(crate) async fn fetch_campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
        let v = values([
            ("bucket", big(id.get() / CAMPAIGN_BUCKET)),
            ("id", big(id.get())),
        ]);
        let rows = self.run(&self.st.campaign_get, v).await?;
        rows.maybe_first_row::<CampaignRow>()
            .map_err(unavailable)?
            .map(CampaignRow::into_campaign)
            .transpose()
    }

    async fn put_campaign(&self, c: &Campaign) -> Result<()> {
        let v = values([
            ("bucket", big(c.id.get() / CAMPAIGN_BUCKET)),
            ("id", big(c.id.get())),
            ("name", text(&c.name)),
            ("description", text(&c.description)),
            ("is_active", Some(CqlValue::Boolean(c.is_active))),
            ("state", text(c.state.as_str())),
            ("settings", text(settings_json(&c.settings)?)),
            ("dial_cursor", c.dial_cursor.and_then(|id| big(id.get()))),
            ("created_at", big(ms(c.created_at))),
            ("updated_at", big(ms(c.updated_at))),
        ]);
        self.exec(&self.st.campaign_put, v).await
    }

    async fn calls_in(&self, st: &PreparedStatement, v: Values) -> Result<Vec<Call>> {
        rows_of::<CallRow>(&self.run(st, v).await?)?
            .into_iter()
            .map(CallRow::into_call)
            .collect()
    }

    /// Partitions to walk for a listing, newest first: a campaign's days or all hours.
    async fn partitions(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
    ) -> Result<Vec<(bool, i64)>> {
        let start = before.map_or(i64::MAX, created_ms);
        match filter.campaign_id {
            Some(campaign) => {
                let day = i32::try_from(start / DAY_MS).unwrap_or(i32::MAX);
                let v = values([
                    ("campaign_id", big(campaign.get())),
                    ("day", int(i64::from(day))),
                ]);
                Ok(
                    rows_of::<(i32,)>(&self.run(&self.st.campaign_days, v).await?)?
                        .into_iter()
                        .map(|(d,)| (true, i64::from(d)))
                        .collect(),
                )
            }
            None => {
                let hour = i32::try_from(start / HOUR_MS).unwrap_or(i32::MAX);
                Ok(rows_of::<(i32,)>(
                    &self
                        .run(
                            &self.st.call_hours,
                            values([("hour", int(i64::from(hour)))]),
                        )
                        .await?,
                )?
                .into_iter()
                .map(|(h,)| (false, i64::from(h)))
                .collect())
            }
        }
    }
}

/// The largest v7 uuid: "before everything" for a first page.
fn max_uuid() -> Uuid {
    Uuid::from_u128(0x_ffff_ffff_ffff_7fff_bfff_ffff_ffff_ffff)
}

#[async_trait]
impl CampaignStore for ScyllaStore {
    async fn create_campaign(&self, new: NewCampaign, now: DateTime<Utc>) -> Result<Campaign> {
        self.open()?;
        let id = CampaignId::new(self.allocate("campaign", 1).await?)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let c = Campaign {
            id,
            name: new.name,
            description: new.description,
            is_active: new.is_active,
            state: CampaignState::Draft,
            settings: new.settings,
            dial_cursor: None,
            created_at: now,
            updated_at: now,
        };
        self.put_campaign(&c).await?;
        Ok(c)
    }

    async fn get_campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
        self.fetch_campaign(id).await
    }

    async fn list_campaigns(&self, after: Option<CampaignId>, limit: u32) -> Result<Vec<Campaign>> {
        let high = self.sequence_high("campaign").await?;
        let mut out = Vec::new();
        let mut after = after.map_or(0, |a| a.get());
        let mut bucket = after / CAMPAIGN_BUCKET;
        while out.len() < limit as usize && bucket <= high / CAMPAIGN_BUCKET {
            let v = values([
                ("bucket", big(bucket)),
                ("after", big(after)),
                ("lim", lim(limit as usize - out.len())),
            ]);
            for row in rows_of::<CampaignRow>(&self.run(&self.st.campaign_page, v).await?)? {
                out.push(row.into_campaign()?);
            }
            bucket += 1;
            after = 0;
        }
        Ok(out)
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<()> {
        self.open()?;
        let existing =
            self.fetch_campaign(campaign.id)
                .await?
                .ok_or_else(|| StorageError::NotFound {
                    what: "campaign",
                    id: campaign.id.to_string(),
                })?;
        self.put_campaign(&Campaign {
            created_at: existing.created_at,
            ..campaign.clone()
        })
        .await
    }
}

#[async_trait]
impl ContactStore for ScyllaStore {
    async fn add_contacts(
        &self,
        campaign: CampaignId,
        contacts: Vec<NewContact>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AddContact>> {
        self.open()?;
        if self.fetch_campaign(campaign).await?.is_none() {
            return Err(StorageError::NotFound {
                what: "campaign",
                id: campaign.to_string(),
            });
        }
        let c = campaign.get();
        let sequence = format!("contacts:{c}");
        let (mut next, mut end) = (0i64, 0i64);
        let mut out = Vec::with_capacity(contacts.len());
        for new in contacts {
            if next == end {
                next = self.allocate(&sequence, CONTACT_BLOCK).await?;
                end = next + CONTACT_BLOCK;
            }
            let id = contact_id_of(c, next);
            let phone = new.phone_number.as_str().to_owned();
            let claim = values([
                ("campaign_id", big(c)),
                ("phone", text(&phone)),
                ("id", big(id)),
            ]);
            let (applied, seen) = lwt(&self.run(&self.st.contact_claim, claim).await?)?;
            if applied {
                next += 1;
                let v = values([
                    ("campaign_id", big(c)),
                    ("bucket", big(contact_seq(id) / CONTACT_BUCKET)),
                    ("id", big(id)),
                    ("phone", text(&phone)),
                    ("attributes", text(attributes_json(&new.attributes)?)),
                    ("added_at", big(ms(now))),
                ]);
                self.exec(&self.st.contact_put, v).await?;
                out.push(AddContact::Added(
                    ContactId::new(id).map_err(|e| StorageError::Corrupt(e.to_string()))?,
                ));
                continue;
            }
            let Some(Some(CqlValue::BigInt(existing))) = seen.get("id").cloned() else {
                return Err(StorageError::Corrupt(format!(
                    "contacts_by_phone row for {} has no id",
                    new.phone_number.masked()
                )));
            };
            if !new.attributes.is_empty() {
                let key = [
                    ("campaign_id", big(c)),
                    ("bucket", big(contact_seq(existing) / CONTACT_BUCKET)),
                    ("id", big(existing)),
                ];
                let current = self.run(&self.st.contact_get, values(key.clone())).await?;
                let mut attrs = match current
                    .maybe_first_row::<ContactRow>()
                    .map_err(unavailable)?
                {
                    Some(row) => row.into_contact()?.attributes,
                    None => crate::model::Attributes::new(),
                };
                attrs.extend(new.attributes);
                let mut v = values(key);
                v.insert("attributes", text(attributes_json(&attrs)?));
                self.exec(&self.st.contact_attrs, v).await?;
            }
            out.push(AddContact::Merged(
                ContactId::new(existing).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            ));
        }
        Ok(out)
    }

    async fn contacts_page(
        &self,
        campaign: CampaignId,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let c = campaign.get();
        let high = self.sequence_high(&format!("contacts:{c}")).await?;
        let mut after = after.map_or(contact_id_of(c, 0), |a| a.get());
        let mut bucket = contact_seq(after) / CONTACT_BUCKET;
        let mut out = Vec::new();
        while out.len() < limit as usize && bucket <= high / CONTACT_BUCKET {
            let v = values([
                ("campaign_id", big(c)),
                ("bucket", big(bucket)),
                ("after", big(after)),
                ("lim", lim(limit as usize - out.len())),
            ]);
            for row in rows_of::<ContactRow>(&self.run(&self.st.contact_page, v).await?)? {
                out.push(row.into_contact()?);
            }
            bucket += 1;
            after = contact_id_of(c, 0);
        }
        Ok(out)
    }

    async fn get_contact(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>> {
        let c = campaign.get();
        let found = self
            .run(
                &self.st.contact_by_phone,
                values([("campaign_id", big(c)), ("phone", text(phone.as_str()))]),
            )
            .await?;
        let Some((id,)) = found.maybe_first_row::<(i64,)>().map_err(unavailable)? else {
            return Ok(None);
        };
        let key = values([
            ("campaign_id", big(c)),
            ("bucket", big(contact_seq(id) / CONTACT_BUCKET)),
            ("id", big(id)),
        ]);
        let row = self.run(&self.st.contact_get, key).await?;
        row.maybe_first_row::<ContactRow>()
            .map_err(unavailable)?
            .map(ContactRow::into_contact)
            .transpose()
    }

    async fn count_contacts(&self, campaign: CampaignId) -> Result<u64> {
        let c = campaign.get();
        let high = self.sequence_high(&format!("contacts:{c}")).await?;
        let mut total = 0u64;
        for bucket in 0..=(high / CONTACT_BUCKET) {
            let rows = self
                .run(
                    &self.st.contact_count,
                    values([("campaign_id", big(c)), ("bucket", big(bucket))]),
                )
                .await?;
            let (n,) = rows.first_row::<(i64,)>().map_err(unavailable)?;
            total += u64::try_from(n).unwrap_or(0);
        }
        Ok(total)
    }
}

#[async_trait]
impl CallStore for ScyllaStore {
    async fn get_call(&self, id: CallId) -> Result<Option<Call>> {
        Ok(self
            .calls_in(&self.st.call_get, values([("call_id", uuid(id))]))
            .await?
            .into_iter()
            .next())
    }

    async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let mut out = Vec::new();
        let mut cursor = before.map_or_else(max_uuid, |b| *b.as_uuid());
        for (by_campaign, key) in self
            .partitions(filter, before)
            .await?
            .into_iter()
            .take(MAX_PARTITIONS_PER_PAGE)
        {
            // Read in pages of the remaining size until the partition is exhausted or full.
            loop {
                let want = limit as usize - out.len();
                let mut v = values([
                    ("before", Some(CqlValue::Uuid(cursor))),
                    ("lim", lim(want.max(50))),
                ]);
                let st = if by_campaign {
                    v.insert("campaign_id", filter.campaign_id.and_then(|c| big(c.get())));
                    v.insert("day", int(key));
                    &self.st.call_by_campaign_page
                } else {
                    v.insert("hour", int(key));
                    &self.st.call_by_hour_page
                };
                let page = self.calls_in(st, v).await?;
                let read = page.len();
                for call in page {
                    cursor = *call.call_id.as_uuid();
                    if filter.matches(&call) {
                        out.push(call);
                        if out.len() == limit as usize {
                            return Ok(out);
                        }
                    }
                }
                if read < want.max(50) {
                    break;
                }
            }
            cursor = max_uuid();
        }
        Ok(out)
    }

    async fn open_calls(&self, after: Option<CallId>, limit: u32) -> Result<Vec<Call>> {
        let mut out = Vec::new();
        let (mut shard, mut cursor) = match after {
            Some(a) => (open_shard(a), *a.as_uuid()),
            None => (0, Uuid::nil()),
        };
        while shard < OPEN_SHARDS && out.len() < limit as usize {
            let v = values([
                ("shard", int(shard)),
                ("after", Some(CqlValue::Uuid(cursor))),
                ("lim", lim(limit as usize - out.len())),
            ]);
            out.extend(self.calls_in(&self.st.call_open_page, v).await?);
            shard += 1;
            cursor = Uuid::nil();
        }
        Ok(out)
    }

    async fn latest_call_to(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<Call>> {
        let v = values([
            ("campaign_id", big(campaign.get())),
            ("phone", text(phone.as_str())),
            ("since", big(ms(since))),
        ]);
        let found = self.run(&self.st.call_by_phone_latest, v).await?;
        match found.maybe_first_row::<(Uuid,)>().map_err(unavailable)? {
            Some((id,)) => self.get_call(CallId::from_uuid(id)).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl EventStore for ScyllaStore {
    async fn events_for_call(&self, id: CallId) -> Result<Vec<CallAudit>> {
        let rows = self
            .run(&self.st.events_of, values([("call_id", uuid(id))]))
            .await?;
        rows_of::<EventRow>(&rows)?
            .into_iter()
            .map(EventRow::into_audit)
            .collect()
    }
}

#[async_trait]
impl ScheduleStore for ScyllaStore {
    async fn due_calls(
        &self,
        before: DateTime<Utc>,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
    ) -> Result<Vec<DueCall>> {
        let from_hour = after.map_or(0, |(t, _)| ms(t) / HOUR_MS);
        let v = values([("from", big(from_hour)), ("to", big(ms(before) / HOUR_MS))]);
        let hours = rows_of::<(i64,)>(&self.run(&self.st.schedule_hours, v).await?)?;
        let (mut after_due, mut after_id) =
            after.map_or((i64::MIN, Uuid::nil()), |(t, id)| (ms(t), *id.as_uuid()));
        let mut out = Vec::new();
        for (hour,) in hours {
            // CQL cannot bound `due_at` beside the tuple cursor, so the `before` bound is applied
            // here: rows come in due order, and the first one at or past it ends the walk.
            loop {
                if out.len() == limit as usize {
                    return Ok(out);
                }
                let want = limit as usize - out.len();
                let v = values([
                    ("hour", big(hour)),
                    ("after_due", big(after_due)),
                    ("after_id", Some(CqlValue::Uuid(after_id))),
                    ("lim", lim(want)),
                ]);
                let page = rows_of::<(i64, Uuid, i64, String)>(
                    &self.run(&self.st.schedule_page, v).await?,
                )?;
                let read = page.len();
                for (due, id, campaign, origin) in page {
                    if due >= ms(before) {
                        return Ok(out);
                    }
                    out.push(DueCall {
                        due_at: crate::decode::time("due_at", due)?,
                        call_id: CallId::from_uuid(id),
                        campaign_id: crate::decode::campaign_id("campaign_id", campaign)?,
                        origin: crate::decode::origin("origin", &origin)?,
                    });
                    (after_due, after_id) = (due, id);
                }
                if read < want {
                    break;
                }
            }
            (after_due, after_id) = (i64::MIN, Uuid::nil());
        }
        Ok(out)
    }
}

#[async_trait]
impl DncStore for ScyllaStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> Result<u32> {
        self.open()?;
        let mut added = 0;
        for e in entries {
            let v = values([
                ("bucket", int(dnc_bucket(e.phone_number.as_str()))),
                ("phone", text(e.phone_number.as_str())),
                ("kind", text(e.kind.as_str())),
                ("source", text(&e.source)),
                ("added_at", big(ms(e.added_at))),
            ]);
            if lwt(&self.run(&self.st.dnc_put, v).await?)?.0 {
                added += 1;
            }
        }
        Ok(added)
    }

    async fn remove_dnc(&self, phone: &PhoneNumber, kind: DncKind) -> Result<bool> {
        self.open()?;
        let v = values([
            ("bucket", int(dnc_bucket(phone.as_str()))),
            ("phone", text(phone.as_str())),
            ("kind", text(kind.as_str())),
        ]);
        Ok(lwt(&self.run(&self.st.dnc_delete, v).await?)?.0)
    }

    async fn check_dnc(&self, phone: &PhoneNumber) -> Result<Vec<DncEntry>> {
        let v = values([
            ("bucket", int(dnc_bucket(phone.as_str()))),
            ("phone", text(phone.as_str())),
        ]);
        rows_of::<DncRow>(&self.run(&self.st.dnc_of, v).await?)?
            .into_iter()
            .map(DncRow::into_entry)
            .collect()
    }

    async fn list_dnc(
        &self,
        kind: Option<DncKind>,
        after: Option<(PhoneNumber, DncKind)>,
        limit: u32,
    ) -> Result<Vec<DncEntry>> {
        // Order: bucket, then number and kind within it; the cursor's number gives its bucket.
        let (mut bucket, mut phone, mut k) = match &after {
            Some((p, k)) => (
                dnc_bucket(p.as_str()),
                p.as_str().to_owned(),
                k.as_str().to_owned(),
            ),
            None => (0, String::new(), String::new()),
        };
        let mut out = Vec::new();
        while bucket < DNC_BUCKETS && out.len() < limit as usize {
            let v = values([
                ("bucket", int(bucket)),
                ("after_phone", text(&phone)),
                ("after_kind", text(&k)),
                ("lim", lim(limit as usize)),
            ]);
            for row in rows_of::<DncRow>(&self.run(&self.st.dnc_page, v).await?)? {
                let e = row.into_entry()?;
                if kind.is_none_or(|want| e.kind == want) && out.len() < limit as usize {
                    out.push(e);
                }
            }
            bucket += 1;
            (phone, k) = (String::new(), String::new());
        }
        Ok(out)
    }
}

#[async_trait]
impl CounterStore for ScyllaStore {
    async fn counters(&self, campaign: CampaignId) -> Result<BTreeMap<String, i64>> {
        let rows = self
            .run(
                &self.st.counters_of,
                values([("campaign_id", big(campaign.get()))]),
            )
            .await?;
        Ok(rows_of::<(String, Counter)>(&rows)?
            .into_iter()
            .map(|(name, value)| (name, value.0))
            .collect())
    }
}

#[async_trait]
impl Store for ScyllaStore {
    async fn commit(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.commit_batch(batch).await
    }

    async fn ping(&self) -> Result<()> {
        self.open()?;
        self.sequence_high("campaign").await.map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "scylla"
    }
}
