//! The sweep for messages left `sending`: claimed for an attempt whose request never got an
//! answer — the process died mid-request, or the request timed out and no receipt followed.
//! Such a message (no provider SID: the provider's acceptance never reached us) waits for
//! nothing, so it would never end. Once it has been `sending` for
//! [`SENDING_DEADLINE`] (far longer than a request may take, retries included) and no request
//! for it is in progress in this process, it is settled:
//!
//! - where the provider honours the idempotency key (`http`), the same attempt is sent again
//!   under the same key: the provider sends it at most once, and its answer is applied as any;
//! - elsewhere (`twilio`, `sim`) it cannot be asked whether the request arrived, and sending it
//!   again could reach the recipient twice: the message fails as uncertain, and is not retried.
//!
//! Each is a compare-and-set on the message's (status, attempts), with its decision event.

use std::sync::Arc;

use dialer_engine::Campaign;
use dialer_engine::messaging::MessageStatus;
use dialer_storage::messages::{Message, MessageFilter, MessageScope};
use serde_json::json;

use super::Runner;

/// How long a message may be `sending` (engine time) before it is swept up.
pub const SENDING_DEADLINE: chrono::Duration = chrono::Duration::minutes(10);
/// The reason a swept message that could not be sent again fails with.
pub const UNCERTAIN_REASON: &str = "uncertain: the send had no answer and no receipt came; \
                                    the provider cannot be asked, so it is not sent again";
const PAGE: u32 = 500;

impl Runner {
    /// Settles every message `sending` for longer than [`SENDING_DEADLINE`] with no request in
    /// progress here; how many.
    pub async fn sweep(self: &Arc<Self>) -> dialer_storage::Result<usize> {
        let cutoff = self.clock.now() - SENDING_DEADLINE;
        let mut swept = 0;
        let mut after = None;
        loop {
            let campaigns = self.store.list_campaigns(after, 100).await?;
            let Some(last) = campaigns.last() else {
                return Ok(swept);
            };
            after = Some(last.id);
            for campaign in campaigns.iter().filter(|c| c.settings.messaging.is_some()) {
                let filter = MessageFilter {
                    scope: MessageScope::Campaign(campaign.id),
                    status: Some(MessageStatus::Sending),
                };
                let mut from = None;
                loop {
                    let page = self
                        .store
                        .list_messages(filter.clone(), from.clone(), PAGE)
                        .await?;
                    let Some(last) = page.last() else {
                        break;
                    };
                    from = Some(last.message_id.clone());
                    for m in page {
                        // A SID: the provider took it, and its receipts will say the rest.
                        if m.provider_sid.is_none()
                            && m.updated_at < cutoff
                            && !self.is_sending_here(&m.message_id)
                        {
                            self.recover(m, campaign).await?;
                            swept += 1;
                        }
                    }
                }
            }
        }
    }

    fn is_sending_here(&self, id: &str) -> bool {
        self.sending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    async fn recover(
        self: &Arc<Self>,
        m: Message,
        campaign: &Campaign,
    ) -> dialer_storage::Result<()> {
        let now = self.clock.now();
        let provider = &campaign.settings.provider;
        let idempotent = self
            .messengers
            .get(provider)
            .filter(|x| x.idempotent())
            .cloned();
        let mut next = m.clone();
        next.updated_at = now;
        match (idempotent, &campaign.settings.messaging) {
            (Some(messenger), Some(messaging)) => {
                self.pace(campaign, messaging, super::Toll::Claim).await;
                next.updated_at = self.clock.now();
                let detail = json!({"provider": provider, "why": "the send had no answer"});
                if self.settle(&m, next.clone(), "resend", detail).await? {
                    self.dispatch(messenger, next, campaign).await;
                }
            }
            _ => {
                next.status = MessageStatus::Failed;
                next.reason = Some(UNCERTAIN_REASON.into());
                let detail = json!({"provider": provider, "why": "the send had no answer"});
                self.settle(&m, next, "uncertain", detail).await?;
            }
        }
        Ok(())
    }
}
