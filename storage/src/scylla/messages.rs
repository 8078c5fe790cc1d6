//! The message store on ScyllaDB (schema: `cql/0006_messages.cql`). Every change to a message
//! is a lightweight transaction on the `version` it read, retried when another writer got there
//! first: a claim's compare-and-set and a report's forward-only merge lose nothing to a
//! concurrent callback. The listing and queue tables are written after the message.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use dialer_engine::CampaignId;
use dialer_engine::messaging::MessageStatus;
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::rows::{Values, big, fnv, int, text};
use super::statements::prep;
use super::store::{lim, lwt, rows_of, values};
use super::{ScyllaStore, unavailable};
use crate::decode::{
    campaign_id, channel, count, document, document_json, event_kind, message_status, ms, phone,
    time,
};
use crate::error::Result;
use crate::messages::{
    EventKind, Message, MessageCounts, MessageEvent, MessageFilter, MessageScope, MessageStore,
    OPTED_OUT_REASON, Report, reported,
};

const COLUMNS: &str = "message_id, campaign_id, phone, channel, cause, body, status, attempts, \
                       due_at, provider_sid, error_code, reason, created_at, updated_at, version";
const EVENT_COLUMNS: &str = "event_id, kind, at, phone, message_id, raw, normalized";
/// Partitions of the due queue.
const DUE_BUCKETS: i64 = 16;
/// Months an event listing walks back.
const EVENT_MONTHS: i32 = 36;
/// Attempts of a change that keeps meeting a concurrent writer before it gives up.
const CAS_ATTEMPTS: usize = 16;

pub(crate) struct Statements {
    add: PreparedStatement,
    get: PreparedStatement,
    cas: PreparedStatement,
    by_campaign_put: PreparedStatement,
    by_campaign_page: PreparedStatement,
    by_campaign_all: PreparedStatement,
    by_recipient_put: PreparedStatement,
    by_recipient_page: PreparedStatement,
    due_put: PreparedStatement,
    due_delete: PreparedStatement,
    due_page: PreparedStatement,
    event_put: PreparedStatement,
    event_page: PreparedStatement,
}

impl Statements {
    pub(crate) async fn prepare(s: &Session, ks: &str) -> Result<Self> {
        let t = |name: &str| format!("{ks}.{name}");
        let set = "campaign_id = :campaign_id, phone = :phone, channel = :channel, cause = :cause, \
                   body = :body, status = :status, attempts = :attempts, due_at = :due_at, \
                   provider_sid = :provider_sid, error_code = :error_code, reason = :reason, \
                   created_at = :created_at, updated_at = :updated_at, version = :version";
        Ok(Self {
            add: prep(s, format!(
                "INSERT INTO {} ({COLUMNS}) VALUES (:message_id, :campaign_id, :phone, :channel, :cause, :body, :status, :attempts, :due_at, :provider_sid, :error_code, :reason, :created_at, :updated_at, :version) IF NOT EXISTS",
                t("messages")), true).await?,
            get: prep(s, format!("SELECT {COLUMNS} FROM {} WHERE message_id = :message_id", t("messages")), false).await?,
            cas: prep(s, format!("UPDATE {} SET {set} WHERE message_id = :message_id IF version = :seen", t("messages")), true).await?,
            by_campaign_put: prep(s, format!(
                "INSERT INTO {} (campaign_id, message_id, status, error_code, reason) VALUES (:campaign_id, :message_id, :status, :error_code, :reason)",
                t("messages_by_campaign")), false).await?,
            by_campaign_page: prep(s, format!(
                "SELECT message_id FROM {} WHERE campaign_id = :campaign_id AND message_id > :after LIMIT :lim",
                t("messages_by_campaign")), false).await?,
            by_campaign_all: prep(s, format!(
                "SELECT status, error_code, reason FROM {} WHERE campaign_id = :campaign_id",
                t("messages_by_campaign")), false).await?,
            by_recipient_put: prep(s, format!(
                "INSERT INTO {} (phone, message_id) VALUES (:phone, :message_id)",
                t("messages_by_recipient")), false).await?,
            by_recipient_page: prep(s, format!(
                "SELECT message_id FROM {} WHERE phone = :phone AND message_id > :after LIMIT :lim",
                t("messages_by_recipient")), false).await?,
            due_put: prep(s, format!(
                "INSERT INTO {} (bucket, due_at, message_id) VALUES (:bucket, :due_at, :message_id)",
                t("messages_due")), false).await?,
            due_delete: prep(s, format!(
                "DELETE FROM {} WHERE bucket = :bucket AND due_at = :due_at AND message_id = :message_id",
                t("messages_due")), false).await?,
            due_page: prep(s, format!(
                "SELECT due_at, message_id FROM {} WHERE bucket = :bucket AND due_at <= :now LIMIT :lim",
                t("messages_due")), false).await?,
            event_put: prep(s, format!(
                "INSERT INTO {} (kind, month, {EVENT_COLUMNS}) VALUES (:kind, :month, :event_id, :kind, :at, :phone, :message_id, :raw, :normalized)",
                t("message_events")), false).await?,
            event_page: prep(s, format!(
                "SELECT {EVENT_COLUMNS} FROM {} WHERE kind = :kind AND month = :month AND event_id < :before LIMIT :lim",
                t("message_events")), false).await?,
        })
    }
}

#[derive(DeserializeRow)]
struct MessageRow {
    message_id: String,
    campaign_id: i64,
    phone: String,
    channel: String,
    cause: String,
    body: String,
    status: String,
    attempts: i32,
    due_at: i64,
    provider_sid: Option<String>,
    error_code: Option<String>,
    reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl MessageRow {
    fn into_message(self) -> Result<(Message, i64)> {
        Ok((
            Message {
                message_id: self.message_id,
                campaign_id: campaign_id("campaign_id", self.campaign_id)?,
                phone_number: phone("phone", &self.phone)?,
                channel: channel("channel", &self.channel)?,
                cause: self.cause,
                body: self.body,
                status: message_status("status", &self.status)?,
                attempts: count("attempts", i64::from(self.attempts))?,
                due_at: time("due_at", self.due_at)?,
                provider_sid: self.provider_sid,
                error_code: self.error_code,
                reason: self.reason,
                created_at: time("created_at", self.created_at)?,
                updated_at: time("updated_at", self.updated_at)?,
            },
            self.version,
        ))
    }
}

#[derive(DeserializeRow)]
struct EventRow {
    event_id: String,
    kind: String,
    at: i64,
    phone: Option<String>,
    message_id: Option<String>,
    raw: String,
    normalized: String,
}

impl EventRow {
    fn into_event(self) -> Result<MessageEvent> {
        Ok(MessageEvent {
            event_id: self.event_id,
            kind: event_kind("kind", &self.kind)?,
            at: time("at", self.at)?,
            phone_number: self.phone.map(|p| phone("phone", &p)).transpose()?,
            message_id: self.message_id,
            raw: document("raw", &self.raw)?,
            normalized: document("normalized", &self.normalized)?,
        })
    }
}

fn due_bucket(id: &str) -> i64 {
    (fnv(id.as_bytes()) % DUE_BUCKETS as u64) as i64
}

fn month(t: DateTime<Utc>) -> i32 {
    t.year() * 12 + i32::try_from(t.month0()).unwrap_or(0)
}

fn message_values(m: &Message, version: i64) -> Values {
    let opt = |v: &Option<String>| v.as_deref().and_then(text);
    let mut v = values([
        ("message_id", text(&m.message_id)),
        ("campaign_id", big(m.campaign_id.get())),
        ("phone", text(m.phone_number.as_str())),
        ("channel", text(m.channel.as_str())),
        ("cause", text(&m.cause)),
        ("body", text(&m.body)),
        ("status", text(m.status.as_str())),
        ("attempts", int(i64::from(m.attempts))),
        ("due_at", big(ms(m.due_at))),
        ("provider_sid", opt(&m.provider_sid)),
        ("error_code", opt(&m.error_code)),
        ("reason", opt(&m.reason)),
        ("created_at", big(ms(m.created_at))),
    ]);
    v.insert("updated_at", big(ms(m.updated_at)));
    v.insert("version", big(version));
    v
}

impl ScyllaStore {
    async fn message(&self, id: &str) -> Result<Option<(Message, i64)>> {
        let rows = self
            .run(&self.st.messages.get, values([("message_id", text(id))]))
            .await?;
        rows_of::<MessageRow>(&rows)?
            .into_iter()
            .next()
            .map(MessageRow::into_message)
            .transpose()
    }

    /// Writes the listing and queue rows of `m`, which replaced `old` (if any).
    async fn index(&self, old: Option<&Message>, m: &Message) -> Result<()> {
        let st = &self.st.messages;
        let id = ("message_id", text(&m.message_id));
        self.exec(
            &st.by_campaign_put,
            values([
                ("campaign_id", big(m.campaign_id.get())),
                id.clone(),
                ("status", text(m.status.as_str())),
                ("error_code", m.error_code.as_deref().and_then(text)),
                ("reason", m.reason.as_deref().and_then(text)),
            ]),
        )
        .await?;
        if old.is_none() {
            self.exec(
                &st.by_recipient_put,
                values([("phone", text(m.phone_number.as_str())), id.clone()]),
            )
            .await?;
        }
        let bucket = ("bucket", int(due_bucket(&m.message_id)));
        if let Some(o) = old.filter(|o| o.status == MessageStatus::Pending)
            && (m.status != MessageStatus::Pending || o.due_at != m.due_at)
        {
            self.exec(
                &st.due_delete,
                values([bucket.clone(), ("due_at", big(ms(o.due_at))), id.clone()]),
            )
            .await?;
        }
        if m.status == MessageStatus::Pending {
            self.exec(
                &st.due_put,
                values([bucket, ("due_at", big(ms(m.due_at))), id]),
            )
            .await?;
        }
        Ok(())
    }

    /// Replaces the message with `change(current)` on the version read, retried on a
    /// concurrent write; `None` when `change` declines.
    async fn change(
        &self,
        id: &str,
        change: impl Fn(&Message) -> Option<Message>,
    ) -> Result<Option<Message>> {
        self.open()?;
        for _ in 0..CAS_ATTEMPTS {
            let Some((current, version)) = self.message(id).await? else {
                return Ok(None);
            };
            let Some(next) = change(&current) else {
                return Ok(None);
            };
            let mut v = message_values(&next, version + 1);
            v.insert("seen", big(version));
            if lwt(&self.run(&self.st.messages.cas, v).await?)?.0 {
                self.index(Some(&current), &next).await?;
                return Ok(Some(next));
            }
        }
        Err(unavailable("a message kept changing under an update"))
    }

    async fn ids_to_messages(
        &self,
        ids: Vec<String>,
        filter: &MessageFilter,
    ) -> Result<Vec<Message>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((m, _)) = self.message(&id).await?
                && filter.matches(&m)
            {
                out.push(m);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl MessageStore for ScyllaStore {
    async fn create_messages(&self, batch: Vec<Message>) -> Result<Vec<bool>> {
        self.open()?;
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            let added = lwt(&self
                .run(&self.st.messages.add, message_values(&m, 0))
                .await?)?
            .0;
            if added {
                self.index(None, &m).await?;
            } else if let Some((existing, _)) = self.message(&m.message_id).await? {
                // A create retried after one cut short between the message and its listing and
                // queue rows: write them again (each is an idempotent insert).
                self.index(None, &existing).await?;
            }
            out.push(added);
        }
        Ok(out)
    }

    async fn get_message(&self, id: &str) -> Result<Option<Message>> {
        Ok(self.message(id).await?.map(|(m, _)| m))
    }

    async fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Message>> {
        let mut due = Vec::new();
        for bucket in 0..DUE_BUCKETS {
            let v = values([
                ("bucket", int(bucket)),
                ("now", big(ms(now))),
                ("lim", lim(limit as usize)),
            ]);
            let rows = self.run(&self.st.messages.due_page, v).await?;
            due.extend(rows_of::<(i64, String)>(&rows)?);
        }
        due.sort();
        let mut out = Vec::new();
        for (at, id) in due {
            if out.len() >= limit as usize {
                break;
            }
            match self.message(&id).await? {
                Some((m, _)) if m.status == MessageStatus::Pending && ms(m.due_at) == at => {
                    out.push(m);
                }
                // Stale: the message moved on after its queue row was written.
                _ => {
                    let v = values([
                        ("bucket", int(due_bucket(&id))),
                        ("due_at", big(at)),
                        ("message_id", text(&id)),
                    ]);
                    self.exec(&self.st.messages.due_delete, v).await?;
                }
            }
        }
        Ok(out)
    }

    async fn transition(&self, status: MessageStatus, attempts: u32, to: &Message) -> Result<bool> {
        let changed = self
            .change(&to.message_id, |m| {
                (m.status == status && m.attempts == attempts).then(|| to.clone())
            })
            .await?;
        Ok(changed.is_some())
    }

    async fn apply_report(&self, id: &str, report: Report) -> Result<Option<Message>> {
        self.change(id, |m| reported(m, report.clone())).await
    }

    async fn list_messages(
        &self,
        filter: MessageFilter,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let st = &self.st.messages;
        let mut after = after.unwrap_or_default();
        let mut out = Vec::new();
        // A status filter is applied after the read: page on until the page is full or the
        // partition ends.
        loop {
            let want = limit as usize - out.len();
            let page = ("lim", lim(want.max(64)));
            let rows = match &filter.scope {
                MessageScope::Campaign(c) => {
                    let v = values([("campaign_id", big(c.get())), ("after", text(&after)), page]);
                    self.run(&st.by_campaign_page, v).await?
                }
                MessageScope::Recipient(p) => {
                    let v = values([("phone", text(p.as_str())), ("after", text(&after)), page]);
                    self.run(&st.by_recipient_page, v).await?
                }
            };
            let ids: Vec<String> = rows_of::<(String,)>(&rows)?
                .into_iter()
                .map(|(i,)| i)
                .collect();
            let read = ids.len();
            let Some(last) = ids.last().cloned() else {
                break;
            };
            out.extend(self.ids_to_messages(ids, &filter).await?);
            after = last;
            if out.len() >= limit as usize || read < want.max(64) {
                break;
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn message_counts(&self, campaign: CampaignId) -> Result<MessageCounts> {
        let v = values([("campaign_id", big(campaign.get()))]);
        let rows = self.run(&self.st.messages.by_campaign_all, v).await?;
        let mut counts = MessageCounts::default();
        for (status, code, reason) in rows_of::<(String, Option<String>, Option<String>)>(&rows)? {
            if status == MessageStatus::Blocked.as_str()
                && reason.as_deref() == Some(OPTED_OUT_REASON)
            {
                counts.opted_out += 1;
            }
            *counts.by_status.entry(status).or_default() += 1;
            if let Some(code) = code {
                *counts.by_error.entry(code).or_default() += 1;
            }
        }
        Ok(counts)
    }

    async fn add_message_event(&self, e: MessageEvent) -> Result<()> {
        self.open()?;
        let mut v = values([
            ("kind", text(e.kind.as_str())),
            ("month", int(i64::from(month(e.at)))),
            ("event_id", text(&e.event_id)),
            ("at", big(ms(e.at))),
            (
                "phone",
                e.phone_number.as_ref().and_then(|p| text(p.as_str())),
            ),
            ("message_id", e.message_id.as_deref().and_then(text)),
            ("raw", text(document_json(&e.raw)?)),
        ]);
        v.insert("normalized", text(document_json(&e.normalized)?));
        self.exec(&self.st.messages.event_put, v).await
    }

    async fn message_events(
        &self,
        kind: Option<EventKind>,
        before: Option<String>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>> {
        let kinds: Vec<EventKind> = kind.map_or_else(|| EventKind::ALL.to_vec(), |k| vec![k]);
        // The month to start from: the cursor's (a UUIDv7 carries its time), else next month.
        let start = before
            .as_deref()
            .and_then(|b| uuid::Uuid::parse_str(b).ok())
            .and_then(|u| u.get_timestamp())
            .and_then(|ts| {
                let (secs, nanos) = ts.to_unix();
                DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
            })
            .map_or_else(|| month(now) + 1, month);
        let before = before.unwrap_or_else(|| "g".into());
        let mut out: Vec<MessageEvent> = Vec::new();
        for m in (start - EVENT_MONTHS..=start).rev() {
            for k in &kinds {
                let v = values([
                    ("kind", text(k.as_str())),
                    ("month", int(i64::from(m))),
                    ("before", text(&before)),
                    ("lim", lim(limit as usize)),
                ]);
                let rows = self.run(&self.st.messages.event_page, v).await?;
                for row in rows_of::<EventRow>(&rows)? {
                    out.push(row.into_event()?);
                }
            }
            if out.len() >= limit as usize {
                break;
            }
        }
        out.sort_by(|a, b| b.event_id.cmp(&a.event_id));
        out.truncate(limit as usize);
        Ok(out)
    }
}
