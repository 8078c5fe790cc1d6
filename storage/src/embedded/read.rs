//! The read side of the embedded store: queries on read-only connections (`readers` says where
//! they run). In WAL mode readers see the last committed state and never block the writer.
//!
//! `col = +?N` and `LIMIT +?N`: SQLite (3.54) plans with the values bound to `col = ?N` next to
//! an ORDER BY, and to `LIMIT ?N`, and so re-prepares the statement every time they change —
//! which made preparing a third of the read path's CPU under load. The unary `+` keeps the same
//! index plan without the re-prepare; `hot_queries_use_their_indexes_and_are_prepared_once`
//! checks both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallAudit, CallId, Campaign, CampaignId, ContactId, Lane, PhoneNumber};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter, types::Value};

use super::codec::{
    CALL_COLUMNS, CAMPAIGN_COLUMNS, CONTACT_COLUMNS, DNC_COLUMNS, EVENT_COLUMNS, call_from_row,
    campaign_from_row, contact_from_row, dnc_from_row, event_from_row, id_bytes, ms,
};
use crate::decode::contact_id;
use crate::error::Result;
use crate::model::{CallFilter, Contact, DncEntry, DncKind, ListZone};

// The queries of the hot read path, named so that their plans can be tested.

fn contacts_page_sql() -> String {
    format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign_id = +?1 AND id > ?2 ORDER BY id LIMIT +?3"
    )
}

fn zone_page_sql() -> String {
    format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign_id = +?1 AND zone = +?2 AND id > ?3 ORDER BY id LIMIT +?4"
    )
}

fn latest_call_to_sql() -> String {
    format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE campaign_id = +?1 AND phone = +?2 AND created_at >= ?3
         ORDER BY created_at DESC, call_id DESC LIMIT 1"
    )
}

fn events_sql() -> String {
    format!("SELECT {EVENT_COLUMNS} FROM call_events WHERE call_id = +?1 ORDER BY id")
}

fn dnc_for_sql() -> String {
    format!("SELECT {DNC_COLUMNS} FROM dnc WHERE phone = +?1 ORDER BY kind")
}

/// The conditions of the `calls_pending`, `calls_live` and `calls_by_status` partial indexes,
/// spelled exactly as the schema spells them: SQLite uses a partial index only for a query
/// whose WHERE clause contains its condition term for term (migration 0008 says why they are
/// comparisons rather than IN lists).
const PENDING: &str = "(status = 'SCHEDULED' OR status = 'INITIATED' OR status = 'RETRYING')";
const LIVE: &str = "(status = 'DIALING' OR status = 'RINGING' OR status = 'IN_PROGRESS')";
const NOT_LIVE: &str = "(status <> 'DIALING' AND status <> 'RINGING' AND status <> 'IN_PROGRESS')";

fn pending_sql() -> String {
    format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE campaign_id = +?1 AND (origin = 'campaign') = +?2
         AND {PENDING} ORDER BY due_at, call_id LIMIT +?3"
    )
}

fn pending_after_sql() -> String {
    format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE campaign_id = +?1 AND (origin = 'campaign') = +?2
         AND {PENDING} AND (due_at > ?4 OR (due_at = ?4 AND call_id > ?5))
         ORDER BY due_at, call_id LIMIT +?3"
    )
}

fn live_sql() -> String {
    format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE campaign_id = +?1 AND {LIVE}
         AND call_id > ?2 ORDER BY call_id LIMIT +?3"
    )
}

fn has_open_sql() -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE campaign_id = ?1 AND {PENDING})
             OR EXISTS (SELECT 1 FROM calls WHERE campaign_id = ?1 AND {LIVE})"
    )
}

const COUNTERS_SQL: &str = "SELECT name, value FROM counters WHERE campaign_id = +?1 ORDER BY name";

/// Runs `sql` and maps every row, stopping at the first unreadable one.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

pub(crate) fn campaign(conn: &Connection, id: CampaignId) -> Result<Option<Campaign>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?1");
    Ok(collect(conn, &sql, [id.get()], campaign_from_row)?
        .into_iter()
        .next())
}

pub(crate) fn campaigns(
    conn: &Connection,
    after: Option<CampaignId>,
    limit: u32,
) -> Result<Vec<Campaign>> {
    let sql =
        format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id > ?1 ORDER BY id LIMIT +?2");
    collect(
        conn,
        &sql,
        params![after.map_or(0, |a| a.get()), limit],
        campaign_from_row,
    )
}

pub(crate) fn contacts_page(
    conn: &Connection,
    campaign: CampaignId,
    after: Option<ContactId>,
    limit: u32,
) -> Result<Vec<Contact>> {
    collect(
        conn,
        &contacts_page_sql(),
        params![campaign.get(), after.map_or(0, |a| a.get()), limit],
        contact_from_row,
    )
}

pub(crate) fn zone_page(
    conn: &Connection,
    campaign: CampaignId,
    zone: &str,
    after: Option<ContactId>,
    limit: u32,
) -> Result<Vec<Contact>> {
    collect(
        conn,
        &zone_page_sql(),
        params![campaign.get(), zone, after.map_or(0, |a| a.get()), limit],
        contact_from_row,
    )
}

pub(crate) fn list_zones(conn: &Connection, campaign: CampaignId) -> Result<Vec<ListZone>> {
    collect(
        conn,
        "SELECT zone, cursor FROM list_zones WHERE campaign_id = ?1 ORDER BY zone",
        params![campaign.get()],
        |r| {
            Ok(ListZone {
                key: r.get(0)?,
                after: r
                    .get::<_, Option<i64>>(1)?
                    .map(|v| contact_id("list_zones.cursor", v))
                    .transpose()?,
            })
        },
    )
}

pub(crate) fn contact(
    conn: &Connection,
    campaign: CampaignId,
    phone: &PhoneNumber,
) -> Result<Option<Contact>> {
    let sql =
        format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign_id = ?1 AND phone = ?2");
    Ok(collect(
        conn,
        &sql,
        params![campaign.get(), phone.as_str()],
        contact_from_row,
    )?
    .into_iter()
    .next())
}

pub(crate) fn count_contacts(conn: &Connection, campaign: CampaignId) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM contacts WHERE campaign_id = ?1",
        [campaign.get()],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

pub(crate) fn call(conn: &Connection, id: CallId) -> Result<Option<Call>> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?1");
    Ok(collect(conn, &sql, [id_bytes(id)], call_from_row)?
        .into_iter()
        .next())
}

pub(crate) fn calls(
    conn: &Connection,
    f: &CallFilter,
    before: Option<CallId>,
    limit: u32,
) -> Result<Vec<Call>> {
    let (sql, args) = calls_sql(f, before, limit);
    collect(conn, &sql, params_from_iter(args), call_from_row)
}

/// The query listing calls by `f`, newest first, and its arguments.
fn calls_sql(f: &CallFilter, before: Option<CallId>, limit: u32) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    // Indexes keyed by campaign first are read one range per campaign (a short list) when no
    // campaign is given, rather than scanning every call.
    let mut each_campaign = false;
    if let Some(c) = f.campaign_id {
        arg(&mut sql, " AND campaign_id = +?", Value::Integer(c.get()));
    }
    if let Some(s) = f.status {
        arg(
            &mut sql,
            " AND status = +?",
            Value::Text(s.as_str().to_owned()),
        );
        // Spelled as the partial indexes' conditions, so that SQLite can use them: calls in
        // flight are in `calls_live` (by campaign), the others in `calls_by_status`.
        if s.is_live() {
            sql.push_str(&format!(" AND {LIVE}"));
            each_campaign = true;
        } else {
            sql.push_str(&format!(" AND {NOT_LIVE}"));
        }
    }
    if let Some(o) = f.origin {
        arg(
            &mut sql,
            " AND origin = +?",
            Value::Text(o.as_str().to_owned()),
        );
    }
    if let Some(t) = f.scheduled_from {
        arg(&mut sql, " AND scheduled_at >= ?", Value::Integer(ms(t)));
    }
    if let Some(t) = f.scheduled_to {
        arg(&mut sql, " AND scheduled_at < ?", Value::Integer(ms(t)));
    }
    if let Some(p) = &f.phone_number {
        // `calls_by_phone` is keyed by campaign first.
        each_campaign = true;
        arg(
            &mut sql,
            " AND phone = ?",
            Value::Text(p.as_str().to_owned()),
        );
    }
    if each_campaign && f.campaign_id.is_none() {
        sql.push_str(" AND campaign_id IN (SELECT id FROM campaigns)");
    }
    if let Some(b) = before {
        arg(
            &mut sql,
            " AND call_id < ?",
            Value::Blob(id_bytes(b).to_vec()),
        );
    }
    arg(
        &mut sql,
        " ORDER BY call_id DESC LIMIT +?",
        Value::Integer(i64::from(limit)),
    );
    (sql, args)
}

pub(crate) fn pending(
    conn: &Connection,
    campaign: CampaignId,
    lane: Lane,
    after: Option<(DateTime<Utc>, CallId)>,
    limit: u32,
) -> Result<Vec<Call>> {
    match after {
        None => collect(
            conn,
            &pending_sql(),
            params![campaign.get(), lane == Lane::List, limit],
            call_from_row,
        ),
        Some((due, id)) => collect(
            conn,
            &pending_after_sql(),
            params![
                campaign.get(),
                lane == Lane::List,
                limit,
                ms(due),
                id_bytes(id).to_vec()
            ],
            call_from_row,
        ),
    }
}

pub(crate) fn live(
    conn: &Connection,
    campaign: CampaignId,
    after: Option<CallId>,
    limit: u32,
) -> Result<Vec<Call>> {
    let after = after.map_or_else(Vec::new, |a| id_bytes(a).to_vec());
    collect(
        conn,
        &live_sql(),
        params![campaign.get(), after, limit],
        call_from_row,
    )
}

pub(crate) fn has_open(conn: &Connection, campaign: CampaignId) -> Result<bool> {
    let mut stmt = conn.prepare_cached(&has_open_sql())?;
    Ok(stmt.query_row([campaign.get()], |r| r.get::<_, bool>(0))?)
}

pub(crate) fn latest_call_to(
    conn: &Connection,
    campaign: CampaignId,
    phone: &PhoneNumber,
    since: DateTime<Utc>,
) -> Result<Option<Call>> {
    Ok(collect(
        conn,
        &latest_call_to_sql(),
        params![campaign.get(), phone.as_str(), ms(since)],
        call_from_row,
    )?
    .into_iter()
    .next())
}

pub(crate) fn events(conn: &Connection, id: CallId) -> Result<Vec<CallAudit>> {
    collect(conn, &events_sql(), [id_bytes(id)], event_from_row)
}

pub(crate) fn dnc_for(conn: &Connection, phone: &PhoneNumber) -> Result<Vec<DncEntry>> {
    collect(conn, &dnc_for_sql(), [phone.as_str()], dnc_from_row)
}

pub(crate) fn dnc_list(
    conn: &Connection,
    kind: Option<DncKind>,
    after: Option<(PhoneNumber, DncKind)>,
    limit: u32,
) -> Result<Vec<DncEntry>> {
    let (after_phone, after_kind) = after.map_or((String::new(), String::new()), |(p, k)| {
        (p.as_str().to_owned(), k.as_str().to_owned())
    });
    let sql = format!(
        "SELECT {DNC_COLUMNS} FROM dnc WHERE (phone, kind) > (?1, ?2) AND (?3 IS NULL OR kind = ?3)
         ORDER BY phone, kind LIMIT +?4"
    );
    collect(
        conn,
        &sql,
        params![after_phone, after_kind, kind.map(|k| k.as_str()), limit],
        dnc_from_row,
    )
}

pub(crate) fn counters(conn: &Connection, campaign: CampaignId) -> Result<BTreeMap<String, i64>> {
    let rows = collect(conn, COUNTERS_SQL, [campaign.get()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    Ok(rows.into_iter().collect())
}

pub(crate) fn ping(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
        .optional()?;
    Ok(())
}

#[cfg(test)]
mod tests;
