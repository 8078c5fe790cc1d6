//! `commit` on ScyllaDB: a [`WriteBatch`] becomes logged batches of row writes (each call's
//! copies, schedule entry and audit lines together) and one counter batch.

use std::collections::HashMap;

use dialer_engine::{CallAudit, CampaignId, ContactId};
use futures::future::try_join_all;
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use dialer_engine::{CallStatus, Lane};

use super::rows::{
    CAMPAIGN_BUCKET, DAY_MS, HOUR_MS, Values, big, call_values, created_ms, int, lane_name, text,
    uuid,
};
use super::{ScyllaStore, unavailable};
use crate::decode::{audit_detail, ms};
use crate::error::{Result, StorageError};
use crate::model::ListCursor;
use crate::model::{PENDING_STATUSES, WriteBatch};
use crate::traits::ContactStore;

/// Where a call's copies were before this write: its place in the pending index, and whether it
/// was in flight. Read before writing (one writer per call: its campaign's owner), so that a
/// move deletes the old copy.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Prior {
    pending: Option<PendingKey>,
    live: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingKey {
    lane: Lane,
    due_ms: i64,
}

impl PendingKey {
    fn of(status: CallStatus, due: Option<i64>, lane: Lane) -> Option<Self> {
        let due_ms = due.filter(|_| PENDING_STATUSES.contains(&status))?;
        Some(Self { lane, due_ms })
    }
}

/// The most statements one logged batch carries; a bigger `WriteBatch` is split between calls.
pub const MAX_BATCH_STATEMENTS: usize = 200;

/// Statements waiting to be sent, in groups that must stay in one batch.
#[derive(Default)]
struct Plan<'a> {
    groups: Vec<Vec<(&'a PreparedStatement, Values)>>,
}

impl<'a> Plan<'a> {
    fn group(&mut self) -> &mut Vec<(&'a PreparedStatement, Values)> {
        self.groups.push(Vec::new());
        self.groups
            .last_mut()
            .unwrap_or_else(|| unreachable!("just pushed"))
    }
}

/// What [`ScyllaStore::resolve_cursors`] found: campaigns' cursors, zones' cursors.
#[derive(Default)]
struct Cursors {
    campaigns: Vec<(i64, i64)>,
    zones: Vec<(i64, String, i64)>,
}

fn values<const N: usize>(pairs: [(&'static str, Option<CqlValue>); N]) -> Values {
    HashMap::from(pairs)
}

impl ScyllaStore {
    pub(crate) async fn commit_batch(&self, batch: WriteBatch) -> Result<()> {
        self.open()?;
        // Check before writing anything: a missing campaign fails the whole batch.
        let cursors = self.resolve_cursors(&batch.cursors).await?;
        for change in &batch.states {
            if self.fetch_campaign(change.campaign_id).await?.is_none() {
                return Err(StorageError::NotFound {
                    what: "campaign",
                    id: change.campaign_id.to_string(),
                });
            }
        }
        let priors = try_join_all(batch.calls.iter().map(|c| self.prior(c))).await?;

        let st = &self.st;
        let mut plan = Plan::default();
        let mut audits_by_call: HashMap<dialer_engine::CallId, Vec<&CallAudit>> = HashMap::new();
        for a in &batch.audits {
            audits_by_call.entry(a.call_id).or_default().push(a);
        }
        for (call, prior) in batch.calls.iter().zip(priors) {
            let group = plan.group();
            self.call_statements(call, prior, group);
            for a in audits_by_call.remove(&call.call_id).unwrap_or_default() {
                group.push((&st.event_put, self.event_values(a)?));
            }
        }
        for audits in audits_by_call.into_values() {
            let group = plan.group();
            for a in audits {
                group.push((&st.event_put, self.event_values(a)?));
            }
        }
        if !cursors.campaigns.is_empty() || !batch.states.is_empty() {
            let group = plan.group();
            for (campaign, cursor) in cursors.campaigns {
                group.push((
                    &st.campaign_cursor,
                    values([
                        ("dial_cursor", big(cursor)),
                        ("bucket", big(campaign / CAMPAIGN_BUCKET)),
                        ("id", big(campaign)),
                    ]),
                ));
            }
            for (campaign, zone, cursor) in cursors.zones {
                group.push((
                    &st.zone_cursor,
                    values([
                        ("cursor", big(cursor)),
                        ("campaign_id", big(campaign)),
                        ("zone", text(&zone)),
                    ]),
                ));
            }
            for change in &batch.states {
                let id = change.campaign_id.get();
                group.push((
                    &st.campaign_state,
                    values([
                        ("state", text(change.state.as_str())),
                        ("updated_at", big(ms(change.at))),
                        ("bucket", big(id / CAMPAIGN_BUCKET)),
                        ("id", big(id)),
                    ]),
                ));
            }
        }
        self.send(plan).await?;

        if !batch.counters.is_empty() {
            let mut counters = Batch::new(BatchType::Counter);
            counters.set_consistency(Consistency::LocalQuorum);
            let mut rows = Vec::with_capacity(batch.counters.len());
            for d in &batch.counters {
                counters.append_statement(st.counter_add.clone());
                rows.push(values([
                    ("delta", big(d.delta)),
                    ("campaign_id", big(d.campaign_id.get())),
                    ("name", text(&d.name)),
                ]));
            }
            self.session
                .batch(&counters, rows)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Sends the plan as logged batches, never splitting a group.
    async fn send(&self, plan: Plan<'_>) -> Result<()> {
        let mut batch = Batch::new(BatchType::Logged);
        batch.set_consistency(Consistency::LocalQuorum);
        let mut rows: Vec<Values> = Vec::new();
        for group in plan.groups {
            if !rows.is_empty() && rows.len() + group.len() > MAX_BATCH_STATEMENTS {
                self.session
                    .batch(&batch, std::mem::take(&mut rows))
                    .await
                    .map_err(unavailable)?;
                batch = Batch::new(BatchType::Logged);
                batch.set_consistency(Consistency::LocalQuorum);
            }
            for (statement, v) in group {
                batch.append_statement(statement.clone());
                rows.push(v);
            }
        }
        if !rows.is_empty() {
            self.session
                .batch(&batch, rows)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The call's copies before this write.
    async fn prior(&self, call: &dialer_engine::Call) -> Result<Prior> {
        let result = self
            .session
            .execute_unpaged(
                &self.st.call_prior,
                values([("call_id", uuid(call.call_id))]),
            )
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        let Some((status, due, origin)) = rows
            .maybe_first_row::<(String, Option<i64>, String)>()
            .map_err(unavailable)?
        else {
            return Ok(Prior::default());
        };
        let status = crate::decode::status("status", &status)?;
        let lane = Lane::of(crate::decode::origin("origin", &origin)?);
        Ok(Prior {
            pending: PendingKey::of(status, due, lane),
            live: status.is_live(),
        })
    }

    /// The campaigns' and zones' cursors a batch moves, each at least where it already is.
    async fn resolve_cursors(&self, cursors: &[ListCursor]) -> Result<Cursors> {
        let mut campaigns: HashMap<CampaignId, ContactId> = HashMap::new();
        let mut zones: HashMap<(CampaignId, &str), ContactId> = HashMap::new();
        for c in cursors {
            let e = campaigns.entry(c.campaign_id).or_insert(c.contact);
            *e = (*e).max(c.contact);
            let e = zones.entry((c.campaign_id, &c.zone)).or_insert(c.contact);
            *e = (*e).max(c.contact);
        }
        let mut out = Cursors::default();
        for (campaign, cursor) in campaigns {
            let existing =
                self.fetch_campaign(campaign)
                    .await?
                    .ok_or_else(|| StorageError::NotFound {
                        what: "campaign",
                        id: campaign.to_string(),
                    })?;
            let at_least = existing.dial_cursor.map_or(cursor, |old| old.max(cursor));
            out.campaigns.push((campaign.get(), at_least.get()));
            let listed = self.list_zones(campaign).await?;
            for ((c, zone), cursor) in zones.iter().filter(|((c, _), _)| *c == campaign) {
                let old = listed.iter().find(|z| z.key == *zone).and_then(|z| z.after);
                let at_least = old.map_or(*cursor, |old| old.max(*cursor));
                out.zones
                    .push((c.get(), (*zone).to_owned(), at_least.get()));
            }
        }
        Ok(out)
    }

    fn call_statements<'a>(
        &'a self,
        c: &dialer_engine::Call,
        prior: Prior,
        group: &mut Vec<(&'a PreparedStatement, Values)>,
    ) {
        let st = &self.st;
        let created = created_ms(c.call_id);
        let (day, hour) = (created / DAY_MS, created / HOUR_MS);
        let row = call_values(c);
        let with = |extra: &[(&'static str, Option<CqlValue>)]| {
            let mut v = row.clone();
            v.extend(extra.iter().cloned());
            v
        };
        group.push((&st.call_put, row.clone()));
        group.push((&st.call_by_campaign_put, with(&[("day", int(day))])));
        group.push((
            &st.campaign_day_put,
            values([("campaign_id", big(c.campaign_id.get())), ("day", int(day))]),
        ));
        group.push((&st.call_by_hour_put, with(&[("hour", int(hour))])));
        group.push((&st.call_hour_put, values([("hour", int(hour))])));
        group.push((
            &st.call_by_phone_put,
            values([
                ("campaign_id", big(c.campaign_id.get())),
                ("phone", text(c.phone_number.as_str())),
                ("created_at", big(ms(c.created_at))),
                ("call_id", uuid(c.call_id)),
            ]),
        ));
        let campaign = big(c.campaign_id.get());
        // The pending index: the copy at its (due hour, due time) moves with the due time.
        let lane = Lane::of(c.origin);
        let now_pending = PendingKey::of(c.status, c.due_at.map(ms), lane);
        if let Some(old) = prior.pending.filter(|old| Some(*old) != now_pending) {
            group.push((
                &st.pending_delete,
                values([
                    ("campaign_id", campaign.clone()),
                    ("lane", text(lane_name(old.lane))),
                    ("hour", big(old.due_ms / HOUR_MS)),
                    ("due_at", big(old.due_ms)),
                    ("call_id", uuid(c.call_id)),
                ]),
            ));
        }
        if let Some(new) = now_pending {
            let keys = [
                ("lane", text(lane_name(new.lane))),
                ("hour", big(new.due_ms / HOUR_MS)),
            ];
            group.push((&st.pending_put, with(&keys)));
            group.push((
                &st.pending_hour_put,
                values([
                    ("campaign_id", campaign.clone()),
                    keys[0].clone(),
                    keys[1].clone(),
                ]),
            ));
        }
        // Calls in flight, per campaign.
        if c.status.is_live() {
            group.push((&st.live_put, row.clone()));
        } else if prior.live {
            group.push((
                &st.live_delete,
                values([("campaign_id", campaign), ("call_id", uuid(c.call_id))]),
            ));
        }
    }

    fn event_values(&self, a: &CallAudit) -> Result<Values> {
        Ok(values([
            ("call_id", uuid(a.call_id)),
            ("seq", big(self.next_event_seq(ms(a.at)))),
            ("campaign_id", big(a.campaign_id.get())),
            ("at", big(ms(a.at))),
            ("attempt", int(i64::from(a.attempt))),
            ("kind", text(a.kind.name())),
            ("from_status", a.from_status.and_then(|s| text(s.as_str()))),
            ("to_status", a.to_status.and_then(|s| text(s.as_str()))),
            ("detail", text(audit_detail(&a.kind)?)),
        ]))
    }
}
