//! Calls, their audit trail and the due schedule on ScyllaDB.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallAudit, CallId, CampaignId, Lane, PhoneNumber};
use scylla::value::CqlValue;
use uuid::Uuid;

use super::rows::{EventRow, HOUR_MS, big, int, lane_name, text, uuid};
use super::store::{MAX_PARTITIONS_PER_PAGE, lim, max_uuid, rows_of, values};
use super::{ScyllaStore, unavailable};
use crate::decode::ms;
use crate::error::Result;
use crate::model::CallFilter;
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

    async fn live_calls(
        &self,
        campaign: CampaignId,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let v = values([
            ("campaign_id", big(campaign.get())),
            (
                "after",
                Some(CqlValue::Uuid(
                    after.map_or_else(Uuid::nil, |a| *a.as_uuid()),
                )),
            ),
            ("lim", lim(limit as usize)),
        ]);
        self.calls_in(&self.st.live_page, v).await
    }

    async fn has_open_calls(&self, campaign: CampaignId) -> Result<bool> {
        if !self.live_calls(campaign, None, 1).await?.is_empty() {
            return Ok(true);
        }
        for lane in Lane::ALL {
            if !self
                .pending(campaign, lane, None, 1, None)
                .await?
                .is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
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
    async fn pending_calls(
        &self,
        campaign: CampaignId,
        lane: Lane,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Call>> {
        // Hours before the previous one take no new pending calls (every due time written is
        // at or after its writer's now, give or take clock skew): found empty, they retire.
        let retire_before = ms(now) / HOUR_MS - 1;
        self.pending(campaign, lane, after, limit, Some(retire_before))
            .await
    }
}

impl ScyllaStore {
    /// A lane's first pending calls (after `after`), walking its hours in order.
    async fn pending(
        &self,
        campaign: CampaignId,
        lane: Lane,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
        retire_before: Option<i64>,
    ) -> Result<Vec<Call>> {
        let key = || {
            [
                ("campaign_id", big(campaign.get())),
                ("lane", text(lane_name(lane))),
            ]
        };
        let hours = rows_of::<(i64,)>(&self.run(&self.st.pending_hours, values(key())).await?)?;
        let mut out = Vec::new();
        let after_hour = after.map(|(due, _)| ms(due) / HOUR_MS);
        for (hour,) in hours {
            if after_hour.is_some_and(|h| hour < h) {
                continue;
            }
            let want = limit as usize - out.len();
            let mut v = values(key());
            v.insert("hour", big(hour));
            v.insert("lim", lim(want));
            let statement = match after {
                Some((due, id)) if Some(hour) == after_hour => {
                    v.insert("due_at", big(ms(due)));
                    v.insert("call_id", uuid(id));
                    &self.st.pending_page_after
                }
                _ => &self.st.pending_page,
            };
            let page = self.calls_in(statement, v).await?;
            if page.is_empty() && retire_before.is_some_and(|h| hour < h) {
                let mut v = values(key());
                v.insert("hour", big(hour));
                self.exec(&self.st.pending_hour_delete, v).await?;
            }
            out.extend(page);
            if out.len() >= limit as usize {
                break;
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }
}
