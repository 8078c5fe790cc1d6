//! The messaging channel's audience and definitions: recipients (keyed by E.164, with JSON
//! attributes and a consent state), their topic subscriptions, and named definitions — segments
//! (a rule, see `dialer_engine::messaging::segment`) and templates — stored as JSON documents.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::Consent;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::Attributes;

/// A person who may be messaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub phone_number: PhoneNumber,
    pub attributes: Attributes,
    pub consent: Consent,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A recipient to add, or to merge into the one with the same number: attributes are merged key
/// by key (the new value wins), and the consent changes only when given.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientUpsert {
    pub phone_number: PhoneNumber,
    pub attributes: Attributes,
    pub consent: Option<Consent>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Added,
    Merged,
}

impl Recipient {
    /// `self` with `u` merged in, at `now`.
    pub fn merged(mut self, u: RecipientUpsert, now: DateTime<Utc>) -> Self {
        self.attributes.extend(u.attributes);
        if let Some(c) = u.consent {
            self.consent = c;
        }
        self.updated_at = now;
        self
    }

    pub fn new(u: RecipientUpsert, now: DateTime<Utc>) -> Self {
        Self {
            phone_number: u.phone_number,
            attributes: u.attributes,
            consent: u.consent.unwrap_or_default(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// The kinds of named definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    Segment,
    Template,
}

impl DefinitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Segment => "segment",
            Self::Template => "template",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Segment, Self::Template]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A named JSON document of one kind (a segment's rule and description, a template's text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub kind: DefinitionKind,
    pub name: String,
    pub body: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait AudienceStore: Send + Sync {
    /// Adds or merges each recipient (in order; a number twice in one call merges twice).
    async fn upsert_recipients(
        &self,
        batch: Vec<RecipientUpsert>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Upserted>>;
    async fn get_recipient(&self, phone: &PhoneNumber) -> Result<Option<Recipient>>;
    /// In a stable backend-defined order, strictly after the recipient `after`.
    async fn list_recipients(
        &self,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<Recipient>>;
    /// Sets a recipient's consent, adding the recipient when it is new (a STOP from a stranger
    /// is remembered).
    async fn set_consent(
        &self,
        phone: &PhoneNumber,
        consent: Consent,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Subscribes a recipient (added when new) to a topic; whether the subscription is new.
    async fn subscribe(&self, phone: &PhoneNumber, topic: &str, now: DateTime<Utc>)
    -> Result<bool>;
    /// Whether there was a subscription to remove.
    async fn unsubscribe(&self, phone: &PhoneNumber, topic: &str) -> Result<bool>;
    /// A recipient's topics, in name order.
    async fn topics_of(&self, phone: &PhoneNumber) -> Result<Vec<String>>;
    /// A topic's subscribers in number order, strictly after `after`.
    async fn subscribers(
        &self,
        topic: &str,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<PhoneNumber>>;
    /// Creates or replaces a definition (its `created_at` is kept on replace); whether it was new.
    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<Option<Definition>>;
    /// Every definition of a kind, in name order.
    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<Definition>>;
    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<bool>;
}
