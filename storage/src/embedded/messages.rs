//! The message store on SQLite: writes through the writer thread (so a claim's compare-and-set
//! and a report's forward-only merge are each one step of the single writer), reads on the
//! reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::CampaignId;
use dialer_engine::messaging::MessageStatus;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::EmbeddedStore;
use super::writer::{Answer, Work};
use crate::decode::{
    campaign_id, channel, count, document, document_json, event_kind, message_status, ms, phone,
    time,
};
use crate::error::Result;
use crate::messages::{
    EventKind, Message, MessageCounts, MessageEvent, MessageFilter, MessageScope, MessageStore,
    OPTED_OUT_REASON, ReceiptApplied, ReceiptWrite, Report, applies, reported,
};

/// A write to the message tables.
#[derive(Debug)]
pub(crate) enum MessageWrite {
    Create(Vec<Message>),
    /// A claim or a put-back, with the decision's event when it happens.
    Transition(MessageStatus, u32, Box<Message>, Option<Box<MessageEvent>>),
    Report(String, Report),
    Receipt(Box<ReceiptWrite>),
    Event(Box<MessageEvent>),
}

const COLUMNS: &str = "message_id, campaign_id, phone, channel, cause, body, status, attempts, \
                       due_at, provider_sid, error_code, reason, created_at, updated_at";
const EVENT_COLUMNS: &str = "event_id, kind, at, phone, message_id, raw, normalized";

fn from_row(r: &Row<'_>) -> Result<Message> {
    Ok(Message {
        message_id: r.get(0)?,
        campaign_id: campaign_id("campaign_id", r.get(1)?)?,
        phone_number: phone("phone", &r.get::<_, String>(2)?)?,
        channel: channel("channel", &r.get::<_, String>(3)?)?,
        cause: r.get(4)?,
        body: r.get(5)?,
        status: message_status("status", &r.get::<_, String>(6)?)?,
        attempts: count("attempts", r.get(7)?)?,
        due_at: time("due_at", r.get(8)?)?,
        provider_sid: r.get(9)?,
        error_code: r.get(10)?,
        reason: r.get(11)?,
        created_at: time("created_at", r.get(12)?)?,
        updated_at: time("updated_at", r.get(13)?)?,
    })
}

fn event_from_row(r: &Row<'_>) -> Result<MessageEvent> {
    Ok(MessageEvent {
        event_id: r.get(0)?,
        kind: event_kind("kind", &r.get::<_, String>(1)?)?,
        at: time("at", r.get(2)?)?,
        phone_number: r
            .get::<_, Option<String>>(3)?
            .map(|p| phone("phone", &p))
            .transpose()?,
        message_id: r.get(4)?,
        raw: document("raw", &r.get::<_, String>(5)?)?,
        normalized: document("normalized", &r.get::<_, String>(6)?)?,
    })
}

fn message(conn: &Connection, id: &str) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE message_id = ?1"
    ))?;
    stmt.query_row([id], |r| Ok(from_row(r)))
        .optional()?
        .transpose()
}

/// Inserts `m` unless a message with its id exists; whether it was inserted.
fn insert(tx: &Connection, m: &Message) -> Result<bool> {
    let n = tx
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO messages ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))?
        .execute(params![
            m.message_id,
            m.campaign_id.get(),
            m.phone_number.as_str(),
            m.channel.as_str(),
            m.cause,
            m.body,
            m.status.as_str(),
            m.attempts,
            ms(m.due_at),
            m.provider_sid,
            m.error_code,
            m.reason,
            ms(m.created_at),
            ms(m.updated_at)
        ])?;
    Ok(n > 0)
}

/// Stores what can change of a message (its state); the columns that never change — and the
/// indexes over them — are left alone.
fn update(tx: &Connection, m: &Message) -> Result<()> {
    tx.prepare_cached(
        "UPDATE messages SET status = ?2, attempts = ?3, due_at = ?4, provider_sid = ?5,
                error_code = ?6, reason = ?7, updated_at = ?8
         WHERE message_id = ?1",
    )?
    .execute(params![
        m.message_id,
        m.status.as_str(),
        m.attempts,
        ms(m.due_at),
        m.provider_sid,
        m.error_code,
        m.reason,
        ms(m.updated_at)
    ])?;
    Ok(())
}

fn add_event(tx: &Connection, e: &MessageEvent) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO message_events ({EVENT_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        e.event_id,
        e.kind.as_str(),
        ms(e.at),
        e.phone_number.as_ref().map(|p| p.as_str()),
        e.message_id,
        document_json(&e.raw)?,
        document_json(&e.normalized)?
    ])?;
    Ok(())
}

/// Applies `r` to `current` if it moves it; the message as it now stands, when it did.
fn report(tx: &Connection, current: &Message, r: &Report) -> Result<Option<Message>> {
    let moved = reported(current, r.clone());
    if let Some(m) = &moved {
        update(tx, m)?;
    }
    Ok(moved)
}

/// Applies one message write inside the writer's transaction.
pub(crate) fn write(tx: &Connection, w: &MessageWrite) -> Result<Answer> {
    Ok(match w {
        MessageWrite::Create(batch) => {
            Answer::Flags(batch.iter().map(|m| insert(tx, m)).collect::<Result<_>>()?)
        }
        MessageWrite::Transition(status, attempts, to, event) => {
            let current = message(tx, &to.message_id)?;
            let matches = current.is_some_and(|m| m.status == *status && m.attempts == *attempts);
            if matches {
                update(tx, to)?;
                if let Some(e) = event {
                    add_event(tx, e)?;
                }
            }
            Answer::Flag(matches)
        }
        MessageWrite::Report(id, r) => {
            let moved = match message(tx, id)? {
                Some(current) => report(tx, &current, r)?,
                None => None,
            };
            Answer::Message(moved.map(Box::new))
        }
        MessageWrite::Receipt(receipt) => {
            add_event(tx, &receipt.event)?;
            let applied = match message(tx, &receipt.report_for)? {
                Some(before) => {
                    let moved = if applies(receipt.attempt, &before) {
                        report(tx, &before, &receipt.report)?
                    } else {
                        None
                    };
                    Some(Box::new(ReceiptApplied { before, moved }))
                }
                None => None,
            };
            Answer::Receipt(applied)
        }
        MessageWrite::Event(e) => {
            add_event(tx, e)?;
            Answer::Done
        }
    })
}

impl EmbeddedStore {
    async fn messages(&self, w: MessageWrite) -> Result<Answer> {
        self.write(Work::Messages(w)).await
    }
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    read: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read(r)?);
    }
    Ok(out)
}

#[async_trait]
impl MessageStore for EmbeddedStore {
    async fn create_messages(&self, batch: Vec<Message>) -> Result<Vec<bool>> {
        match self.messages(MessageWrite::Create(batch)).await? {
            Answer::Flags(v) => Ok(v),
            other => Err(super::unexpected(other)),
        }
    }

    async fn get_message(&self, id: &str) -> Result<Option<Message>> {
        let id = id.to_owned();
        self.read(move |c| message(c, &id)).await
    }

    async fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Message>> {
        self.read(move |c| {
            rows(
                c,
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE status = 'pending' AND due_at <= ?1
                     ORDER BY due_at, message_id LIMIT ?2"
                ),
                params![ms(now), limit],
                from_row,
            )
        })
        .await
    }

    async fn transition(&self, status: MessageStatus, attempts: u32, to: &Message) -> Result<bool> {
        let w = MessageWrite::Transition(status, attempts, Box::new(to.clone()), None);
        match self.messages(w).await? {
            Answer::Flag(f) => Ok(f),
            other => Err(super::unexpected(other)),
        }
    }

    async fn transition_noting(
        &self,
        status: MessageStatus,
        attempts: u32,
        to: &Message,
        event: MessageEvent,
    ) -> Result<bool> {
        let w = MessageWrite::Transition(
            status,
            attempts,
            Box::new(to.clone()),
            Some(Box::new(event)),
        );
        match self.messages(w).await? {
            Answer::Flag(f) => Ok(f),
            other => Err(super::unexpected(other)),
        }
    }

    async fn record_receipt(&self, receipt: ReceiptWrite) -> Result<Option<ReceiptApplied>> {
        match self
            .messages(MessageWrite::Receipt(Box::new(receipt)))
            .await?
        {
            Answer::Receipt(r) => Ok(r.map(|r| *r)),
            other => Err(super::unexpected(other)),
        }
    }

    async fn apply_report(&self, id: &str, report: Report) -> Result<Option<Message>> {
        match self
            .messages(MessageWrite::Report(id.to_owned(), report))
            .await?
        {
            Answer::Message(m) => Ok(m.map(|m| *m)),
            other => Err(super::unexpected(other)),
        }
    }

    async fn list_messages(
        &self,
        filter: MessageFilter,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.read(move |c| {
            let (campaign, phone) = match &filter.scope {
                MessageScope::Campaign(c) => (Some(c.get()), None),
                MessageScope::Recipient(p) => (None, Some(p.as_str().to_owned())),
            };
            let status = filter.status.map(MessageStatus::as_str);
            rows(
                c,
                &format!(
                    "SELECT {COLUMNS} FROM messages
                     WHERE message_id > ?1 AND (?2 IS NULL OR campaign_id = ?2)
                       AND (?3 IS NULL OR phone = ?3) AND (?4 IS NULL OR status = ?4)
                     ORDER BY message_id LIMIT ?5"
                ),
                params![after.unwrap_or_default(), campaign, phone, status, limit],
                from_row,
            )
        })
        .await
    }

    async fn message_counts(&self, campaign: CampaignId) -> Result<MessageCounts> {
        self.read(move |c| {
            let mut counts = MessageCounts::default();
            let mut stmt = c.prepare_cached(
                "SELECT status, COUNT(*) FROM messages WHERE campaign_id = ?1 GROUP BY status",
            )?;
            let mut rows = stmt.query([campaign.get()])?;
            while let Some(r) = rows.next()? {
                counts
                    .by_status
                    .insert(r.get(0)?, count("count", r.get(1)?)?);
            }
            let mut stmt = c.prepare_cached(
                "SELECT error_code, COUNT(*) FROM messages
                 WHERE campaign_id = ?1 AND error_code IS NOT NULL GROUP BY error_code",
            )?;
            let mut rows = stmt.query([campaign.get()])?;
            while let Some(r) = rows.next()? {
                counts
                    .by_error
                    .insert(r.get(0)?, count("count", r.get(1)?)?);
            }
            counts.opted_out = count(
                "count",
                c.prepare_cached(
                    "SELECT COUNT(*) FROM messages
                     WHERE campaign_id = ?1 AND status = 'blocked' AND reason = ?2",
                )?
                .query_row(params![campaign.get(), OPTED_OUT_REASON], |r| r.get(0))?,
            )?;
            Ok(counts)
        })
        .await
    }

    async fn add_message_event(&self, event: MessageEvent) -> Result<()> {
        self.messages(MessageWrite::Event(Box::new(event)))
            .await
            .map(|_| ())
    }

    async fn message_events(
        &self,
        kind: Option<EventKind>,
        before: Option<String>,
        limit: u32,
        _now: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>> {
        self.read(move |c| {
            // Past every UUID ("g" sorts after hex digits).
            let before = before.unwrap_or_else(|| "g".into());
            rows(
                c,
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM message_events
                     WHERE event_id < ?1 AND (?2 IS NULL OR kind = ?2)
                     ORDER BY event_id DESC LIMIT ?3"
                ),
                params![before, kind.map(EventKind::as_str), limit],
                event_from_row,
            )
        })
        .await
    }
}
