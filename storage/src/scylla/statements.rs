//! Every statement the ScyllaDB backend runs, prepared once per connection with its
//! consistency level. Bind markers are named after their columns.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

use super::rows::{CALL_COLUMNS, CAMPAIGN_COLUMNS, CONTACT_COLUMNS, DNC_COLUMNS, EVENT_COLUMNS};
use super::unavailable;
use crate::error::Result;

pub(crate) struct Statements {
    pub(crate) audience: super::audience::Statements,
    pub(crate) messages: super::messages::Statements,
    pub(crate) seq_get: PreparedStatement,
    pub(crate) seq_init: PreparedStatement,
    pub(crate) seq_cas: PreparedStatement,

    pub(crate) campaign_put: PreparedStatement,
    pub(crate) campaign_get: PreparedStatement,
    pub(crate) campaign_page: PreparedStatement,
    pub(crate) campaign_cursor: PreparedStatement,
    pub(crate) campaign_details: PreparedStatement,
    pub(crate) campaign_state: PreparedStatement,
    pub(crate) campaign_delete: PreparedStatement,
    pub(crate) contact_phone_delete: PreparedStatement,
    pub(crate) contact_bucket_delete: PreparedStatement,
    pub(crate) counters_delete: PreparedStatement,

    pub(crate) contact_claim: PreparedStatement,
    pub(crate) contact_by_phone: PreparedStatement,
    pub(crate) contact_put: PreparedStatement,
    pub(crate) contact_get: PreparedStatement,
    pub(crate) contact_attrs: PreparedStatement,
    pub(crate) contact_page: PreparedStatement,
    pub(crate) contact_count: PreparedStatement,
    pub(crate) zone_list: PreparedStatement,
    pub(crate) zone_add: PreparedStatement,
    pub(crate) zone_cursor: PreparedStatement,
    pub(crate) zone_delete: PreparedStatement,
    pub(crate) zone_contact_put: PreparedStatement,
    pub(crate) zone_contact_page: PreparedStatement,
    pub(crate) zone_bucket_delete: PreparedStatement,

    pub(crate) call_put: PreparedStatement,
    pub(crate) call_get: PreparedStatement,
    pub(crate) call_prior: PreparedStatement,
    pub(crate) call_by_campaign_put: PreparedStatement,
    pub(crate) call_by_campaign_page: PreparedStatement,
    pub(crate) campaign_day_put: PreparedStatement,
    pub(crate) campaign_days: PreparedStatement,
    pub(crate) call_by_hour_put: PreparedStatement,
    pub(crate) call_by_hour_page: PreparedStatement,
    pub(crate) call_hour_put: PreparedStatement,
    pub(crate) call_hours: PreparedStatement,
    pub(crate) live_put: PreparedStatement,
    pub(crate) live_delete: PreparedStatement,
    pub(crate) live_page: PreparedStatement,
    pub(crate) call_by_phone_put: PreparedStatement,
    pub(crate) call_by_phone_latest: PreparedStatement,

    pub(crate) pending_put: PreparedStatement,
    pub(crate) pending_delete: PreparedStatement,
    pub(crate) pending_page: PreparedStatement,
    pub(crate) pending_page_after: PreparedStatement,
    pub(crate) pending_hour_put: PreparedStatement,
    pub(crate) pending_hour_delete: PreparedStatement,
    pub(crate) pending_hours: PreparedStatement,

    pub(crate) event_put: PreparedStatement,
    pub(crate) events_of: PreparedStatement,

    pub(crate) dnc_put: PreparedStatement,
    pub(crate) dnc_delete: PreparedStatement,
    pub(crate) dnc_of: PreparedStatement,
    pub(crate) dnc_page: PreparedStatement,

    pub(crate) counter_add: PreparedStatement,
    pub(crate) counters_of: PreparedStatement,
}

pub(super) async fn prep(session: &Session, cql: String, lwt: bool) -> Result<PreparedStatement> {
    let mut st = session
        .prepare(cql.clone())
        .await
        .map_err(|e| unavailable(format!("{e}: {cql}")))?;
    st.set_consistency(Consistency::LocalQuorum);
    if lwt {
        st.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    }
    Ok(st)
}

/// The column list of a call copy with its table's key columns in front.
pub(super) fn call_insert(table: &str, keys: &[&str]) -> String {
    let cols: Vec<&str> = keys
        .iter()
        .copied()
        .chain(CALL_COLUMNS.split(", "))
        .collect::<Vec<_>>();
    let mut seen = Vec::new();
    let cols: Vec<&str> = cols
        .into_iter()
        .filter(|c| {
            !seen.contains(c) && {
                seen.push(*c);
                true
            }
        })
        .collect();
    let marks: Vec<String> = cols.iter().map(|c| format!(":{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        cols.join(", "),
        marks.join(", ")
    )
}

impl Statements {
    pub(crate) async fn prepare(s: &Session, ks: &str) -> Result<Self> {
        let t = |name: &str| format!("{ks}.{name}");
        Ok(Self {
            audience: super::audience::Statements::prepare(s, ks).await?,
            messages: super::messages::Statements::prepare(s, ks).await?,
            seq_get: prep(s, format!("SELECT next FROM {} WHERE name = :name", t("id_sequences")), false).await?,
            seq_init: prep(s, format!("INSERT INTO {} (name, next) VALUES (:name, :next) IF NOT EXISTS", t("id_sequences")), true).await?,
            seq_cas: prep(s, format!("UPDATE {} SET next = :next WHERE name = :name IF next = :expected", t("id_sequences")), true).await?,

            campaign_put: prep(s, format!(
                "INSERT INTO {} (bucket, {CAMPAIGN_COLUMNS}) VALUES (:bucket, :id, :name, :description, :is_active, :state, :settings, :dial_cursor, :created_at, :updated_at, :archived_at)",
                t("campaigns")), false).await?,
            campaign_get: prep(s, format!("SELECT {CAMPAIGN_COLUMNS} FROM {} WHERE bucket = :bucket AND id = :id", t("campaigns")), false).await?,
            campaign_page: prep(s, format!("SELECT {CAMPAIGN_COLUMNS} FROM {} WHERE bucket = :bucket AND id > :after LIMIT :lim", t("campaigns")), false).await?,
            campaign_cursor: prep(s, format!("UPDATE {} SET dial_cursor = :dial_cursor WHERE bucket = :bucket AND id = :id", t("campaigns")), false).await?,
            campaign_details: prep(s, format!(
                "UPDATE {} SET name = :name, description = :description, is_active = :is_active, settings = :settings, updated_at = :updated_at, archived_at = :archived_at WHERE bucket = :bucket AND id = :id IF EXISTS",
                t("campaigns")), true).await?,
            campaign_state: prep(s, format!("UPDATE {} SET state = :state, updated_at = :updated_at WHERE bucket = :bucket AND id = :id", t("campaigns")), false).await?,
            campaign_delete: prep(s, format!("DELETE FROM {} WHERE bucket = :bucket AND id = :id IF state = :state", t("campaigns")), true).await?,
            contact_phone_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id AND phone = :phone", t("contacts_by_phone")), false).await?,
            contact_bucket_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id AND bucket = :bucket", t("contacts")), false).await?,
            counters_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id", t("campaign_counters")), false).await?,

            contact_claim: prep(s, format!("INSERT INTO {} (campaign_id, phone, id) VALUES (:campaign_id, :phone, :id) IF NOT EXISTS", t("contacts_by_phone")), true).await?,
            contact_by_phone: prep(s, format!("SELECT id FROM {} WHERE campaign_id = :campaign_id AND phone = :phone", t("contacts_by_phone")), false).await?,
            contact_put: prep(s, format!(
                "INSERT INTO {} (campaign_id, bucket, id, phone, attributes, added_at) VALUES (:campaign_id, :bucket, :id, :phone, :attributes, :added_at)",
                t("contacts")), false).await?,
            contact_get: prep(s, format!("SELECT {CONTACT_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND bucket = :bucket AND id = :id", t("contacts")), false).await?,
            contact_attrs: prep(s, format!("UPDATE {} SET attributes = :attributes WHERE campaign_id = :campaign_id AND bucket = :bucket AND id = :id", t("contacts")), false).await?,
            contact_page: prep(s, format!("SELECT {CONTACT_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND bucket = :bucket AND id > :after LIMIT :lim", t("contacts")), false).await?,
            contact_count: prep(s, format!("SELECT COUNT(*) FROM {} WHERE campaign_id = :campaign_id AND bucket = :bucket", t("contacts")), false).await?,
            zone_list: prep(s, format!("SELECT zone, cursor FROM {} WHERE campaign_id = :campaign_id", t("list_zones")), false).await?,
            zone_add: prep(s, format!("INSERT INTO {} (campaign_id, zone) VALUES (:campaign_id, :zone)", t("list_zones")), false).await?,
            zone_cursor: prep(s, format!("UPDATE {} SET cursor = :cursor WHERE campaign_id = :campaign_id AND zone = :zone", t("list_zones")), false).await?,
            zone_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id", t("list_zones")), false).await?,
            zone_contact_put: prep(s, format!("INSERT INTO {} (campaign_id, zone, bucket, id) VALUES (:campaign_id, :zone, :bucket, :id)", t("contacts_by_zone")), false).await?,
            zone_contact_page: prep(s, format!("SELECT id FROM {} WHERE campaign_id = :campaign_id AND zone = :zone AND bucket = :bucket AND id > :after LIMIT :lim", t("contacts_by_zone")), false).await?,
            zone_bucket_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id AND zone = :zone AND bucket = :bucket", t("contacts_by_zone")), false).await?,

            call_put: prep(s, call_insert(&t("calls"), &[]), false).await?,
            call_get: prep(s, format!("SELECT {CALL_COLUMNS} FROM {} WHERE call_id = :call_id", t("calls")), false).await?,
            call_prior: prep(s, format!("SELECT status, due_at, origin FROM {} WHERE call_id = :call_id", t("calls")), false).await?,
            call_by_campaign_put: prep(s, call_insert(&t("calls_by_campaign"), &["campaign_id", "day"]), false).await?,
            call_by_campaign_page: prep(s, format!(
                "SELECT {CALL_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND day = :day AND call_id < :before LIMIT :lim",
                t("calls_by_campaign")), false).await?,
            campaign_day_put: prep(s, format!("INSERT INTO {} (campaign_id, day) VALUES (:campaign_id, :day)", t("campaign_call_days")), false).await?,
            campaign_days: prep(s, format!("SELECT day FROM {} WHERE campaign_id = :campaign_id AND day <= :day", t("campaign_call_days")), false).await?,
            call_by_hour_put: prep(s, call_insert(&t("calls_by_hour"), &["hour"]), false).await?,
            call_by_hour_page: prep(s, format!("SELECT {CALL_COLUMNS} FROM {} WHERE hour = :hour AND call_id < :before LIMIT :lim", t("calls_by_hour")), false).await?,
            call_hour_put: prep(s, format!("INSERT INTO {} (shard, hour) VALUES (0, :hour)", t("call_hours")), false).await?,
            call_hours: prep(s, format!("SELECT hour FROM {} WHERE shard = 0 AND hour <= :hour", t("call_hours")), false).await?,
            live_put: prep(s, call_insert(&t("calls_live"), &["campaign_id", "call_id"]), false).await?,
            live_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id AND call_id = :call_id", t("calls_live")), false).await?,
            live_page: prep(s, format!("SELECT {CALL_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND call_id > :after LIMIT :lim", t("calls_live")), false).await?,
            call_by_phone_put: prep(s, format!(
                "INSERT INTO {} (campaign_id, phone, created_at, call_id) VALUES (:campaign_id, :phone, :created_at, :call_id)",
                t("calls_by_phone")), false).await?,
            call_by_phone_latest: prep(s, format!(
                "SELECT call_id FROM {} WHERE campaign_id = :campaign_id AND phone = :phone AND created_at >= :since LIMIT 1",
                t("calls_by_phone")), false).await?,

            pending_put: prep(s, call_insert(&t("calls_pending"), &["campaign_id", "lane", "hour", "due_at", "call_id"]), false).await?,
            pending_delete: prep(s, format!(
                "DELETE FROM {} WHERE campaign_id = :campaign_id AND lane = :lane AND hour = :hour AND due_at = :due_at AND call_id = :call_id",
                t("calls_pending")), false).await?,
            pending_page: prep(s, format!(
                "SELECT {CALL_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND lane = :lane AND hour = :hour LIMIT :lim",
                t("calls_pending")), false).await?,
            pending_page_after: prep(s, format!(
                "SELECT {CALL_COLUMNS} FROM {} WHERE campaign_id = :campaign_id AND lane = :lane AND hour = :hour AND (due_at, call_id) > (:due_at, :call_id) LIMIT :lim",
                t("calls_pending")), false).await?,
            pending_hour_put: prep(s, format!("INSERT INTO {} (campaign_id, lane, hour) VALUES (:campaign_id, :lane, :hour)", t("pending_hours")), false).await?,
            pending_hour_delete: prep(s, format!("DELETE FROM {} WHERE campaign_id = :campaign_id AND lane = :lane AND hour = :hour", t("pending_hours")), false).await?,
            pending_hours: prep(s, format!("SELECT hour FROM {} WHERE campaign_id = :campaign_id AND lane = :lane", t("pending_hours")), false).await?,

            event_put: prep(s, format!(
                "INSERT INTO {} (call_id, seq, campaign_id, at, attempt, kind, from_status, to_status, detail) VALUES (:call_id, :seq, :campaign_id, :at, :attempt, :kind, :from_status, :to_status, :detail)",
                t("call_events")), false).await?,
            events_of: prep(s, format!("SELECT {EVENT_COLUMNS} FROM {} WHERE call_id = :call_id", t("call_events")), false).await?,

            dnc_put: prep(s, format!(
                "INSERT INTO {} (bucket, phone, kind, source, added_at) VALUES (:bucket, :phone, :kind, :source, :added_at) IF NOT EXISTS",
                t("dnc")), true).await?,
            dnc_delete: prep(s, format!("DELETE FROM {} WHERE bucket = :bucket AND phone = :phone AND kind = :kind IF EXISTS", t("dnc")), true).await?,
            dnc_of: prep(s, format!("SELECT {DNC_COLUMNS} FROM {} WHERE bucket = :bucket AND phone = :phone", t("dnc")), false).await?,
            dnc_page: prep(s, format!(
                "SELECT {DNC_COLUMNS} FROM {} WHERE bucket = :bucket AND (phone, kind) > (:after_phone, :after_kind) LIMIT :lim",
                t("dnc")), false).await?,

            counter_add: prep(s, format!("UPDATE {} SET value = value + :delta WHERE campaign_id = :campaign_id AND name = :name", t("campaign_counters")), false).await?,
            counters_of: prep(s, format!("SELECT name, value FROM {} WHERE campaign_id = :campaign_id", t("campaign_counters")), false).await?,
        })
    }
}
