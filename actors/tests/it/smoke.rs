//! A small campaign from start to completion.

use std::time::Duration;

use dialer_engine::{CallStatus, CampaignState};

use crate::harness::{Harness, always_picked, config, settings};

#[tokio::test(start_paused = true)]
async fn a_small_campaign_dials_every_contact_once_and_completes() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 3, 10), 20).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(3600),
        h.engine
            .wait_for_campaign(campaign.id, CampaignState::Completed),
    )
    .await
    .expect("the campaign completes")
    .unwrap();
    assert_eq!(done.state, CampaignState::Completed);
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 20);
    assert_eq!(record.duplicate_dials, 0);
    assert!(record.max_active <= 5, "max active {}", record.max_active);
    let calls = h.calls(campaign.id).await;
    assert_eq!(calls.len(), 20);
    assert!(
        calls
            .iter()
            .all(|c| c.status == CallStatus::Picked && c.attempt_count == 1)
    );
}
