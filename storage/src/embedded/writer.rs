//! The single writer of the embedded store: one thread owns the write connection and commits
//! every queued write in one transaction per round (group commit).
//!
//! Writers queue a job and wait for its acknowledgement, which is sent only after the
//! transaction holding it committed — so an acknowledged write is on disk (to the
//! `synchronous` level configured). While one round commits, the next round's jobs queue up, so
//! the cost of a commit is shared by every write that arrived during the previous one. A job that
//! fails (a constraint, a missing campaign) is rolled back and answered with its error without
//! failing the others in its round: the round is then run again with a savepoint per job.

use std::sync::mpsc as std_mpsc;

use chrono::{DateTime, Utc};
use dialer_engine::{Campaign, CampaignId, CampaignState, NewCampaign, PhoneNumber};

use super::read;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::codec::{attributes_json, audit_detail, id_bytes, ms, settings_json};
use crate::error::{Result, StorageError};
use crate::model::{AddContact, CampaignDetails, DncEntry, DncKind, NewContact, WriteBatch};

/// A write for the writer thread.
pub(crate) enum Work {
    Batch(WriteBatch),
    CreateCampaign(Box<NewCampaign>, DateTime<Utc>),
    UpdateDetails(CampaignId, Box<CampaignDetails>, DateTime<Utc>),
    DeleteDraft(CampaignId),
    AddContacts(CampaignId, Vec<NewContact>, DateTime<Utc>),
    AddDnc(Vec<DncEntry>),
    RemoveDnc(PhoneNumber, DncKind),
    Audience(super::audience::AudienceWrite),
    Messages(super::messages::MessageWrite),
}

/// What a write answers.
#[derive(Debug)]
pub(crate) enum Answer {
    Done,
    Campaign(Box<Campaign>),
    Contacts(Vec<AddContact>),
    Count(u32),
    Flag(bool),
    Upserts(Vec<crate::audience::Upserted>),
    Flags(Vec<bool>),
    Message(Option<Box<crate::messages::Message>>),
    Receipt(Option<Box<crate::messages::ReceiptApplied>>),
}

/// A write waiting for the writer thread, with where to send its answer.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) ack: oneshot::Sender<Result<Answer>>,
}

/// Round size limit: enough to share a commit widely, small enough to keep latency bounded.
pub(crate) const MAX_JOBS_PER_ROUND: usize = 2048;

/// Runs the writer loop until every sender is gone, then reports on `done`.
pub(crate) fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, done: std_mpsc::Sender<()>) {
    let mut round = Vec::with_capacity(MAX_JOBS_PER_ROUND);
    while let Some(first) = rx.blocking_recv() {
        round.push(first);
        while round.len() < MAX_JOBS_PER_ROUND {
            match rx.try_recv() {
                Ok(job) => round.push(job),
                Err(_) => break,
            }
        }
        let answers = commit_round(&mut conn, &round);
        for (job, answer) in round.drain(..).zip(answers) {
            // A dropped receiver means the caller stopped waiting; the write stands regardless.
            let _ = job.ack.send(answer);
        }
    }
    let _ = done.send(());
}

/// Commits a round and returns each job's answer. The common case runs every job in one
/// transaction; only when a job fails is the round run again with a savepoint per job, so that
/// the failing job is rolled back alone and the others still commit.
fn commit_round(conn: &mut Connection, round: &[Job]) -> Vec<Result<Answer>> {
    match run_round(conn, round, false) {
        Ok(answers) => answers,
        Err(RoundError::JobFailed) => match run_round(conn, round, true) {
            Ok(answers) => answers,
            Err(e) => failed(round.len(), e.into_storage()),
        },
        Err(e) => failed(round.len(), e.into_storage()),
    }
}

fn failed(n: usize, e: StorageError) -> Vec<Result<Answer>> {
    (0..n).map(|_| Err(e.clone())).collect()
}

enum RoundError {
    /// A job failed in the optimistic pass; nothing was written.
    JobFailed,
    /// The transaction itself failed: nothing was written.
    Storage(StorageError),
}

impl RoundError {
    fn into_storage(self) -> StorageError {
        match self {
            Self::JobFailed => StorageError::Unavailable("write round failed".into()),
            Self::Storage(e) => e,
        }
    }
}

impl From<rusqlite::Error> for RoundError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.into())
    }
}

fn run_round(
    conn: &mut Connection,
    round: &[Job],
    isolate: bool,
) -> std::result::Result<Vec<Result<Answer>>, RoundError> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut answers = Vec::with_capacity(round.len());
    for job in round {
        if isolate {
            let mut sp = tx.savepoint()?;
            let answer = execute(&sp, &job.work);
            if answer.is_err() {
                sp.rollback()?;
            }
            sp.commit()?;
            answers.push(answer);
        } else {
            match execute(&tx, &job.work) {
                Ok(answer) => answers.push(Ok(answer)),
                // Dropping `tx` rolls back everything this pass wrote.
                Err(_) => return Err(RoundError::JobFailed),
            }
        }
    }
    tx.commit()?;
    Ok(answers)
}

fn execute(tx: &Connection, work: &Work) -> Result<Answer> {
    match work {
        Work::Batch(batch) => apply_batch(tx, batch).map(|()| Answer::Done),
        Work::CreateCampaign(new, now) => {
            create_campaign(tx, (**new).clone(), *now).map(|c| Answer::Campaign(Box::new(c)))
        }
        Work::UpdateDetails(id, details, now) => {
            update_details(tx, *id, details, *now).map(|c| Answer::Campaign(Box::new(c)))
        }
        Work::DeleteDraft(id) => delete_draft(tx, *id).map(Answer::Flag),
        Work::AddContacts(campaign, contacts, now) => {
            add_contacts(tx, *campaign, contacts, *now).map(Answer::Contacts)
        }
        Work::AddDnc(entries) => add_dnc(tx, entries).map(Answer::Count),
        Work::RemoveDnc(phone, kind) => remove_dnc(tx, phone, *kind).map(Answer::Flag),
        Work::Audience(w) => super::audience::write(tx, w),
        Work::Messages(w) => super::messages::write(tx, w),
    }
}

/// The writes every call's progress makes: its row, its audit events, its campaign's counters.
const UPSERT_CALL_SQL: &str = "INSERT INTO calls (call_id, campaign_id, contact_id, phone, origin, status, attempt_count, max_attempts,
                created_at, updated_at, scheduled_at, due_at, last_attempt_at, last_outcome, total_call_time,
                external_call_id, error_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (call_id) DO UPDATE SET
                status = excluded.status, attempt_count = excluded.attempt_count,
                max_attempts = excluded.max_attempts, updated_at = excluded.updated_at,
                due_at = excluded.due_at, last_attempt_at = excluded.last_attempt_at,
                last_outcome = excluded.last_outcome, total_call_time = excluded.total_call_time,
                external_call_id = excluded.external_call_id, error_message = excluded.error_message";
const INSERT_EVENT_SQL: &str = "INSERT INTO call_events (call_id, campaign_id, at, attempt, kind, from_status, to_status, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const ADD_COUNTER_SQL: &str = "INSERT INTO counters (campaign_id, name, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (campaign_id, name) DO UPDATE SET value = value + excluded.value";

fn apply_batch(tx: &Connection, b: &WriteBatch) -> Result<()> {
    {
        let mut upsert = tx.prepare_cached(UPSERT_CALL_SQL)?;
        for c in &b.calls {
            upsert.execute(params![
                id_bytes(c.call_id),
                c.campaign_id.get(),
                c.contact_id.map(|id| id.get()),
                c.phone_number.as_str(),
                c.origin.as_str(),
                c.status.as_str(),
                c.attempt_count,
                c.max_attempts,
                ms(c.created_at),
                ms(c.updated_at),
                ms(c.scheduled_at),
                c.due_at.map(ms),
                c.last_attempt_at.map(ms),
                c.last_outcome.map(|o| o.as_str()),
                c.total_call_time,
                c.external_call_id,
                c.error_message,
            ])?;
        }
    }
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT_SQL)?;
        for a in &b.audits {
            insert.execute(params![
                id_bytes(a.call_id),
                a.campaign_id.get(),
                ms(a.at),
                a.attempt,
                a.kind.name(),
                a.from_status.map(|s| s.as_str()),
                a.to_status.map(|s| s.as_str()),
                audit_detail(&a.kind)?,
            ])?;
        }
    }
    {
        let mut add = tx.prepare_cached(ADD_COUNTER_SQL)?;
        for d in &b.counters {
            add.execute(params![d.campaign_id.get(), d.name, d.delta])?;
        }
    }
    let mut cursor = tx.prepare_cached(
        "UPDATE campaigns SET dial_cursor = MAX(COALESCE(dial_cursor, 0), ?2) WHERE id = ?1",
    )?;
    let mut zone_cursor = tx.prepare_cached(
        "INSERT INTO list_zones (campaign_id, zone, cursor) VALUES (?1, ?2, ?3)
         ON CONFLICT (campaign_id, zone) DO UPDATE SET cursor = MAX(COALESCE(cursor, 0), excluded.cursor)",
    )?;
    for c in &b.cursors {
        if cursor.execute(params![c.campaign_id.get(), c.contact.get()])? == 0 {
            return Err(StorageError::NotFound {
                what: "campaign",
                id: c.campaign_id.to_string(),
            });
        }
        zone_cursor.execute(params![c.campaign_id.get(), c.zone, c.contact.get()])?;
    }
    let mut state =
        tx.prepare_cached("UPDATE campaigns SET state = ?2, updated_at = ?3 WHERE id = ?1")?;
    for change in &b.states {
        let params = params![
            change.campaign_id.get(),
            change.state.as_str(),
            ms(change.at)
        ];
        if state.execute(params)? == 0 {
            return Err(StorageError::NotFound {
                what: "campaign",
                id: change.campaign_id.to_string(),
            });
        }
    }
    Ok(())
}

fn create_campaign(tx: &Connection, new: NewCampaign, now: DateTime<Utc>) -> Result<Campaign> {
    tx.execute(
        "INSERT INTO campaigns (name, description, is_active, state, settings, dial_cursor, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?6)",
        params![new.name, new.description, new.is_active, CampaignState::Draft.as_str(), settings_json(&new.settings)?, ms(now)],
    )?;
    let id = CampaignId::new(tx.last_insert_rowid())
        .map_err(|e| StorageError::Corrupt(format!("campaign id: {e}")))?;
    Ok(Campaign {
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
    })
}

/// Deletes a draft campaign that has no calls, with its contacts and counters, in one
/// transaction: nothing can add a call between the check and the delete.
fn delete_draft(tx: &Connection, id: CampaignId) -> Result<bool> {
    let Some(campaign) = read::campaign(tx, id)? else {
        return Ok(false);
    };
    if campaign.state != CampaignState::Draft {
        return Err(StorageError::Conflict(format!(
            "campaign {id} is {}: only a draft can be deleted (archive it instead)",
            campaign.state.as_str()
        )));
    }
    let has_calls: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE campaign_id = ?1)",
        [id.get()],
        |r| r.get(0),
    )?;
    if has_calls {
        return Err(StorageError::Conflict(format!(
            "campaign {id} has calls: archive it instead, which keeps them"
        )));
    }
    tx.execute("DELETE FROM contacts WHERE campaign_id = ?1", [id.get()])?;
    tx.execute("DELETE FROM list_zones WHERE campaign_id = ?1", [id.get()])?;
    tx.execute("DELETE FROM counters WHERE campaign_id = ?1", [id.get()])?;
    tx.execute("DELETE FROM campaigns WHERE id = ?1", [id.get()])?;
    Ok(true)
}

fn update_details(
    tx: &Connection,
    id: CampaignId,
    d: &CampaignDetails,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    // Only the columns an operator owns: state and dial cursor belong to the campaign's owner.
    let changed = tx.execute(
        "UPDATE campaigns SET name = ?2, description = ?3, is_active = ?4, settings = ?5,
            updated_at = ?6, archived_at = ?7 WHERE id = ?1",
        params![
            id.get(),
            d.name,
            d.description,
            d.is_active,
            settings_json(&d.settings)?,
            ms(now),
            d.archived_at.map(ms)
        ],
    )?;
    if changed == 0 {
        return Err(StorageError::NotFound {
            what: "campaign",
            id: id.to_string(),
        });
    }
    read::campaign(tx, id)?.ok_or_else(|| StorageError::NotFound {
        what: "campaign",
        id: id.to_string(),
    })
}

fn add_contacts(
    tx: &Connection,
    campaign: CampaignId,
    contacts: &[NewContact],
    now: DateTime<Utc>,
) -> Result<Vec<AddContact>> {
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM campaigns WHERE id = ?1",
            [campaign.get()],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Err(StorageError::NotFound {
            what: "campaign",
            id: campaign.to_string(),
        });
    }
    let mut find = tx.prepare_cached(
        "SELECT id, attributes FROM contacts WHERE campaign_id = ?1 AND phone = ?2",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO contacts (campaign_id, phone, attributes, added_at, zone) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut zone = tx.prepare_cached(
        "INSERT INTO list_zones (campaign_id, zone) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    let mut zones_seen = std::collections::HashSet::new();
    let mut merge = tx.prepare_cached("UPDATE contacts SET attributes = ?2 WHERE id = ?1")?;
    let mut out = Vec::with_capacity(contacts.len());
    for c in contacts {
        let existing: Option<(i64, String)> = find
            .query_row(params![campaign.get(), c.phone_number.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let contact_id = |v: i64| {
            dialer_engine::ContactId::new(v)
                .map_err(|e| StorageError::Corrupt(format!("contact id: {e}")))
        };
        match existing {
            Some((id, old)) => {
                if !c.attributes.is_empty() {
                    let mut attrs = crate::decode::attributes(&old)?;
                    attrs.extend(c.attributes.clone());
                    merge.execute(params![id, attributes_json(&attrs)?])?;
                }
                out.push(AddContact::Merged(contact_id(id)?));
            }
            None => {
                let key = dialer_engine::dispatch::zone_key(&c.phone_number);
                insert.execute(params![
                    campaign.get(),
                    c.phone_number.as_str(),
                    attributes_json(&c.attributes)?,
                    ms(now),
                    key
                ])?;
                if !zones_seen.contains(&key) {
                    zone.execute(params![campaign.get(), key])?;
                    zones_seen.insert(key);
                }
                out.push(AddContact::Added(contact_id(tx.last_insert_rowid())?));
            }
        }
    }
    Ok(out)
}

fn add_dnc(tx: &Connection, entries: &[DncEntry]) -> Result<u32> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO dnc (phone, kind, source, added_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    let mut added = 0;
    for e in entries {
        added += insert.execute(params![
            e.phone_number.as_str(),
            e.kind.as_str(),
            e.source,
            ms(e.added_at)
        ])? as u32;
    }
    Ok(added)
}

fn remove_dnc(tx: &Connection, phone: &PhoneNumber, kind: DncKind) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM dnc WHERE phone = ?1 AND kind = ?2",
        params![phone.as_str(), kind.as_str()],
    )? > 0)
}

#[cfg(test)]
mod tests;
