//! The OpenAPI document states the rules the handlers enforce, and the handlers take what it
//! calls valid: the schemathesis run (api/tests/schemathesis.rs) checks that at random; these
//! check the rules it found, one by one.

use dialer_engine::PhoneValidation;
use reqwest::Method;
use serde_json::{Value, json};

use crate::server::{OPERATOR, PROVIDER, TestServer, VIEWER};

async fn document(s: &TestServer) -> Value {
    s.send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .body
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn the_document_states_each_rule_and_links_what_creates_to_what_takes_its_id() {
    let strict = TestServer::start().await;
    let doc = document(&strict).await;
    let initiate = schema(&doc, "InitiateCallRequest");
    assert_eq!(initiate["properties"]["campaign_id"]["minimum"], 1);
    // The numbering plan has no pattern: strict mode states none.
    assert!(initiate["properties"]["phone_number"]["pattern"].is_null());
    let enums = |v: &Value| v["enum"].as_array().cloned().unwrap_or_default();
    let region = enums(&schema(&doc, "AddDnc")["properties"]["region"]);
    assert!(region.contains(&json!("US")) && region.contains(&json!("GB")));
    assert!(!region.contains(&json!("ZZ")));
    assert_eq!(
        enums(&schema(&doc, "AddDnc")["properties"]["kind"]),
        [json!("dnc"), json!("opt_out"), Value::Null]
    );
    let statuses = enums(&schema(&doc, "CallbackRequest")["properties"]["status"]);
    assert!(statuses.contains(&json!("PICKED")) && statuses.contains(&json!("NO_ANSWER")));
    let name = &schema(&doc, "CreateCampaign")["properties"]["name"];
    assert_eq!(
        (&name["minLength"], &name["maxLength"]),
        (&json!(1), &json!(200))
    );
    let links = &doc["paths"]["/api/v1/campaigns"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["get_campaigns__id_"]["operationRef"],
        "#/paths/~1api~1v1~1campaigns~1{id}/get"
    );
    assert_eq!(
        links["get_campaigns__id_"]["parameters"]["id"],
        "$response.body#/id"
    );
    assert!(
        links["get_calls"]["parameters"]["campaign_id"].is_string(),
        "{links}"
    );
    let call_links = &doc["paths"]["/api/v1/initiate-call"]["post"]["responses"]["201"]["links"];
    assert!(
        call_links["get_calls__call_id_"].is_object(),
        "{call_links}"
    );
    strict.stop().await;

    let e164 = TestServer::start_with(|s| s.phone_validation = PhoneValidation::E164).await;
    let doc = document(&e164).await;
    let pattern = dialer_engine::E164_PATTERN;
    assert_eq!(
        schema(&doc, "InitiateCallRequest")["properties"]["phone_number"]["pattern"],
        pattern
    );
    assert_eq!(
        doc["paths"]["/api/v1/dnc/{phone_number}"]["get"]["parameters"][0]["schema"]["pattern"],
        pattern
    );
    // Responses carry stored numbers, which the pattern does not describe.
    assert!(schema(&doc, "CallOut")["properties"]["phone_number"]["pattern"].is_null());
    e164.stop().await;
}

#[tokio::test]
async fn what_the_document_calls_valid_is_taken_and_what_it_calls_invalid_is_refused() {
    let s = TestServer::start_with(|s| s.phone_validation = PhoneValidation::E164).await;
    let c = s.campaign("doc", json!({})).await;
    // JSON Schema's integers include 7.0.
    let r = s
        .post(
            "/api/v1/initiate-call",
            OPERATOR,
            json!({"campaign_id": c as f64, "phone_number": "+19995550100"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["call_id"].as_str().unwrap().to_owned();
    let r = s
        .put(
            "/api/v1/callback",
            PROVIDER,
            json!({"call_id": id, "status": "no-answer", "call_duration": 0.0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.post(
        "/api/v1/initiate-call",
        OPERATOR,
        json!({"campaign_id": 1.5, "phone_number": "+19995550101"}),
    )
    .await
    .assert_error(400, "invalid_field", Some("campaign_id"));
    // serde would read a struct from an array of its fields; a body is an object.
    s.post(
        "/api/v1/initiate-call",
        OPERATOR,
        json!([c, "+19995550102"]),
    )
    .await
    .assert_error(400, "invalid_field", Some("body"));
    let r = s
        .send(
            Method::PATCH,
            &format!("/api/v1/campaigns/{c}"),
            Some(OPERATOR),
            Some(json!([null, null])),
        )
        .await;
    r.assert_error(400, "invalid_field", Some("body"));
    // A name: 1 to 200 characters as sent, not only spaces, tabs and line breaks.
    let create = |name: String| s.post("/api/v1/campaigns", OPERATOR, json!({"name": name}));
    create(" \t\r\n".into())
        .await
        .assert_error(400, "invalid_field", Some("name"));
    create(format!(" {} ", "x".repeat(199)))
        .await
        .assert_error(400, "invalid_field", Some("name"));
    let r = create(format!(" {} ", "x".repeat(198))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "x".repeat(198));
    let r = create("\u{2003}".into()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The campaign's numbers when it has none: the campaign's state, not the request, is at fault.
    s.post(
        "/api/v1/bulk-initiate-calls",
        OPERATOR,
        json!({"campaign_id": c, "use_campaign_numbers": true}),
    )
    .await
    .assert_error(409, "conflict", None);
    // A page cursor of the do-not-call list is any stored number and kind.
    let r = s.get("/api/v1/dnc?cursor=%2B9991234567,dnc", VIEWER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.get("/api/v1/dnc?cursor=%2B1,dnc", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("cursor"));
    s.stop().await;
}
