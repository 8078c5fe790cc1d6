//! The audience store on ScyllaDB (schema: `cql/0005_audience.cql`). A recipient's merge is a
//! read followed by a conditional update on the `updated_at` it read, retried when another
//! writer got there first, so concurrent merges lose no attribute.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::Consent;
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use super::rows::{DNC_BUCKETS, big, dnc_bucket, int, text};
use super::statements::prep;
use super::store::{lim, lwt, rows_of, values};
use super::{ScyllaStore, unavailable};
use crate::audience::{
    AudienceStore, Definition, DefinitionKind, Recipient, RecipientUpsert, Upserted,
};
use crate::decode::{
    attributes, attributes_json, consent, definition_kind, document, document_json, ms, phone, time,
};
use crate::error::Result;

const RECIPIENT_COLUMNS: &str = "phone, attributes, consent, created_at, updated_at";
const DEFINITION_COLUMNS: &str = "kind, name, body, created_at, updated_at";
/// Attempts of a merge that keeps meeting a concurrent writer before it gives up.
const MERGE_ATTEMPTS: usize = 16;

pub(crate) struct Statements {
    recipient_add: PreparedStatement,
    recipient_get: PreparedStatement,
    recipient_merge: PreparedStatement,
    recipient_page: PreparedStatement,
    sub_topic_put: PreparedStatement,
    sub_topic_delete: PreparedStatement,
    sub_recipient_put: PreparedStatement,
    sub_recipient_delete: PreparedStatement,
    topics_of: PreparedStatement,
    subscribers: PreparedStatement,
    definition_add: PreparedStatement,
    definition_update: PreparedStatement,
    definition_get: PreparedStatement,
    definitions_of: PreparedStatement,
    definition_delete: PreparedStatement,
}

impl Statements {
    pub(crate) async fn prepare(s: &Session, ks: &str) -> Result<Self> {
        let t = |name: &str| format!("{ks}.{name}");
        Ok(Self {
            recipient_add: prep(s, format!(
                "INSERT INTO {} (bucket, {RECIPIENT_COLUMNS}) VALUES (:bucket, :phone, :attributes, :consent, :created_at, :updated_at) IF NOT EXISTS",
                t("recipients")), true).await?,
            recipient_get: prep(s, format!("SELECT {RECIPIENT_COLUMNS} FROM {} WHERE bucket = :bucket AND phone = :phone", t("recipients")), false).await?,
            recipient_merge: prep(s, format!(
                "UPDATE {} SET attributes = :attributes, consent = :consent, updated_at = :updated_at WHERE bucket = :bucket AND phone = :phone IF updated_at = :seen",
                t("recipients")), true).await?,
            recipient_page: prep(s, format!(
                "SELECT {RECIPIENT_COLUMNS} FROM {} WHERE bucket = :bucket AND phone > :after LIMIT :lim",
                t("recipients")), false).await?,
            sub_topic_put: prep(s, format!("INSERT INTO {} (topic, phone) VALUES (:topic, :phone)", t("subscribers_by_topic")), false).await?,
            sub_topic_delete: prep(s, format!("DELETE FROM {} WHERE topic = :topic AND phone = :phone", t("subscribers_by_topic")), false).await?,
            sub_recipient_put: prep(s, format!(
                "INSERT INTO {} (phone, topic, created_at) VALUES (:phone, :topic, :created_at) IF NOT EXISTS",
                t("subscriptions_by_recipient")), true).await?,
            sub_recipient_delete: prep(s, format!(
                "DELETE FROM {} WHERE phone = :phone AND topic = :topic IF EXISTS",
                t("subscriptions_by_recipient")), true).await?,
            topics_of: prep(s, format!("SELECT topic FROM {} WHERE phone = :phone", t("subscriptions_by_recipient")), false).await?,
            subscribers: prep(s, format!(
                "SELECT phone FROM {} WHERE topic = :topic AND phone > :after LIMIT :lim",
                t("subscribers_by_topic")), false).await?,
            definition_add: prep(s, format!(
                "INSERT INTO {} ({DEFINITION_COLUMNS}) VALUES (:kind, :name, :body, :now, :now) IF NOT EXISTS",
                t("definitions")), true).await?,
            definition_update: prep(s, format!(
                "UPDATE {} SET body = :body, updated_at = :now WHERE kind = :kind AND name = :name",
                t("definitions")), false).await?,
            definition_get: prep(s, format!("SELECT {DEFINITION_COLUMNS} FROM {} WHERE kind = :kind AND name = :name", t("definitions")), false).await?,
            definitions_of: prep(s, format!("SELECT {DEFINITION_COLUMNS} FROM {} WHERE kind = :kind", t("definitions")), false).await?,
            definition_delete: prep(s, format!("DELETE FROM {} WHERE kind = :kind AND name = :name IF EXISTS", t("definitions")), true).await?,
        })
    }
}

#[derive(DeserializeRow)]
struct RecipientRow {
    phone: String,
    attributes: String,
    consent: String,
    created_at: i64,
    updated_at: i64,
}

impl RecipientRow {
    fn into_recipient(self) -> Result<Recipient> {
        Ok(Recipient {
            phone_number: phone("phone", &self.phone)?,
            attributes: attributes(&self.attributes)?,
            consent: consent("consent", &self.consent)?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
        })
    }
}

#[derive(DeserializeRow)]
struct DefinitionRow {
    kind: String,
    name: String,
    body: String,
    created_at: i64,
    updated_at: i64,
}

impl DefinitionRow {
    fn into_definition(self) -> Result<Definition> {
        Ok(Definition {
            kind: definition_kind("kind", &self.kind)?,
            name: self.name,
            body: document("body", &self.body)?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
        })
    }
}

fn key(p: &PhoneNumber) -> [(&'static str, Option<CqlValue>); 2] {
    [
        ("bucket", int(dnc_bucket(p.as_str()))),
        ("phone", text(p.as_str())),
    ]
}

impl ScyllaStore {
    async fn recipient(&self, p: &PhoneNumber) -> Result<Option<Recipient>> {
        let rows = self
            .run(&self.st.audience.recipient_get, values(key(p)))
            .await?;
        rows_of::<RecipientRow>(&rows)?
            .into_iter()
            .next()
            .map(RecipientRow::into_recipient)
            .transpose()
    }

    async fn upsert_one(&self, u: RecipientUpsert, now: DateTime<Utc>) -> Result<Upserted> {
        let st = &self.st.audience;
        let fresh = Recipient::new(u.clone(), now);
        let mut v = values(key(&fresh.phone_number));
        v.insert("attributes", text(attributes_json(&fresh.attributes)?));
        v.insert("consent", text(fresh.consent.as_str()));
        v.insert("created_at", big(ms(now)));
        v.insert("updated_at", big(ms(now)));
        if lwt(&self.run(&st.recipient_add, v).await?)?.0 {
            return Ok(Upserted::Added);
        }
        for _ in 0..MERGE_ATTEMPTS {
            let Some(current) = self.recipient(&fresh.phone_number).await? else {
                continue;
            };
            let seen = ms(current.updated_at);
            // A merge never moves `updated_at` back, or the condition below could repeat.
            let at = now.max(current.updated_at);
            let merged = current.merged(u.clone(), at);
            let mut v = values(key(&merged.phone_number));
            v.insert("attributes", text(attributes_json(&merged.attributes)?));
            v.insert("consent", text(merged.consent.as_str()));
            v.insert("updated_at", big(ms(at)));
            v.insert("seen", big(seen));
            if lwt(&self.run(&st.recipient_merge, v).await?)?.0 {
                return Ok(Upserted::Merged);
            }
        }
        Err(unavailable("a recipient kept changing under a merge"))
    }
}

#[async_trait]
impl AudienceStore for ScyllaStore {
    async fn upsert_recipients(
        &self,
        batch: Vec<RecipientUpsert>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Upserted>> {
        self.open()?;
        let mut out = Vec::with_capacity(batch.len());
        for u in batch {
            out.push(self.upsert_one(u, now).await?);
        }
        Ok(out)
    }

    async fn get_recipient(&self, p: &PhoneNumber) -> Result<Option<Recipient>> {
        self.recipient(p).await
    }

    async fn list_recipients(
        &self,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<Recipient>> {
        // Order: bucket, then number within it; the cursor's number gives its bucket.
        let (mut bucket, mut from) = match &after {
            Some(p) => (dnc_bucket(p.as_str()), p.as_str().to_owned()),
            None => (0, String::new()),
        };
        let mut out = Vec::new();
        while bucket < DNC_BUCKETS && out.len() < limit as usize {
            let v = values([
                ("bucket", int(bucket)),
                ("after", text(&from)),
                ("lim", lim(limit as usize - out.len())),
            ]);
            for row in
                rows_of::<RecipientRow>(&self.run(&self.st.audience.recipient_page, v).await?)?
            {
                out.push(row.into_recipient()?);
            }
            bucket += 1;
            from = String::new();
        }
        Ok(out)
    }

    async fn set_consent(&self, p: &PhoneNumber, c: Consent, now: DateTime<Utc>) -> Result<()> {
        let u = RecipientUpsert {
            phone_number: p.clone(),
            attributes: Default::default(),
            consent: Some(c),
        };
        self.upsert_recipients(vec![u], now).await.map(|_| ())
    }

    async fn subscribe(&self, p: &PhoneNumber, topic: &str, now: DateTime<Utc>) -> Result<bool> {
        self.open()?;
        let st = &self.st.audience;
        let mut v = values(key(p));
        v.insert("attributes", text("{}"));
        v.insert("consent", text(Consent::Unknown.as_str()));
        v.insert("created_at", big(ms(now)));
        v.insert("updated_at", big(ms(now)));
        self.run(&st.recipient_add, v).await?;
        let pair = values([("topic", text(topic)), ("phone", text(p.as_str()))]);
        self.exec(&st.sub_topic_put, pair.clone()).await?;
        let mut v = pair;
        v.insert("created_at", big(ms(now)));
        Ok(lwt(&self.run(&st.sub_recipient_put, v).await?)?.0)
    }

    async fn unsubscribe(&self, p: &PhoneNumber, topic: &str) -> Result<bool> {
        self.open()?;
        let st = &self.st.audience;
        let pair = values([("topic", text(topic)), ("phone", text(p.as_str()))]);
        let removed = lwt(&self.run(&st.sub_recipient_delete, pair.clone()).await?)?.0;
        self.exec(&st.sub_topic_delete, pair).await?;
        Ok(removed)
    }

    async fn topics_of(&self, p: &PhoneNumber) -> Result<Vec<String>> {
        let rows = self
            .run(
                &self.st.audience.topics_of,
                values([("phone", text(p.as_str()))]),
            )
            .await?;
        Ok(rows_of::<(String,)>(&rows)?
            .into_iter()
            .map(|(t,)| t)
            .collect())
    }

    async fn subscribers(
        &self,
        topic: &str,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<PhoneNumber>> {
        let v = values([
            ("topic", text(topic)),
            (
                "after",
                text(after.as_ref().map_or("", PhoneNumber::as_str)),
            ),
            ("lim", lim(limit as usize)),
        ]);
        let rows = self.run(&self.st.audience.subscribers, v).await?;
        rows_of::<(String,)>(&rows)?
            .into_iter()
            .map(|(p,)| phone("phone", &p))
            .collect()
    }

    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.open()?;
        let st = &self.st.audience;
        let v = values([
            ("kind", text(kind.as_str())),
            ("name", text(name)),
            ("body", text(document_json(&body)?)),
            ("now", big(ms(now))),
        ]);
        if lwt(&self.run(&st.definition_add, v.clone()).await?)?.0 {
            return Ok(true);
        }
        self.exec(&st.definition_update, v).await?;
        Ok(false)
    }

    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<Option<Definition>> {
        let v = values([("kind", text(kind.as_str())), ("name", text(name))]);
        let rows = self.run(&self.st.audience.definition_get, v).await?;
        rows_of::<DefinitionRow>(&rows)?
            .into_iter()
            .next()
            .map(DefinitionRow::into_definition)
            .transpose()
    }

    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<Definition>> {
        let v = values([("kind", text(kind.as_str()))]);
        let rows = self.run(&self.st.audience.definitions_of, v).await?;
        rows_of::<DefinitionRow>(&rows)?
            .into_iter()
            .map(DefinitionRow::into_definition)
            .collect()
    }

    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<bool> {
        self.open()?;
        let v = values([("kind", text(kind.as_str())), ("name", text(name))]);
        Ok(lwt(&self.run(&self.st.audience.definition_delete, v).await?)?.0)
    }
}
