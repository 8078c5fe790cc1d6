//! Hostile input over a raw socket: what a broken or malicious client sends.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use serde_json::json;

use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

/// Sends `request` as raw bytes, closes the sending side, and reads the whole answer.
async fn raw(s: &TestServer, request: &[u8]) -> String {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A body that ends before its Content-Length is a 400 as soon as the connection says so — not
/// a wait for the request timeout, and not a 5xx.
#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_400_at_once() {
    let s = TestServer::start().await;
    let request = format!(
        "POST /api/v1/campaigns/ HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": \"x\""
    );
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        raw(&s, request.as_bytes()),
    )
    .await
    .expect("answered at once");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains(r#""code":"bad_request""#), "{answer}");
    s.stop().await;
}

/// `count` distinct valid numbers, as CSV rows.
fn rows(count: u32) -> String {
    (0..count)
        .map(|i| format!("+1415{:07}\n", 2_000_000 + i))
        .collect()
}

/// 5,000 good rows and one in Latin-1: the import answered 400 yet had written the 5,000. The
/// foreign row is now that row's problem — reported with its line — and the rest is imported.
#[tokio::test]
async fn a_row_in_another_encoding_is_an_invalid_row_not_a_failed_import() {
    let s = TestServer::start().await;
    let c = s.campaign("enc", json!({})).await;
    let mut body = b"phone_number,name\n".to_vec();
    body.extend(rows(5_000).as_bytes());
    body.extend(b"+14155559999,Jos\xe9\n");
    body.extend(b"+14155559998,Ana\n");
    let r = import(&s, c, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["added"], 5_001);
    assert_eq!(r.body["invalid"], 1);
    assert_eq!(r.body["invalid_rows"][0]["line"], 5_002);
    assert!(
        r.body["invalid_rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{}",
        r.body
    );
    s.stop().await;
}

/// An import that stops part-way (here: past the size limit) keeps its status and code, and
/// says how much of the file was written before it stopped.
#[tokio::test]
async fn an_import_that_stops_part_way_says_what_it_wrote() {
    let s = TestServer::start_with(|s| s.max_import_bytes = 60_000).await;
    let c = s.campaign("big", json!({})).await;
    let body = format!("phone_number\n{}", rows(6_000));
    let r = import(&s, c, body).await;
    r.assert_error(413, "payload_too_large", None);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("contacts added"), "{message}");
    let written = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body["contacts"]
        .as_u64()
        .unwrap();
    assert!(written > 0, "part of the file was written");
    assert!(
        message.contains(&format!("({written} contacts added")),
        "{message}"
    );
    s.stop().await;
}

/// Imports `body` (CSV) into campaign `c`.
async fn import(s: &TestServer, c: i64, body: impl Into<reqwest::Body>) -> crate::server::Reply {
    let path = format!("/api/v1/campaigns/{c}/contacts/import");
    s.post_raw(&path, OPERATOR, "text/csv", body).await
}

/// Imports one number into campaign `c` until the answer is `status` (for 10 s at most).
async fn import_until(s: &TestServer, c: i64, number: &str, status: u16) -> crate::server::Reply {
    let body = format!("phone_number\n{number}\n");
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let r = import(s, c, body.clone()).await;
            if r.status == status {
                return r;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("an import of {number} never answered {status}"))
}

/// Imports that stall after their header used to hold blocking threads the embedded store reads
/// with, until readiness, reads and initiate-call hung. Now each has a thread of its own, at
/// most `MAX_IMPORTS` run at once (more are refused with 429), and everything else answers.
#[tokio::test]
async fn stalled_imports_starve_nothing_and_more_than_the_limit_are_refused() {
    let s = TestServer::start().await;
    let c = s.campaign("stall", json!({})).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /api/v1/campaigns/{c}/contacts/import HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ADMIN}\r\n\
         Content-Type: text/csv\r\nContent-Length: 100000000\r\n\r\nphone_number\n+14155552671\n"
    );
    let mut stalled = Vec::new();
    for _ in 0..dialer_api::import::MAX_IMPORTS {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    // The engine answers meanwhile.
    let r = reqwest::get(format!("{}/readyz", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"campaign_id": c, "phone_number": "+14155550100"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        s.get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
            .await
            .status,
        200
    );
    // One import more than the limit is refused until one ends. (The stalled ones may still be
    // starting: the refusal is waited for, never slept for.)
    import_until(&s, c, "+14155550101", 429)
        .await
        .assert_error(429, "rate_limited", None);
    // A client that gives up ends its import at once, and frees its place.
    drop(stalled);
    let done = import_until(&s, c, "+14155550102", 200).await;
    assert_eq!(done.body["added"], 1);
    s.stop().await;
}

/// A CSV 100,000 columns wide took ~125 times its size in memory; it is refused at its header,
/// naming the limit.
#[tokio::test]
async fn a_csv_wider_than_the_column_limit_is_refused_at_its_header() {
    let s = TestServer::start().await;
    let c = s.campaign("wide", json!({})).await;
    let header: Vec<String> = std::iter::once("phone_number".to_owned())
        .chain((0..100_000).map(|i| format!("c{i}")))
        .collect();
    let mut body = header.join(",");
    body.push('\n');
    body.push_str(&format!("+14155552671{}\n", ",x".repeat(100_000)));
    let r = import(&s, c, body).await;
    r.assert_error(400, "invalid_field", Some("body"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 200"),
        "{}",
        r.body
    );
    // A value longer than the limit makes its row invalid, not the file.
    let body = format!(
        "phone_number,note\n+14155552671,{}\n+14155552672,ok\n",
        "y".repeat(5000)
    );
    let r = import(&s, c, body).await;
    assert_eq!(
        (r.status, &r.body["added"], &r.body["invalid"]),
        (200, &json!(1), &json!(1)),
        "{}",
        r.body
    );
    s.stop().await;
}
