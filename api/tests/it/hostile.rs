//! Hostile input over a raw socket: what a broken or malicious client sends.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::{ADMIN, TestServer};

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
