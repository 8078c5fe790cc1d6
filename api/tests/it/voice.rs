//! Voice campaigns with a template: what an answered call says is the campaign's `voice`
//! template rendered with the contact's attributes, served as TwiML to Twilio (signed).

use reqwest::Method;
use serde_json::json;

use crate::server::{OPERATOR, PUBLIC_URL, TWILIO_SID, TWILIO_TOKEN, TestServer};
use crate::twilio::{form, post_signed};

#[tokio::test]
async fn an_answered_call_says_the_template_rendered_for_its_contact() {
    let s = TestServer::start().await;
    // A campaign cannot name a template that does not exist.
    let missing = s
        .post(
            "/api/v1/campaigns",
            OPERATOR,
            json!({"name": "reminders", "settings": {"voice_template": {"name": "reminder"}}}),
        )
        .await;
    missing.assert_error(400, "invalid_field", Some("settings.voice_template"));
    let put = s
        .send(
            Method::PUT,
            "/api/v1/templates/reminder/voice/en",
            Some(OPERATOR),
            Some(json!({"text": "Hello {first_name}, your appointment is at {time} & not later."})),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    let id = s
        .campaign(
            "reminders",
            json!({"voice_template": {"name": "reminder", "locale": "en"}}),
        )
        .await;
    let csv = "phone_number,first_name,time\n+14155550101,Ada,9:30\n+14155550102,Grace,\n";
    let import = s
        .post_raw(
            &format!("/api/v1/campaigns/{id}/contacts/import"),
            OPERATOR,
            "text/csv",
            csv,
        )
        .await;
    assert_eq!(import.body["added"], 2, "{}", import.body);
    let mut calls = Vec::new();
    for number in ["+14155550101", "+14155550102"] {
        let r = s
            .post(
                "/api/v1/initiate-call",
                OPERATOR,
                json!({"phone_number": number, "campaign_id": id}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        calls.push(r.body["call_id"].as_str().unwrap().to_owned());
    }
    let fetch = |call: &str, token: &'static str| {
        let path = format!("/api/v1/providers/twilio/twiml?call_id={call}");
        let s = &s;
        async move {
            let params = form(&[
                ("AccountSid", TWILIO_SID),
                ("CallSid", "CA1"),
                ("CallStatus", "in-progress"),
            ]);
            post_signed(s, &path, &params, &format!("{PUBLIC_URL}{path}"), token).await
        }
    };
    let ada = fetch(&calls[0], TWILIO_TOKEN).await;
    assert_eq!(ada.status, 200, "{}", ada.body);
    assert!(
        ada.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert!(
        ada.body
            .as_str()
            .unwrap()
            .contains("<Say>Hello Ada, your appointment is at 9:30 &amp; not later.</Say>"),
        "{}",
        ada.body
    );
    // Grace has no time: she is never told a blank; the call hangs up.
    let grace = fetch(&calls[1], TWILIO_TOKEN).await;
    assert!(
        grace.body.as_str().unwrap().contains("<Hangup/>"),
        "{}",
        grace.body
    );
    // Only Twilio may ask.
    fetch(&calls[0], "a-guess")
        .await
        .assert_error(403, "invalid_signature", None);
    s.stop().await;
}
