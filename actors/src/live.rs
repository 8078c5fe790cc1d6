//! Calls in flight on this node and how a provider's report reaches the one slot that carries
//! each: a route per call, registered while a slot holds it, removed when the slot lets go (a
//! drop guard, so that no way out of a slot — finish, crash, stop — leaves a stale route).
//!
//! The number of routes is the number of calls in flight, read as `dialer_calls_active` at each scrape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallId, ProviderReport, Step};
use ractor::{DerivedActorRef, RpcReplyPort};
use serde::Serialize;

use crate::error::EngineError;

/// What a callback did to its call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackOutcome {
    pub call: Call,
    /// Whether the report changed the call (a duplicate or late report does not).
    pub applied: bool,
    pub retry_scheduled: bool,
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl CallbackOutcome {
    pub(crate) fn of(call: &Call, step: &Step) -> Self {
        Self {
            call: call.clone(),
            applied: step.applied(),
            retry_scheduled: step.retry_at().is_some(),
            next_retry_at: step.retry_at(),
        }
    }
}

pub(crate) type ReportReply = RpcReplyPort<Result<CallbackOutcome, EngineError>>;

/// A provider report for the call a slot carries.
pub(crate) struct Reported {
    pub call_id: CallId,
    pub report: ProviderReport,
    pub reply: Option<ReportReply>,
}

/// The routes of this node's calls in flight.
#[derive(Default)]
pub(crate) struct LiveCalls {
    routes: Mutex<HashMap<CallId, DerivedActorRef<Reported>>>,
    /// The most calls in flight at once on each UTC day since this node started (the latest
    /// [`PEAK_DAYS`]).
    peaks: Mutex<std::collections::BTreeMap<chrono::NaiveDate, usize>>,
}

/// Days of peaks kept.
const PEAK_DAYS: usize = 31;

impl std::fmt::Debug for LiveCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCalls")
            .field("calls", &self.len())
            .finish()
    }
}

impl LiveCalls {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, DerivedActorRef<Reported>>> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    /// The most calls in flight at once on each day since start.
    pub(crate) fn peaks(&self) -> std::collections::BTreeMap<chrono::NaiveDate, usize> {
        self.peaks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn saw(&self, day: chrono::NaiveDate, n: usize) {
        let mut peaks = self.peaks.lock().unwrap_or_else(|p| p.into_inner());
        let peak = peaks.entry(day).or_default();
        *peak = (*peak).max(n);
        while peaks.len() > PEAK_DAYS {
            peaks.pop_first();
        }
    }

    /// Where a report for `call_id` goes, if a slot carries it.
    pub(crate) fn route(&self, call_id: CallId) -> Option<DerivedActorRef<Reported>> {
        self.map().get(&call_id).cloned()
    }
}

/// A slot's claim on a call's route: registered when made, removed when dropped.
pub(crate) struct LiveRoute {
    calls: Arc<LiveCalls>,
    call_id: CallId,
}

impl LiveRoute {
    /// Registers `call_id`'s route, on `day` (for the day's peak).
    pub(crate) fn register(
        calls: &Arc<LiveCalls>,
        call_id: CallId,
        slot: DerivedActorRef<Reported>,
        day: chrono::NaiveDate,
    ) -> Self {
        let n = {
            let mut map = calls.map();
            map.insert(call_id, slot);
            map.len()
        };
        calls.saw(day, n);
        Self {
            calls: Arc::clone(calls),
            call_id,
        }
    }
}

impl Drop for LiveRoute {
    fn drop(&mut self) {
        self.calls.map().remove(&self.call_id);
    }
}
