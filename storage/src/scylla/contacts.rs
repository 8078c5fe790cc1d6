//! Contacts on ScyllaDB: blocks of ids per campaign, paged by id, and listed by zone key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::dispatch::zone_key;
use dialer_engine::{CampaignId, ContactId, PhoneNumber};
use futures::future::try_join_all;
use scylla::deserialize::row::DeserializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use super::rows::{CONTACT_BUCKET, ContactRow, big, contact_id_of, contact_seq, text};
use super::store::{CONTACT_BLOCK, lim, lwt, rows_of, values};
use super::{ScyllaStore, unavailable};
use crate::decode::{attributes_json, ms};
use crate::error::{Result, StorageError};
use crate::model::{AddContact, Contact, ListZone, NewContact};
use crate::traits::ContactStore;

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
        let mut zones_seen = std::collections::HashSet::new();
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
                let zone = zone_key(&new.phone_number);
                let listed = values([
                    ("campaign_id", big(c)),
                    ("zone", text(&zone)),
                    ("bucket", big(contact_seq(id) / CONTACT_BUCKET)),
                    ("id", big(id)),
                ]);
                self.exec(&self.st.zone_contact_put, listed).await?;
                if !zones_seen.contains(&zone) {
                    let v = values([("campaign_id", big(c)), ("zone", text(&zone))]);
                    self.exec(&self.st.zone_add, v).await?;
                    zones_seen.insert(zone);
                }
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
        let rows: Vec<ContactRow> = (self.bucket_pages(&self.st.contact_page, campaign, None))
            .walk(after, limit)
            .await?;
        rows.into_iter().map(ContactRow::into_contact).collect()
    }

    async fn list_zones(&self, campaign: CampaignId) -> Result<Vec<ListZone>> {
        let rows = self
            .run(
                &self.st.zone_list,
                values([("campaign_id", big(campaign.get()))]),
            )
            .await?;
        let mut out = Vec::new();
        for (key, cursor) in rows_of::<(String, Option<i64>)>(&rows)? {
            let after = cursor
                .map(|v| ContactId::new(v).map_err(|e| StorageError::Corrupt(e.to_string())))
                .transpose()?;
            out.push(ListZone { key, after });
        }
        Ok(out)
    }

    async fn zone_page(
        &self,
        campaign: CampaignId,
        zone: &str,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let c = campaign.get();
        let ids: Vec<(i64,)> =
            (self.bucket_pages(&self.st.zone_contact_page, campaign, Some(zone)))
                .walk(after, limit)
                .await?;
        let rows = try_join_all(ids.into_iter().map(|(id,)| {
            let key = values([
                ("campaign_id", big(c)),
                ("bucket", big(contact_seq(id) / CONTACT_BUCKET)),
                ("id", big(id)),
            ]);
            self.run(&self.st.contact_get, key)
        }))
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(row) = row.maybe_first_row::<ContactRow>().map_err(unavailable)? {
                out.push(row.into_contact()?);
            }
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

/// A walk through a campaign's contact buckets in id order, with one statement that reads a
/// bucket after an id (`campaign_id`, `bucket`, `after`, `lim`, and `zone` when given).
struct BucketPages<'a> {
    store: &'a ScyllaStore,
    statement: &'a PreparedStatement,
    campaign: i64,
    zone: Option<&'a str>,
}

impl ScyllaStore {
    fn bucket_pages<'a>(
        &'a self,
        statement: &'a PreparedStatement,
        campaign: CampaignId,
        zone: Option<&'a str>,
    ) -> BucketPages<'a> {
        BucketPages {
            store: self,
            statement,
            campaign: campaign.get(),
            zone,
        }
    }
}

impl BucketPages<'_> {
    /// Up to `limit` rows strictly after `after`, from as many buckets as it takes.
    async fn walk<R>(&self, after: Option<ContactId>, limit: u32) -> Result<Vec<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let c = self.campaign;
        let high = self.store.sequence_high(&format!("contacts:{c}")).await?;
        let mut after = after.map_or(contact_id_of(c, 0), |a| a.get());
        let mut bucket = contact_seq(after) / CONTACT_BUCKET;
        let mut out = Vec::new();
        while out.len() < limit as usize && bucket <= high / CONTACT_BUCKET {
            let mut v = values([
                ("campaign_id", big(c)),
                ("bucket", big(bucket)),
                ("after", big(after)),
                ("lim", lim(limit as usize - out.len())),
            ]);
            if let Some(zone) = self.zone {
                v.insert("zone", text(zone));
            }
            out.extend(rows_of::<R>(&self.store.run(self.statement, v).await?)?);
            bucket += 1;
            after = contact_id_of(c, 0);
        }
        Ok(out)
    }
}
