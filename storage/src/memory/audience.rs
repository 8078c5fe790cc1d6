//! The in-memory model of the audience store.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::Consent;

use super::{MemoryStore, page};
use crate::audience::{
    AudienceStore, Definition, DefinitionKind, Recipient, RecipientUpsert, Upserted,
};
use crate::error::Result;

#[derive(Debug, Default)]
pub(super) struct Audience {
    recipients: BTreeMap<PhoneNumber, Recipient>,
    /// (number, topic) and (topic, number): both orders are read.
    by_recipient: BTreeSet<(PhoneNumber, String)>,
    by_topic: BTreeSet<(String, PhoneNumber)>,
    definitions: BTreeMap<(DefinitionKind, String), Definition>,
}

impl Audience {
    fn upsert(&mut self, u: RecipientUpsert, now: DateTime<Utc>) -> Upserted {
        match self.recipients.remove(&u.phone_number) {
            Some(r) => {
                let phone = u.phone_number.clone();
                self.recipients.insert(phone, r.merged(u, now));
                Upserted::Merged
            }
            None => {
                self.recipients
                    .insert(u.phone_number.clone(), Recipient::new(u, now));
                Upserted::Added
            }
        }
    }

    fn ensure(&mut self, phone: &PhoneNumber, now: DateTime<Utc>) {
        if !self.recipients.contains_key(phone) {
            self.upsert(
                RecipientUpsert {
                    phone_number: phone.clone(),
                    attributes: Default::default(),
                    consent: None,
                },
                now,
            );
        }
    }
}

#[async_trait]
impl AudienceStore for MemoryStore {
    async fn upsert_recipients(
        &self,
        batch: Vec<RecipientUpsert>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Upserted>> {
        let mut s = self.state()?;
        Ok(batch
            .into_iter()
            .map(|u| s.audience.upsert(u, now))
            .collect())
    }

    async fn get_recipient(&self, phone: &PhoneNumber) -> Result<Option<Recipient>> {
        Ok(self.state()?.audience.recipients.get(phone).cloned())
    }

    async fn list_recipients(
        &self,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<Recipient>> {
        let s = self.state()?;
        let items = s
            .audience
            .recipients
            .values()
            .filter(|r| after.as_ref().is_none_or(|a| &r.phone_number > a))
            .cloned();
        Ok(page(items, limit))
    }

    async fn set_consent(
        &self,
        phone: &PhoneNumber,
        consent: Consent,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut s = self.state()?;
        s.audience.upsert(
            RecipientUpsert {
                phone_number: phone.clone(),
                attributes: Default::default(),
                consent: Some(consent),
            },
            now,
        );
        Ok(())
    }

    async fn subscribe(
        &self,
        phone: &PhoneNumber,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.state()?;
        s.audience.ensure(phone, now);
        s.audience
            .by_topic
            .insert((topic.to_owned(), phone.clone()));
        Ok(s.audience
            .by_recipient
            .insert((phone.clone(), topic.to_owned())))
    }

    async fn unsubscribe(&self, phone: &PhoneNumber, topic: &str) -> Result<bool> {
        let mut s = self.state()?;
        s.audience
            .by_topic
            .remove(&(topic.to_owned(), phone.clone()));
        Ok(s.audience
            .by_recipient
            .remove(&(phone.clone(), topic.to_owned())))
    }

    async fn topics_of(&self, phone: &PhoneNumber) -> Result<Vec<String>> {
        let s = self.state()?;
        Ok(s.audience
            .by_recipient
            .iter()
            .filter(|(p, _)| p == phone)
            .map(|(_, t)| t.clone())
            .collect())
    }

    async fn subscribers(
        &self,
        topic: &str,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<PhoneNumber>> {
        let s = self.state()?;
        let items = s
            .audience
            .by_topic
            .iter()
            .filter(|(t, p)| t == topic && after.as_ref().is_none_or(|a| p > a))
            .map(|(_, p)| p.clone());
        Ok(page(items, limit))
    }

    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.state()?;
        let key = (kind, name.to_owned());
        let created_at = s.audience.definitions.get(&key).map(|d| d.created_at);
        s.audience.definitions.insert(
            key,
            Definition {
                kind,
                name: name.to_owned(),
                body,
                created_at: created_at.unwrap_or(now),
                updated_at: now,
            },
        );
        Ok(created_at.is_none())
    }

    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<Option<Definition>> {
        let s = self.state()?;
        Ok(s.audience
            .definitions
            .get(&(kind, name.to_owned()))
            .cloned())
    }

    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<Definition>> {
        let s = self.state()?;
        Ok(s.audience
            .definitions
            .values()
            .filter(|d| d.kind == kind)
            .cloned()
            .collect())
    }

    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<bool> {
        let mut s = self.state()?;
        Ok(s.audience
            .definitions
            .remove(&(kind, name.to_owned()))
            .is_some())
    }
}
