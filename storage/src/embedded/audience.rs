//! The audience store on SQLite: writes through the writer thread like every other write,
//! reads on the reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::Consent;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::EmbeddedStore;
use super::writer::{Answer, Work};
use crate::audience::{
    AudienceStore, Definition, DefinitionKind, Recipient, RecipientUpsert, Upserted,
};
use crate::decode::{
    attributes, attributes_json, consent, definition_kind, document, document_json, ms, phone, time,
};
use crate::error::Result;

/// A write to the audience tables.
#[derive(Debug)]
pub(crate) enum AudienceWrite {
    Upsert(Vec<RecipientUpsert>, DateTime<Utc>),
    Consent(PhoneNumber, Consent, DateTime<Utc>),
    Subscribe(PhoneNumber, String, DateTime<Utc>),
    Unsubscribe(PhoneNumber, String),
    Put(DefinitionKind, String, serde_json::Value, DateTime<Utc>),
    Delete(DefinitionKind, String),
}

const RECIPIENT_COLUMNS: &str = "phone, attributes, consent, created_at, updated_at";
const DEFINITION_COLUMNS: &str = "kind, name, body, created_at, updated_at";

fn recipient_from_row(r: &Row<'_>) -> Result<Recipient> {
    Ok(Recipient {
        phone_number: phone("phone", &r.get::<_, String>(0)?)?,
        attributes: attributes(&r.get::<_, String>(1)?)?,
        consent: consent("consent", &r.get::<_, String>(2)?)?,
        created_at: time("created_at", r.get(3)?)?,
        updated_at: time("updated_at", r.get(4)?)?,
    })
}

fn definition_from_row(r: &Row<'_>) -> Result<Definition> {
    Ok(Definition {
        kind: definition_kind("kind", &r.get::<_, String>(0)?)?,
        name: r.get(1)?,
        body: document("body", &r.get::<_, String>(2)?)?,
        created_at: time("created_at", r.get(3)?)?,
        updated_at: time("updated_at", r.get(4)?)?,
    })
}

fn recipient(conn: &Connection, p: &PhoneNumber) -> Result<Option<Recipient>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE phone = ?1"
    ))?;
    stmt.query_row([p.as_str()], |r| Ok(recipient_from_row(r)))
        .optional()?
        .transpose()
}

fn put_recipient(tx: &Connection, r: &Recipient) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO recipients (phone, attributes, consent, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (phone) DO UPDATE SET attributes = excluded.attributes,
            consent = excluded.consent, updated_at = excluded.updated_at",
    )?
    .execute(params![
        r.phone_number.as_str(),
        attributes_json(&r.attributes)?,
        r.consent.as_str(),
        ms(r.created_at),
        ms(r.updated_at)
    ])?;
    Ok(())
}

fn upsert(tx: &Connection, u: RecipientUpsert, now: DateTime<Utc>) -> Result<Upserted> {
    let (merged, outcome) = match recipient(tx, &u.phone_number)? {
        Some(r) => (r.merged(u, now), Upserted::Merged),
        None => (Recipient::new(u, now), Upserted::Added),
    };
    put_recipient(tx, &merged)?;
    Ok(outcome)
}

fn ensure(tx: &Connection, p: &PhoneNumber, now: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO recipients (phone, attributes, consent, created_at, updated_at)
         VALUES (?1, '{}', ?2, ?3, ?3) ON CONFLICT DO NOTHING",
    )?
    .execute(params![p.as_str(), Consent::Unknown.as_str(), ms(now)])?;
    Ok(())
}

/// Applies one audience write inside the writer's transaction.
pub(crate) fn write(tx: &Connection, w: &AudienceWrite) -> Result<Answer> {
    Ok(match w {
        AudienceWrite::Upsert(batch, now) => Answer::Upserts(
            batch
                .iter()
                .map(|u| upsert(tx, u.clone(), *now))
                .collect::<Result<_>>()?,
        ),
        AudienceWrite::Consent(p, c, now) => {
            let u = RecipientUpsert {
                phone_number: p.clone(),
                attributes: Default::default(),
                consent: Some(*c),
            };
            upsert(tx, u, *now)?;
            Answer::Done
        }
        AudienceWrite::Subscribe(p, topic, now) => {
            ensure(tx, p, *now)?;
            let added = tx
                .prepare_cached(
                    "INSERT INTO subscriptions (phone, topic, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![p.as_str(), topic, ms(*now)])?;
            Answer::Flag(added > 0)
        }
        AudienceWrite::Unsubscribe(p, topic) => Answer::Flag(
            tx.execute(
                "DELETE FROM subscriptions WHERE phone = ?1 AND topic = ?2",
                params![p.as_str(), topic],
            )? > 0,
        ),
        AudienceWrite::Put(kind, name, body, now) => {
            let existed: bool = tx
                .prepare_cached("SELECT 1 FROM definitions WHERE kind = ?1 AND name = ?2")?
                .exists(params![kind.as_str(), name])?;
            tx.prepare_cached(
                "INSERT INTO definitions (kind, name, body, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body,
                    updated_at = excluded.updated_at",
            )?
            .execute(params![kind.as_str(), name, document_json(body)?, ms(*now)])?;
            Answer::Flag(!existed)
        }
        AudienceWrite::Delete(kind, name) => Answer::Flag(
            tx.execute(
                "DELETE FROM definitions WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )? > 0,
        ),
    })
}

impl EmbeddedStore {
    async fn audience(&self, w: AudienceWrite) -> Result<Answer> {
        self.write(Work::Audience(w)).await
    }

    async fn flag(&self, w: AudienceWrite) -> Result<bool> {
        match self.audience(w).await? {
            Answer::Flag(f) => Ok(f),
            other => Err(super::unexpected(other)),
        }
    }
}

#[async_trait]
impl AudienceStore for EmbeddedStore {
    async fn upsert_recipients(
        &self,
        batch: Vec<RecipientUpsert>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Upserted>> {
        match self.audience(AudienceWrite::Upsert(batch, now)).await? {
            Answer::Upserts(v) => Ok(v),
            other => Err(super::unexpected(other)),
        }
    }

    async fn get_recipient(&self, p: &PhoneNumber) -> Result<Option<Recipient>> {
        let p = p.clone();
        self.read(move |c| recipient(c, &p)).await
    }

    async fn list_recipients(
        &self,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<Recipient>> {
        self.read(move |c| {
            let after = after.as_ref().map_or("", PhoneNumber::as_str);
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE phone > ?1 ORDER BY phone LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![after, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(recipient_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn set_consent(&self, p: &PhoneNumber, c: Consent, now: DateTime<Utc>) -> Result<()> {
        self.audience(AudienceWrite::Consent(p.clone(), c, now))
            .await
            .map(|_| ())
    }

    async fn subscribe(&self, p: &PhoneNumber, topic: &str, now: DateTime<Utc>) -> Result<bool> {
        self.flag(AudienceWrite::Subscribe(p.clone(), topic.to_owned(), now))
            .await
    }

    async fn unsubscribe(&self, p: &PhoneNumber, topic: &str) -> Result<bool> {
        self.flag(AudienceWrite::Unsubscribe(p.clone(), topic.to_owned()))
            .await
    }

    async fn topics_of(&self, p: &PhoneNumber) -> Result<Vec<String>> {
        let p = p.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT topic FROM subscriptions WHERE phone = ?1 ORDER BY topic",
            )?;
            let rows = stmt.query_map([p.as_str()], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn subscribers(
        &self,
        topic: &str,
        after: Option<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<PhoneNumber>> {
        let topic = topic.to_owned();
        self.read(move |c| {
            let after = after.as_ref().map_or("", PhoneNumber::as_str);
            let mut stmt = c.prepare_cached(
                "SELECT phone FROM subscriptions WHERE topic = ?1 AND phone > ?2
                 ORDER BY phone LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![topic, after, limit], |r| r.get::<_, String>(0))?;
            rows.map(|p| phone("phone", &p?)).collect()
        })
        .await
    }

    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.flag(AudienceWrite::Put(kind, name.to_owned(), body, now))
            .await
    }

    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<Option<Definition>> {
        let name = name.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DEFINITION_COLUMNS} FROM definitions WHERE kind = ?1 AND name = ?2"
            ))?;
            stmt.query_row(params![kind.as_str(), name], |r| Ok(definition_from_row(r)))
                .optional()?
                .transpose()
        })
        .await
    }

    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<Definition>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DEFINITION_COLUMNS} FROM definitions WHERE kind = ?1 ORDER BY name"
            ))?;
            let mut rows = stmt.query([kind.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(definition_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<bool> {
        self.flag(AudienceWrite::Delete(kind, name.to_owned()))
            .await
    }
}
