//! The Prometheus exporter (rendered on our own `/metrics` route) and the HTTP metrics.
//! Histograms of `_seconds` get explicit buckets so they render as histograms, not summaries.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "dialer_http_requests_total";
pub const HTTP_DURATION: &str = "dialer_http_request_duration_seconds";

const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];
/// The dispatch lag's target is milliseconds: finer buckets there (a `Full` matcher is chosen
/// before the `_seconds` suffix).
const LAG_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// From due to dial, waiting for a line included: seconds to hours.
const WAIT_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
    86400.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The process's recorder, installed once (tests start many servers in one process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(dialer_actors::metrics::STORAGE_BATCH.into()),
                        BATCH_BUCKETS,
                    )
                })
                .and_then(|b| {
                    [
                        dialer_actors::metrics::DISPATCH_LAG,
                        dialer_actors::metrics::DISPATCH_STEP,
                        dialer_actors::metrics::STORAGE_WRITE,
                    ]
                    .into_iter()
                    .try_fold(b, |b, name| {
                        b.set_buckets_for_metric(Matcher::Full(name.into()), LAG_BUCKETS)
                    })
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(dialer_actors::metrics::DUE_TO_DIAL.into()),
                        WAIT_BUCKETS,
                    )
                })
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|e| panic!("prometheus buckets: {e}"));
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::park_timeout(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok();
            handle
        })
        .clone()
}

fn describe() {
    for (name, help) in dialer_actors::metrics::DESCRIPTIONS {
        metrics::describe_counter!(*name, *help);
    }
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests, by route template, method and status."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request duration, by route template."
    );
}

/// Counts every request by its route template (never its concrete path).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = tokio::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "route" => route.clone()).record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}
