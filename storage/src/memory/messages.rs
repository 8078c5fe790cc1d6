//! The in-memory model of the message store.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::CampaignId;
use dialer_engine::messaging::MessageStatus;

use super::{MemoryStore, page};
use crate::error::Result;
use crate::messages::{
    EventKind, Message, MessageCounts, MessageEvent, MessageFilter, MessageStore, Report, reported,
};

#[derive(Debug, Default)]
pub(super) struct Messages {
    messages: BTreeMap<String, Message>,
    /// (due, id) of every pending message.
    due: BTreeSet<(DateTime<Utc>, String)>,
    events: BTreeMap<String, MessageEvent>,
}

impl Messages {
    fn put(&mut self, m: Message) {
        if let Some(old) = self.messages.get(&m.message_id) {
            self.due.remove(&(old.due_at, old.message_id.clone()));
        }
        if m.status == MessageStatus::Pending {
            self.due.insert((m.due_at, m.message_id.clone()));
        }
        self.messages.insert(m.message_id.clone(), m);
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn create_messages(&self, batch: Vec<Message>) -> Result<Vec<bool>> {
        let mut s = self.state()?;
        Ok(batch
            .into_iter()
            .map(|m| {
                let new = !s.messages.messages.contains_key(&m.message_id);
                if new {
                    s.messages.put(m);
                }
                new
            })
            .collect())
    }

    async fn get_message(&self, id: &str) -> Result<Option<Message>> {
        Ok(self.state()?.messages.messages.get(id).cloned())
    }

    async fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Message>> {
        let s = self.state()?;
        let items = s
            .messages
            .due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .filter_map(|(_, id)| s.messages.messages.get(id).cloned());
        Ok(page(items, limit))
    }

    async fn transition(&self, status: MessageStatus, attempts: u32, to: &Message) -> Result<bool> {
        let mut s = self.state()?;
        let matches = s
            .messages
            .messages
            .get(&to.message_id)
            .is_some_and(|m| m.status == status && m.attempts == attempts);
        if matches {
            s.messages.put(to.clone());
        }
        Ok(matches)
    }

    async fn apply_report(&self, id: &str, report: Report) -> Result<Option<Message>> {
        let mut s = self.state()?;
        let Some(current) = s.messages.messages.get(id) else {
            return Ok(None);
        };
        let moved = reported(current, report);
        if let Some(m) = &moved {
            s.messages.put(m.clone());
        }
        Ok(moved)
    }

    async fn list_messages(
        &self,
        filter: MessageFilter,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let s = self.state()?;
        let items = s
            .messages
            .messages
            .values()
            .filter(|m| after.as_ref().is_none_or(|a| &m.message_id > a))
            .filter(|m| filter.matches(m))
            .cloned();
        Ok(page(items, limit))
    }

    async fn message_counts(&self, campaign: CampaignId) -> Result<MessageCounts> {
        let s = self.state()?;
        let mut counts = MessageCounts::default();
        for m in s
            .messages
            .messages
            .values()
            .filter(|m| m.campaign_id == campaign)
        {
            counts.add(m);
        }
        Ok(counts)
    }

    async fn add_message_event(&self, event: MessageEvent) -> Result<()> {
        self.state()?
            .messages
            .events
            .insert(event.event_id.clone(), event);
        Ok(())
    }

    async fn message_events(
        &self,
        kind: Option<EventKind>,
        before: Option<String>,
        limit: u32,
        _now: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>> {
        let s = self.state()?;
        let items = s
            .messages
            .events
            .values()
            .rev()
            .filter(|e| before.as_ref().is_none_or(|b| &e.event_id < b))
            .filter(|e| kind.is_none_or(|k| k == e.kind))
            .cloned();
        Ok(page(items, limit))
    }
}
