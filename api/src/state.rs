//! What every request handler shares.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dialer_actors::Engine;
use dialer_actors::provider::twilio::TwilioConfig;
use dialer_storage::Store;
use dialer_storage::lease::LeaseStore;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::Settings;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub leases: Arc<dyn LeaseStore>,
    pub auth: Auth,
    pub settings: Settings,
    pub metrics: PrometheusHandle,
    /// Twilio accounts by provider name, for verifying webhook signatures.
    pub twilio: HashMap<String, TwilioConfig>,
    pub started_at: DateTime<Utc>,
    /// Places for imports running at once (`import::MAX_IMPORTS`).
    pub imports: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server begins to shut down: long-lived streams end.
    pub shutdown: CancellationToken,
    /// The messaging runner: sends due messages, applies receipts.
    pub messaging: Arc<dialer_actors::messenger::runner::Runner>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("node", &self.settings.node_id)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
