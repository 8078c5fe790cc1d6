//! The storage traits on ScyllaDB: reads walk the per-query tables partition by partition,
//! writes other than `commit` are single statements or lightweight transactions.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallId, Campaign, CampaignId, CampaignState, NewCampaign, PhoneNumber};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryRowsResult;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlValue, Row};
use uuid::Uuid;

use super::rows::{
    CAMPAIGN_BUCKET, CallRow, CampaignRow, DAY_MS, DNC_BUCKETS, DncRow, HOUR_MS, Values, big,
    created_ms, dnc_bucket, int, text,
};
use super::{ScyllaStore, unavailable};
use crate::decode::{ms, settings_json};
use crate::error::{Result, StorageError};
use crate::model::{CallFilter, CampaignDetails, DncEntry, DncKind, WriteBatch};
use crate::traits::{CampaignStore, ContactStore, CounterStore, DncStore, Store};

/// How many partitions one listing request may walk before it answers with what it found.
pub(super) const MAX_PARTITIONS_PER_PAGE: usize = 400;
/// Ids reserved per sequence round trip for contacts (one LWT per block, not per contact).
pub(super) const CONTACT_BLOCK: i64 = 1_000;

pub(super) fn values<const N: usize>(pairs: [(&'static str, Option<CqlValue>); N]) -> Values {
    HashMap::from(pairs)
}

pub(super) fn lim(limit: usize) -> Option<CqlValue> {
    int(i64::try_from(limit).unwrap_or(i64::from(i32::MAX)))
}

pub(super) fn rows_of<R>(result: &QueryRowsResult) -> Result<Vec<R>>
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
pub(super) fn lwt(result: &QueryRowsResult) -> Result<(bool, HashMap<String, Option<CqlValue>>)> {
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
    pub(super) async fn run(&self, st: &PreparedStatement, v: Values) -> Result<QueryRowsResult> {
        let result = self
            .session
            .execute_unpaged(st, v)
            .await
            .map_err(unavailable)?;
        result.into_rows_result().map_err(unavailable)
    }

    pub(super) async fn exec(&self, st: &PreparedStatement, v: Values) -> Result<()> {
        self.session
            .execute_unpaged(st, v)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Reserves `n` consecutive ids of sequence `name` (a compare-and-set loop); the first.
    pub(super) async fn allocate(&self, name: &str, n: i64) -> Result<i64> {
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
    pub(super) async fn sequence_high(&self, name: &str) -> Result<i64> {
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

    pub(super) async fn put_campaign(&self, c: &Campaign) -> Result<()> {
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
            ("archived_at", c.archived_at.and_then(|t| big(ms(t)))),
        ]);
        self.exec(&self.st.campaign_put, v).await
    }

    pub(super) async fn calls_in(&self, st: &PreparedStatement, v: Values) -> Result<Vec<Call>> {
        rows_of::<CallRow>(&self.run(st, v).await?)?
            .into_iter()
            .map(CallRow::into_call)
            .collect()
    }

    /// Partitions to walk for a listing, newest first: a campaign's days or all hours.
    pub(super) async fn partitions(
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
pub(super) fn max_uuid() -> Uuid {
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
            archived_at: None,
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

    async fn update_campaign_details(
        &self,
        id: CampaignId,
        details: CampaignDetails,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        self.open()?;
        // Only the columns an operator owns: state and dial cursor belong to the campaign's owner.
        let v = values([
            ("name", text(&details.name)),
            ("description", text(&details.description)),
            ("is_active", Some(CqlValue::Boolean(details.is_active))),
            ("settings", text(settings_json(&details.settings)?)),
            ("updated_at", big(ms(now))),
            ("archived_at", details.archived_at.and_then(|t| big(ms(t)))),
            ("bucket", big(id.get() / CAMPAIGN_BUCKET)),
            ("id", big(id.get())),
        ]);
        let not_found = || StorageError::NotFound {
            what: "campaign",
            id: id.to_string(),
        };
        if !lwt(&self.run(&self.st.campaign_details, v).await?)?.0 {
            return Err(not_found());
        }
        self.fetch_campaign(id).await?.ok_or_else(not_found)
    }

    async fn delete_draft_campaign(&self, id: CampaignId) -> Result<bool> {
        self.open()?;
        let Some(campaign) = self.fetch_campaign(id).await? else {
            return Ok(false);
        };
        if campaign.state != CampaignState::Draft {
            return Err(StorageError::Conflict(format!(
                "campaign {id} is {}: only a draft can be deleted (archive it instead)",
                campaign.state.as_str()
            )));
        }
        let c = big(id.get());
        // A campaign's calls are indexed by the days they were created on.
        let days = values([
            ("campaign_id", c.clone()),
            ("day", int(i64::from(i32::MAX))),
        ]);
        if !rows_of::<(i32,)>(&self.run(&self.st.campaign_days, days).await?)?.is_empty() {
            return Err(StorageError::Conflict(format!(
                "campaign {id} has calls: archive it instead, which keeps them"
            )));
        }
        // The record first, and only while it is still a draft; then what hangs off it.
        let key = values([
            ("bucket", big(id.get() / CAMPAIGN_BUCKET)),
            ("id", c.clone()),
            ("state", text(CampaignState::Draft.as_str())),
        ]);
        if !lwt(&self.run(&self.st.campaign_delete, key).await?)?.0 {
            return Err(StorageError::Conflict(format!(
                "campaign {id} changed while it was being deleted"
            )));
        }
        let mut after = None;
        loop {
            let page = self.contacts_page(id, after, 1000).await?;
            for contact in &page {
                let v = values([
                    ("campaign_id", c.clone()),
                    ("phone", text(contact.phone_number.as_str())),
                ]);
                self.exec(&self.st.contact_phone_delete, v).await?;
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.id),
                _ => break,
            }
        }
        let high = self
            .sequence_high(&format!("contacts:{}", id.get()))
            .await?;
        let zones = self.list_zones(id).await?;
        for bucket in 0..=(high / super::rows::CONTACT_BUCKET) {
            let v = values([("campaign_id", c.clone()), ("bucket", big(bucket))]);
            self.exec(&self.st.contact_bucket_delete, v).await?;
            for zone in &zones {
                let v = values([
                    ("campaign_id", c.clone()),
                    ("zone", text(&zone.key)),
                    ("bucket", big(bucket)),
                ]);
                self.exec(&self.st.zone_bucket_delete, v).await?;
            }
        }
        self.exec(&self.st.zone_delete, values([("campaign_id", c.clone())]))
            .await?;
        let v = values([("campaign_id", c)]);
        self.exec(&self.st.counters_delete, v).await?;
        Ok(true)
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
