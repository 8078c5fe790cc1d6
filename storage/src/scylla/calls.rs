//! Calls, their audit trail and the due schedule on ScyllaDB.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallAudit, CallId, CampaignId, PhoneNumber};
use scylla::value::CqlValue;
use uuid::Uuid;

use super::rows::{EventRow, HOUR_MS, OPEN_SHARDS, big, int, open_shard, text, uuid};
use super::store::{MAX_PARTITIONS_PER_PAGE, lim, max_uuid, rows_of, values};
use super::{ScyllaStore, unavailable};
use crate::decode::ms;
use crate::error::Result;
use crate::model::{CallFilter, DueCall};
use crate::traits::{CallStore, EventStore, ScheduleStore};

#[async_trait]
impl CallStore for ScyllaStore {
    async fn get_call(&self, id: CallId) -> Result<Option<Call>> {
        Ok(self
            .calls_in(&self.st.call_get, values([("call_id", uuid(id))]))
            .await?
            .into_iter()
            .next())
    }

    async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let mut out = Vec::new();
        let mut cursor = before.map_or_else(max_uuid, |b| *b.as_uuid());
        for (by_campaign, key) in self
            .partitions(filter, before)
            .await?
            .into_iter()
            .take(MAX_PARTITIONS_PER_PAGE)
        {
            // Read in pages of the remaining size until the partition is exhausted or full.
            loop {
                let want = limit as usize - out.len();
                let mut v = values([
                    ("before", Some(CqlValue::Uuid(cursor))),
                    ("lim", lim(want.max(50))),
                ]);
                let st = if by_campaign {
                    v.insert("campaign_id", filter.campaign_id.and_then(|c| big(c.get())));
                    v.insert("day", int(key));
                    &self.st.call_by_campaign_page
                } else {
                    v.insert("hour", int(key));
                    &self.st.call_by_hour_page
                };
                let page = self.calls_in(st, v).await?;
                let read = page.len();
                for call in page {
                    cursor = *call.call_id.as_uuid();
                    if filter.matches(&call) {
                        out.push(call);
                        if out.len() == limit as usize {
                            return Ok(out);
                        }
                    }
                }
                if read < want.max(50) {
                    break;
                }
            }
            cursor = max_uuid();
        }
        Ok(out)
    }

    async fn open_calls(&self, after: Option<CallId>, limit: u32) -> Result<Vec<Call>> {
        let mut out = Vec::new();
        let (mut shard, mut cursor) = match after {
            Some(a) => (open_shard(a), *a.as_uuid()),
            None => (0, Uuid::nil()),
        };
        while shard < OPEN_SHARDS && out.len() < limit as usize {
            let v = values([
                ("shard", int(shard)),
                ("after", Some(CqlValue::Uuid(cursor))),
                ("lim", lim(limit as usize - out.len())),
            ]);
            out.extend(self.calls_in(&self.st.call_open_page, v).await?);
            shard += 1;
            cursor = Uuid::nil();
        }
        Ok(out)
    }

    async fn latest_call_to(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<Call>> {
        let v = values([
            ("campaign_id", big(campaign.get())),
            ("phone", text(phone.as_str())),
            ("since", big(ms(since))),
        ]);
        let found = self.run(&self.st.call_by_phone_latest, v).await?;
        match found.maybe_first_row::<(Uuid,)>().map_err(unavailable)? {
            Some((id,)) => self.get_call(CallId::from_uuid(id)).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl EventStore for ScyllaStore {
    async fn events_for_call(&self, id: CallId) -> Result<Vec<CallAudit>> {
        let rows = self
            .run(&self.st.events_of, values([("call_id", uuid(id))]))
            .await?;
        rows_of::<EventRow>(&rows)?
            .into_iter()
            .map(EventRow::into_audit)
            .collect()
    }
}

#[async_trait]
impl ScheduleStore for ScyllaStore {
    async fn due_calls(
        &self,
        before: DateTime<Utc>,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
    ) -> Result<Vec<DueCall>> {
        let from_hour = after.map_or(0, |(t, _)| ms(t) / HOUR_MS);
        let v = values([("from", big(from_hour)), ("to", big(ms(before) / HOUR_MS))]);
        let hours = rows_of::<(i64,)>(&self.run(&self.st.schedule_hours, v).await?)?;
        let (mut after_due, mut after_id) =
            after.map_or((i64::MIN, Uuid::nil()), |(t, id)| (ms(t), *id.as_uuid()));
        let mut out = Vec::new();
        for (hour,) in hours {
            // CQL cannot bound `due_at` beside the tuple cursor, so the `before` bound is applied
            // here: rows come in due order, and the first one at or past it ends the walk.
            loop {
                if out.len() == limit as usize {
                    return Ok(out);
                }
                let want = limit as usize - out.len();
                let v = values([
                    ("hour", big(hour)),
                    ("after_due", big(after_due)),
                    ("after_id", Some(CqlValue::Uuid(after_id))),
                    ("lim", lim(want)),
                ]);
                let page = rows_of::<(i64, Uuid, i64, String)>(
                    &self.run(&self.st.schedule_page, v).await?,
                )?;
                let read = page.len();
                for (due, id, campaign, origin) in page {
                    if due >= ms(before) {
                        return Ok(out);
                    }
                    out.push(DueCall {
                        due_at: crate::decode::time("due_at", due)?,
                        call_id: CallId::from_uuid(id),
                        campaign_id: crate::decode::campaign_id("campaign_id", campaign)?,
                        origin: crate::decode::origin("origin", &origin)?,
                    });
                    (after_due, after_id) = (due, id);
                }
                if read < want {
                    break;
                }
            }
            (after_due, after_id) = (i64::MIN, Uuid::nil());
        }
        Ok(out)
    }
}
