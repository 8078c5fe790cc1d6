//! `commit` on ScyllaDB: a [`WriteBatch`] becomes logged batches of row writes (each call's
//! copies, schedule entry and audit lines together) and one counter batch.

use std::collections::HashMap;

use dialer_engine::{Call, CallAudit, CampaignId, ContactId};
use futures::future::try_join_all;
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use super::rows::{
    CAMPAIGN_BUCKET, DAY_MS, HOUR_MS, Values, big, call_values, created_ms, int, open_shard, text,
    uuid,
};
use super::{ScyllaStore, unavailable};
use crate::decode::{audit_detail, ms};
use crate::error::{Result, StorageError};
use crate::model::{DUE_STATUSES, WriteBatch};

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

fn values<const N: usize>(pairs: [(&'static str, Option<CqlValue>); N]) -> Values {
    HashMap::from(pairs)
}

impl ScyllaStore {
    pub(crate) async fn commit_batch(&self, batch: WriteBatch) -> Result<()> {
        self.open()?;
        // Check before writing anything: a cursor for a missing campaign fails the whole batch.
        let cursors = self.resolve_cursors(&batch.cursors).await?;
        let priors = try_join_all(batch.calls.iter().map(|c| self.prior_due(c))).await?;

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
        if !cursors.is_empty() {
            let group = plan.group();
            for (campaign, cursor) in cursors {
                group.push((
                    &st.campaign_cursor,
                    values([
                        ("dial_cursor", big(cursor)),
                        ("bucket", big(campaign / CAMPAIGN_BUCKET)),
                        ("id", big(campaign)),
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

    /// The schedule entry a call had before this write, so that a move can delete the old one.
    async fn prior_due(&self, call: &Call) -> Result<Option<i64>> {
        let result = self
            .session
            .execute_unpaged(
                &self.st.call_prior,
                values([("call_id", uuid(call.call_id))]),
            )
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        let prior = rows
            .maybe_first_row::<(String, Option<i64>)>()
            .map_err(unavailable)?;
        Ok(prior.and_then(|(status, due)| {
            let due_now = DUE_STATUSES.iter().any(|s| s.as_str() == status);
            if due_now { due } else { None }
        }))
    }

    async fn resolve_cursors(
        &self,
        cursors: &[(CampaignId, ContactId)],
    ) -> Result<Vec<(i64, i64)>> {
        let mut wanted: HashMap<CampaignId, ContactId> = HashMap::new();
        for (campaign, cursor) in cursors {
            let e = wanted.entry(*campaign).or_insert(*cursor);
            *e = (*e).max(*cursor);
        }
        let mut out = Vec::new();
        for (campaign, cursor) in wanted {
            let existing =
                self.fetch_campaign(campaign)
                    .await?
                    .ok_or_else(|| StorageError::NotFound {
                        what: "campaign",
                        id: campaign.to_string(),
                    })?;
            let at_least = existing.dial_cursor.map_or(cursor, |old| old.max(cursor));
            out.push((campaign.get(), at_least.get()));
        }
        Ok(out)
    }

    fn call_statements<'a>(
        &'a self,
        c: &Call,
        prior_due: Option<i64>,
        group: &mut Vec<(&'a PreparedStatement, Values)>,
    ) {
        let st = &self.st;
        let created = created_ms(c.call_id);
        let (day, hour) = (created / DAY_MS, created / HOUR_MS);
        let row = call_values(c);
        let with = |extra: [(&'static str, Option<CqlValue>); 1]| {
            let mut v = row.clone();
            v.extend(extra);
            v
        };
        group.push((&st.call_put, row.clone()));
        group.push((&st.call_by_campaign_put, with([("day", int(day))])));
        group.push((
            &st.campaign_day_put,
            values([("campaign_id", big(c.campaign_id.get())), ("day", int(day))]),
        ));
        group.push((&st.call_by_hour_put, with([("hour", int(hour))])));
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
        let shard = open_shard(c.call_id);
        if c.status.is_terminal() {
            group.push((
                &st.call_open_delete,
                values([("shard", int(shard)), ("call_id", uuid(c.call_id))]),
            ));
        } else {
            group.push((&st.call_open_put, with([("shard", int(shard))])));
        }
        let due = if DUE_STATUSES.contains(&c.status) {
            c.due_at.map(ms)
        } else {
            None
        };
        if prior_due != due {
            if let Some(old) = prior_due {
                group.push((
                    &st.schedule_delete,
                    values([
                        ("hour", big(old / HOUR_MS)),
                        ("due_at", big(old)),
                        ("call_id", uuid(c.call_id)),
                    ]),
                ));
            }
            if let Some(new) = due {
                group.push((
                    &st.schedule_put,
                    values([
                        ("hour", big(new / HOUR_MS)),
                        ("due_at", big(new)),
                        ("call_id", uuid(c.call_id)),
                        ("campaign_id", big(c.campaign_id.get())),
                        ("origin", text(c.origin.as_str())),
                    ]),
                ));
                group.push((
                    &st.schedule_hour_put,
                    values([("hour", big(new / HOUR_MS))]),
                ));
            }
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
