//! Contact import (CSV, JSON, NDJSON; streamed) and its data-quality report; the seed's bulk
//! phone-number import; paging through the list.

use serde_json::{Value, json};

use crate::server::{OPERATOR, TestServer, VIEWER};

fn import_path(id: i64) -> String {
    format!("/api/v1/campaigns/{id}/contacts/import")
}

#[tokio::test]
async fn a_csv_with_bad_rows_gets_a_report_with_line_numbers_and_reasons() {
    let s = TestServer::start().await;
    let id = s.campaign("c", json!({"default_region": "US"})).await;
    // CRLF line ends, as spreadsheets write them.
    let csv = "phone_number,first_name,plan\r\n+14155552671,Ada,gold\r\n(415) 555-2672,Grace,\r\n\
               not a number,Linus,silver\r\n+1 415 555 2671,Ada again,platinum\r\n\r\n+99912345,Bad,country\r\n\
               \"+14155552673\",\"Quoted, Name\",basic\r\n";
    let r = s
        .post_raw(&import_path(id), OPERATOR, "text/csv; charset=utf-8", csv)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    // The blank line is not a row, but it is a line.
    assert_eq!(b["rows"], 6, "{b}");
    assert_eq!(
        (
            b["accepted"].as_u64(),
            b["added"].as_u64(),
            b["merged"].as_u64()
        ),
        (Some(3), Some(3), Some(0)),
        "{b}"
    );
    assert_eq!(b["duplicates"], 1);
    assert_eq!(
        b["duplicate_rows"],
        json!([{"line": 5, "phone_number": "+14155552671", "first_line": 2}])
    );
    assert_eq!(b["invalid"], 2);
    let invalid: Vec<(u64, &str)> = b["invalid_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["value"].as_str().unwrap()))
        .collect();
    assert_eq!(invalid, [(4, "not a number"), (7, "+99912345")]);
    for row in b["invalid_rows"].as_array().unwrap() {
        assert!(!row["reason"].as_str().unwrap().is_empty());
    }
    // The contacts, in E.164, with their other columns as attributes.
    let list = s
        .get(&format!("/api/v1/campaigns/{id}/contacts"), VIEWER)
        .await
        .body;
    let got: Vec<(&str, &Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["phone_number"].as_str().unwrap(), &c["attributes"]))
        .collect();
    assert_eq!(
        got,
        [
            (
                "+14155552671",
                &json!({"first_name": "Ada", "plan": "gold"})
            ),
            ("+14155552672", &json!({"first_name": "Grace"})),
            (
                "+14155552673",
                &json!({"first_name": "Quoted, Name", "plan": "basic"})
            ),
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn reimporting_merges_attributes_and_keeps_numbers_unique() {
    let s = TestServer::start().await;
    let id = s.campaign("c", json!({})).await;
    let first = s
        .post_raw(
            &import_path(id),
            OPERATOR,
            "text/csv",
            "phone,plan\n+14155552671,gold\n",
        )
        .await;
    assert_eq!(first.body["added"], 1);
    let json_rows = json!([
        {"phone_number": "+14155552671", "language": "fr"},
        {"phone_number": "+14155552672"},
        {"phone": 14155552673_u64},
        "not an object",
    ]);
    let r = s
        .post_raw(
            &import_path(id),
            OPERATOR,
            "application/json",
            json_rows.to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["added"].as_u64(),
            r.body["merged"].as_u64(),
            r.body["invalid"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{}",
        r.body
    );
    let list = s
        .get(&format!("/api/v1/campaigns/{id}/contacts"), VIEWER)
        .await
        .body;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        list[0]["attributes"],
        json!({"plan": "gold", "language": "fr"})
    );

    let ndjson = "{\"phone_number\": \"+14155552674\"}\n\n{broken\n{\"phone_number\": \"+14155552672\", \"vip\": true}\n";
    let r = s
        .post_raw(&import_path(id), OPERATOR, "application/x-ndjson", ndjson)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["added"].as_u64(), r.body["merged"].as_u64()),
        (Some(1), Some(1)),
        "{}",
        r.body
    );
    assert_eq!(r.body["invalid_rows"][0]["line"], 3);

    // The seed's bulk phone-number import: (campaign_id, phone_number) is unique.
    let r = s
        .post(
            &format!("/api/v1/campaigns/{id}/phone-numbers/"),
            OPERATOR,
            json!({"phone_numbers": ["+14155552674", "+14155552675", "x"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["added"].as_u64(),
            r.body["merged"].as_u64(),
            r.body["invalid"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let stats = s
        .get(&format!("/api/v1/campaigns/{id}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["contacts"], 4);
    s.stop().await;
}

#[tokio::test]
async fn imports_refuse_what_they_cannot_read() {
    let s = TestServer::start_with(|c| c.max_import_bytes = 64 * 1024).await;
    let id = s.campaign("c", json!({})).await;
    let r = s
        .post_raw(
            &import_path(id),
            OPERATOR,
            "text/csv",
            "name,email\nAda,a@example.com\n",
        )
        .await;
    r.assert_error(400, "invalid_field", Some("phone_number"));
    let r = s
        .post_raw(&import_path(id), OPERATOR, "application/xml", "<contacts/>")
        .await;
    r.assert_error(415, "unsupported_media_type", None);
    let r = s
        .post_raw(
            &import_path(id),
            OPERATOR,
            "application/json",
            "{\"phone_number\": 1}",
        )
        .await;
    r.assert_error(400, "invalid_json", Some("body"));
    // Larger than the import limit: refused, and nothing half-imported is reported as done.
    let mut big = String::from("phone_number\n");
    for i in 0..10_000 {
        big.push_str(&format!("+1415{:07}\n", 5_550_000 + i));
    }
    let r = s
        .post_raw(&import_path(id), OPERATOR, "text/csv", big)
        .await;
    r.assert_error(413, "payload_too_large", None);
    s.post_raw(
        &import_path(id),
        VIEWER,
        "text/csv",
        "phone_number\n+14155552671\n",
    )
    .await
    .assert_error(403, "forbidden", None);
    s.post_raw(
        &import_path(999),
        OPERATOR,
        "text/csv",
        "phone_number\n+14155552671\n",
    )
    .await
    .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn a_large_import_streams_and_pages_back_in_order() {
    let s = TestServer::start().await;
    let id = s.campaign("c", json!({})).await;
    let mut csv = String::from("msisdn,n\n");
    for i in 0..25_000 {
        csv.push_str(&format!("+1212{:07},{i}\n", 5_550_000 + i));
    }
    let r = s
        .post_raw(&import_path(id), OPERATOR, "text/csv", csv)
        .await;
    assert_eq!(
        (r.status, r.body["added"].as_u64()),
        (200, Some(25_000)),
        "{}",
        r.body
    );
    let mut seen = 0;
    let mut after = None;
    loop {
        let path = match after {
            Some(a) => format!("/api/v1/campaigns/{id}/contacts?limit=1000&after={a}"),
            None => format!("/api/v1/campaigns/{id}/contacts?limit=1000"),
        };
        let page = s.get(&path, VIEWER).await.body;
        let page = page.as_array().unwrap();
        if page.is_empty() {
            break;
        }
        for c in page {
            assert_eq!(c["attributes"]["n"], seen.to_string());
            seen += 1;
        }
        after = page.last().and_then(|c| c["id"].as_i64());
    }
    assert_eq!(seen, 25_000);
    s.stop().await;
}
