//! Receipts: a provider's word on a message — stored, checked against the message's current
//! attempt and applied forward-only in one write — and the in-process simulator's sink for them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dialer_engine::messaging::MessageStatus;
use dialer_storage::messages::{EventKind, Message, MessageEvent, ReceiptWrite, Report};
use serde_json::json;

use super::Runner;
use crate::messenger::{Receipt, ReceiptSink};

impl Runner {
    /// A provider's receipt: stored raw and normalized, applied forward-only; a failure of the
    /// message's current attempt goes to the retry rules. The message as it now stands.
    pub async fn on_receipt(
        &self,
        receipt: &Receipt,
        raw: serde_json::Value,
        at: DateTime<Utc>,
    ) -> dialer_storage::Result<Option<Message>> {
        let event = MessageEvent {
            event_id: MessageEvent::new_id(at),
            kind: EventKind::Receipt,
            at,
            phone_number: None,
            message_id: Some(receipt.message_id.clone()),
            raw,
            normalized: json!({
                "message_id": receipt.message_id,
                "attempt": receipt.attempt,
                "sid": receipt.sid,
                "status": receipt.status.as_str(),
                "error_code": receipt.error_code,
            }),
        };
        let write = ReceiptWrite {
            report_for: receipt.message_id.clone(),
            attempt: receipt.attempt,
            report: Report {
                status: receipt.status,
                provider_sid: Some(receipt.sid.clone()).filter(|s| !s.is_empty()),
                error_code: receipt.error_code.clone(),
                reason: None,
                at,
            },
            event,
        };
        // The event, the check of its attempt and the forward-only move: one write.
        let Some(applied) = self.store.record_receipt(write).await? else {
            return Ok(None);
        };
        crate::metrics::message_receipt(receipt.status.as_str());
        let Some(moved) = applied.moved else {
            return Ok(Some(applied.before));
        };
        self.changed(&moved);
        if matches!(
            moved.status,
            MessageStatus::Failed | MessageStatus::Undelivered
        ) && moved.status != applied.before.status
            && let Some(c) = self.store.get_campaign(moved.campaign_id).await?
            && let Some(messaging) = &c.settings.messaging
        {
            self.after_failure(&moved, messaging).await?;
            self.wake();
            // A retry put it back to pending: read it as it now stands.
            return self.store.get_message(&receipt.message_id).await;
        }
        Ok(Some(moved))
    }
}

/// The in-process simulator's receipts, applied by the runner.
pub struct RunnerSink(pub Arc<Runner>);

#[async_trait::async_trait]
impl ReceiptSink for RunnerSink {
    async fn deliver(&self, receipt: Receipt) -> Result<(), String> {
        let at = self.0.clock.now();
        let raw = json!({"simulated": true, "sid": receipt.sid, "status": receipt.status.as_str()});
        self.0
            .on_receipt(&receipt, raw, at)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
