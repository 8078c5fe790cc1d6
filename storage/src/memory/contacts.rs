//! The in-memory store's contact lists: contacts by id and by number, and each campaign's
//! zones with their cursors.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::dispatch::zone_key;
use dialer_engine::{CampaignId, ContactId, PhoneNumber};

use super::{MemoryStore, page};
use crate::error::{Result, StorageError};
use crate::model::{AddContact, Contact, ListZone, NewContact};
use crate::traits::ContactStore;

#[async_trait]
impl ContactStore for MemoryStore {
    async fn add_contacts(
        &self,
        campaign: CampaignId,
        contacts: Vec<NewContact>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AddContact>> {
        let mut s = self.state()?;
        if !s.campaigns.contains_key(&campaign) {
            return Err(StorageError::NotFound {
                what: "campaign",
                id: campaign.to_string(),
            });
        }
        let mut out = Vec::with_capacity(contacts.len());
        for new in contacts {
            let key = (campaign, new.phone_number.clone());
            if let Some(id) = s.contact_by_phone.get(&key).copied() {
                if let Some(existing) = s.contacts.get_mut(&id) {
                    existing.attributes.extend(new.attributes);
                }
                out.push(AddContact::Merged(id));
                continue;
            }
            s.next_contact += 1;
            let id =
                ContactId::new(s.next_contact).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            s.contact_by_phone.insert(key, id);
            let zone = zone_key(&new.phone_number);
            s.by_zone.insert((campaign, zone.clone(), id));
            s.zones.entry((campaign, zone)).or_insert(None);
            s.contacts.insert(
                id,
                Contact {
                    id,
                    campaign_id: campaign,
                    phone_number: new.phone_number,
                    attributes: new.attributes,
                    added_at: now,
                },
            );
            out.push(AddContact::Added(id));
        }
        Ok(out)
    }

    async fn contacts_page(
        &self,
        campaign: CampaignId,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let s = self.state()?;
        let items = s
            .contacts
            .values()
            .filter(|c| c.campaign_id == campaign && after.is_none_or(|a| c.id > a))
            .cloned();
        Ok(page(items, limit))
    }

    async fn list_zones(&self, campaign: CampaignId) -> Result<Vec<ListZone>> {
        let s = self.state()?;
        Ok(s.zones
            .range((campaign, String::new())..)
            .take_while(|((c, _), _)| *c == campaign)
            .map(|((_, key), after)| ListZone {
                key: key.clone(),
                after: *after,
            })
            .collect())
    }

    async fn zone_page(
        &self,
        campaign: CampaignId,
        zone: &str,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let s = self.state()?;
        let zone = zone.to_owned();
        let first = ContactId::new(1).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let from = (campaign, zone.clone(), after.unwrap_or(first));
        let items = (s.by_zone.range(from..))
            .take_while(|(c, z, _)| *c == campaign && *z == zone)
            .filter(|(.., id)| after.is_none_or(|a| *id > a))
            .filter_map(|(.., id)| s.contacts.get(id))
            .cloned();
        Ok(page(items, limit))
    }

    async fn get_contact(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>> {
        let s = self.state()?;
        Ok(s.contact_by_phone
            .get(&(campaign, phone.clone()))
            .and_then(|id| s.contacts.get(id))
            .cloned())
    }

    async fn count_contacts(&self, campaign: CampaignId) -> Result<u64> {
        Ok(self
            .state()?
            .contacts
            .values()
            .filter(|c| c.campaign_id == campaign)
            .count() as u64)
    }
}
