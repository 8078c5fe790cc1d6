//! The SRE stack with real tools: `promtool` checks and unit-tests the alert rules, a real
//! `prometheus` scrapes a running `dialer serve` while it dials, and every PromQL expression of
//! every dashboard panel and rule is evaluated there and must return data — unless it reads
//! only a counter that appears with its first event (named below, with why). The dashboards'
//! data source and variable references must resolve, and `docker-compose config` must accept
//! the compose file. Tools: Debian's `prometheus` and `docker-compose` (`.ci/run` installs them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // Test code: a panic is the failure report.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dialer_loadtest::harness::{ADMIN, Api, Dialer, number};
use dialer_storage::testsuite::redis_server::free_port;
use serde_json::{Value, json};

/// Counters that exist only once their first event happened, and why that is not one here.
const EVENT_ONLY: &[(&str, &str)] = &[
    (
        "dialer_actor_restarts_total",
        "counted from the first actor restart; none here",
    ),
    (
        "dialer:actor_restarts:increase5m",
        "recorded from the restart counter",
    ),
    (
        "dialer_lease_errors_total",
        "from the first lease store failure",
    ),
    (
        "dialer_lease_waits_total",
        "from the first full lease pool; one campaign never fills the engine's",
    ),
    (
        "dialer_rate_limit_waits_total",
        "from the first wait for a rate token; no rate limit here",
    ),
    (
        "dialer_storage_commit_errors_total",
        "from the first failed commit",
    ),
    (
        "dialer_storage_write_retries_total",
        "from the first write retried while storage was away",
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dashboards() -> Vec<(String, Value)> {
    ["overview", "campaign", "infrastructure"]
        .into_iter()
        .map(|name| {
            let path = repo().join(format!("dashboards/{name}.json"));
            let text = std::fs::read_to_string(&path).expect("the dashboard exists");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name.to_owned(), json)
        })
        .collect()
}

/// Every `(where, expr)` of the dashboards' panel targets.
fn panel_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        for panel in d["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("expr").to_owned();
                out.push((format!("{name}: {}", panel["title"]), expr));
            }
        }
    }
    out
}

/// Every `(name, expr, is_alert)` of the rules file.
fn rules() -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(repo().join("dashboards/prometheus/alerts.yml")).unwrap();
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let expr = rule["expr"].as_str().unwrap().trim().to_owned();
            match (rule["record"].as_str(), rule["alert"].as_str()) {
                (Some(name), _) => out.push((name.to_owned(), expr, false)),
                (_, Some(name)) => out.push((name.to_owned(), expr, true)),
                _ => panic!("a rule is a record or an alert: {rule:?}"),
            }
        }
    }
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (bash .ci/run installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {}\n{text}", out.status);
    text
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let dir = repo().join("dashboards/prometheus");
    run(Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.join("alerts.yml")));
    let tested = run(Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(&dir));
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a unit test.
    let tests = std::fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    for (name, _, alert) in rules() {
        if alert {
            assert!(
                tests.contains(&format!("alertname: {name}")),
                "{name} is unit-tested"
            );
        }
    }
}

#[test]
fn docker_compose_accepts_the_stack_and_its_mounts_exist() {
    let compose = repo().join("docker-compose.yml");
    run(Command::new("docker-compose")
        .arg("-f")
        .arg(&compose)
        .args(["config", "-q"])
        .env("COMPOSE_PROJECT_NAME", "dialer"));
    let doc: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&compose).unwrap()).unwrap();
    let services = doc["services"].as_mapping().unwrap();
    for name in [
        "dialer",
        "scylla",
        "redis",
        "provider-sim",
        "prometheus",
        "grafana",
        "migrate",
    ] {
        assert!(services.contains_key(name), "the stack has {name}");
    }
    for (_, service) in services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            assert!(repo().join(host).exists(), "{host} is in the repository");
        }
    }
    assert!(repo().join("Dockerfile").exists());
    assert!(repo().join("config/dialer.compose.yaml").exists());
}

#[test]
fn dashboards_reference_only_what_resolves() {
    let provisioned = std::fs::read_to_string(
        repo().join("dashboards/grafana/provisioning/datasources/prometheus.yml"),
    )
    .unwrap();
    let provisioned: yaml_serde::Value = yaml_serde::from_str(&provisioned).unwrap();
    let uid = provisioned["datasources"][0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut uids = HashSet::new();
    for (name, d) in dashboards() {
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_owned()),
            "{name}: uid is unique"
        );
        let vars: Vec<&Value> = d["templating"]["list"].as_array().unwrap().iter().collect();
        let defined: BTreeSet<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
        let source = vars
            .iter()
            .find(|v| v["type"] == "datasource")
            .unwrap_or_else(|| panic!("{name}: a data source variable"));
        assert_eq!(
            source["query"], "prometheus",
            "{name}: of Prometheus data sources"
        );
        assert_eq!(
            source["current"]["value"],
            uid.as_str(),
            "{name}: defaults to the provisioned one"
        );
        let mut ids = HashSet::new();
        for panel in d["panels"].as_array().unwrap() {
            let title = &panel["title"];
            assert!(
                ids.insert(panel["id"].as_i64().unwrap()),
                "{name}: {title}: id is unique"
            );
            assert!(
                panel["gridPos"]["w"].as_i64().is_some(),
                "{name}: {title}: placed"
            );
            let mut refs = HashSet::new();
            for ds in std::iter::once(&panel["datasource"]).chain(
                panel["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| &t["datasource"]),
            ) {
                assert_eq!(ds["type"], "prometheus", "{name}: {title}");
                let ds_uid = ds["uid"].as_str().unwrap();
                let var = ds_uid.strip_prefix("${").and_then(|v| v.strip_suffix('}'));
                assert!(
                    ds_uid == uid || var.is_some_and(|v| defined.contains(v)),
                    "{name}: {title}: data source {ds_uid} resolves"
                );
            }
            for target in panel["targets"].as_array().unwrap() {
                assert!(
                    refs.insert(target["refId"].as_str().unwrap()),
                    "{name}: {title}: refIds"
                );
                let expr = target["expr"].as_str().unwrap();
                for var in expr.split('$').skip(1) {
                    let var: String = var
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        defined.contains(var.as_str()),
                        "{name}: {title}: ${var} is defined"
                    );
                }
            }
        }
    }
}

/// `base?key=value`, encoded.
fn url(base: &str, key: &str, value: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(base, &[(key, value)]).unwrap()
}

struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Self {
        let port = free_port().unwrap();
        let config = dir.join("prometheus.yml");
        let rules = repo().join("dashboards/prometheus/alerts.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 rule_files: [\"{}\"]\n\
                 scrape_configs:\n  - job_name: dialer\n    static_configs: [{{targets: [\"{target}\"]}}]\n",
                rules.display()
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus is installed (apt-get install -y prometheus; .ci/run does it)");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// A JSON answer of Prometheus's API.
    async fn get(&self, url: reqwest::Url) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An instant query's result vector; Err with Prometheus's error.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let r = self
            .http
            .get(url(&format!("{}/api/v1/query", self.base), "query", expr))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits (up to 2 minutes: Prometheus is another process, scraping on its own clock) until
    /// `expr` returns data.
    async fn until_data(&self, expr: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while tokio::time::Instant::now() < deadline {
            if self.query(expr).await.is_ok_and(|r| !r.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("Prometheus never had data for {expr}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why `expr` may return nothing: it reads only counters that appear with their first event.
fn event_only(expr: &str) -> Option<&'static str> {
    let names: Vec<&str> = expr
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("dialer_") || w.starts_with("dialer:"))
        .collect();
    let first = EVENT_ONLY.iter().find(|(n, _)| names.contains(n))?;
    names
        .iter()
        .all(|n| EVENT_ONLY.iter().any(|(e, _)| e == n))
        .then_some(first.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_dialing_engine_and_every_panel_and_rule_has_data() {
    let work = tempfile::tempdir().unwrap();
    let rest = format!(
        "clock_speed: 60\nauth: {{tokens: [{{name: admin, role: admin, token: {ADMIN}}}]}}"
    );
    let mut dialer = Dialer::serve_in(Path::new(env!("CARGO_BIN_EXE_dialer")), work.path(), &rest)
        .await
        .expect("dialer serve starts");
    let http = reqwest::Client::new();
    let api = Api {
        http: http.clone(),
        base: format!("{}/api/v1", dialer.base_url()),
    };
    // Enough contacts to keep 20 lines busy for minutes at 60x: the campaign runs throughout.
    let campaign = api
        .create_campaign(json!({"name": "observed", "settings": {
            "max_concurrent": 20, "zone_policy": "campaign", "time_zone": "UTC",
            "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
            "retry": {"max_attempts": 3, "rules": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00", "retry_interval_minutes": 1}]},
        }}))
        .await
        .unwrap();
    let csv: String = std::iter::once("phone_number".to_owned())
        .chain((0..3000).map(|i| number(i, 0)))
        .collect::<Vec<_>>()
        .join("\n");
    api.import_csv(campaign, csv).await.unwrap();
    api.start_campaign(campaign).await.unwrap();
    // promtool on what the engine exports while it dials.
    let scrape = api.metrics().await.unwrap();
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), scrape.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let prom = Prometheus::start(work.path(), dialer.base_url().trim_start_matches("http://"));
    // Retries and reports have happened, and the rules have been evaluated on them.
    for expr in [
        "dialer_retries_scheduled_total",
        "dialer_provider_first_report_seconds_count",
        "dialer:dispatch_lag_seconds:p99_5m",
        "dialer:provider_reports:rate1m",
        "count_over_time(dialer_calls_active[1m]) > 10",
    ] {
        prom.until_data(expr).await;
    }
    // The campaign variable's values include the running campaign.
    let values = prom
        .get(url(
            &format!("{}/api/v1/label/campaign/values", prom.base),
            "match[]",
            "dialer_campaign_lines",
        ))
        .await;
    let id = campaign.to_string();
    assert!(
        values["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == id.as_str()),
        "{values}"
    );
    let mut failures = Vec::new();
    let mut evaluated = 0;
    let rule_queries = rules()
        .into_iter()
        .map(|(n, e, alert)| (format!("rule {n}"), e, alert));
    let panel_queries = panel_queries().into_iter().map(|(w, e)| (w, e, false));
    for (place, expr, alert) in panel_queries.chain(rule_queries) {
        let expr = expr.replace("$campaign", &id);
        evaluated += 1;
        match prom.query(&expr).await {
            Err(e) => failures.push(format!("{place}: {expr}: {e}")),
            // An alert's expression is empty while it does not fire: it must evaluate, and the
            // recorded series it compares have data (they are rules here too).
            Ok(_) if alert => {}
            Ok(r) if r.is_empty() && event_only(&expr).is_none() => {
                failures.push(format!("{place}: no data for {expr}"));
            }
            Ok(_) => {}
        }
    }
    // Prometheus evaluated every rule without an error.
    let loaded = prom
        .get(reqwest::Url::parse(&format!("{}/api/v1/rules", prom.base)).unwrap())
        .await;
    let mut rule_count = 0;
    for group in loaded["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            rule_count += 1;
            if rule["health"] != "ok" {
                failures.push(format!("rule {}: {}", rule["name"], rule["lastError"]));
            }
        }
    }
    assert_eq!(rule_count, rules().len(), "Prometheus loaded every rule");
    assert!(
        failures.is_empty(),
        "{} of {evaluated}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    dialer.stop().await.unwrap();
}
