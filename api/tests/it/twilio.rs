//! Twilio webhooks: status callbacks and inbound messages, authenticated by `X-Twilio-Signature`
//! computed exactly as Twilio computes it over the URL it requested.

use dialer_actors::provider::twilio::signature;
use serde_json::json;

use crate::seed::dialed_call;
use crate::server::{PUBLIC_URL, TWILIO_SID, TWILIO_TOKEN, TestServer, VIEWER};

pub(crate) fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn encode(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Posts `params` to `path` (with its query) signed for `signed_url` with `token`.
pub(crate) async fn post_signed(
    s: &TestServer,
    path: &str,
    params: &[(String, String)],
    signed_url: &str,
    token: &str,
) -> crate::server::Reply {
    let sig = signature(token, signed_url, params);
    post_form(
        s,
        path,
        params,
        Some(&sig),
        "application/x-www-form-urlencoded",
    )
    .await
}

async fn post_form(
    s: &TestServer,
    path: &str,
    params: &[(String, String)],
    sig: Option<&str>,
    ct: &str,
) -> crate::server::Reply {
    let mut r = s
        .http
        .post(s.url(path))
        .header("Content-Type", ct)
        .body(encode(params));
    if let Some(sig) = sig {
        r = r.header("X-Twilio-Signature", sig);
    }
    crate::server::Reply::read(r.send().await.unwrap()).await
}

fn status_params(call_status: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = form(&[
        ("AccountSid", TWILIO_SID),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("CallStatus", call_status),
        ("From", "+14155550100"),
        ("To", "+14155552671"),
        ("ApiVersion", "2010-04-01"),
    ]);
    p.extend(form(extra));
    p
}

#[tokio::test]
async fn signed_status_callbacks_drive_the_call_and_duplicates_count_once() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let path = format!("/api/v1/providers/twilio/status?call_id={id}");
    let signed = format!("{PUBLIC_URL}{path}");
    for (status, extra) in [
        ("ringing", vec![]),
        ("in-progress", vec![]),
        ("completed", vec![("CallDuration", "31")]),
        ("completed", vec![("CallDuration", "31")]),
    ] {
        let r = post_signed(
            &s,
            &path,
            &status_params(status, &extra),
            &signed,
            TWILIO_TOKEN,
        )
        .await;
        assert_eq!(r.status, 204, "{status}: {}", r.body);
    }
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "PICKED", "{call}");
    assert_eq!(call["total_call_time"], 31);
    assert_eq!(
        call["external_call_id"],
        "CA0123456789abcdef0123456789abcdef"
    );
    let stats = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["outcomes"], json!({"PICKED": 1}), "{stats}");
    assert_eq!(stats["talk_seconds"], 31);
    s.stop().await;
}

#[tokio::test]
async fn forged_or_misdirected_signatures_are_refused() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let path = format!("/api/v1/providers/twilio/status?call_id={id}");
    let signed = format!("{PUBLIC_URL}{path}");
    let params = status_params("completed", &[("CallDuration", "10")]);

    // Signed with another auth token.
    post_signed(&s, &path, &params, &signed, "not-the-auth-token")
        .await
        .assert_error(403, "invalid_signature", None);
    // Signed for another URL: http instead of https, another call id.
    post_signed(
        &s,
        &path,
        &params,
        &signed.replace("https://", "http://"),
        TWILIO_TOKEN,
    )
    .await
    .assert_error(403, "invalid_signature", None);
    let other = format!("{PUBLIC_URL}/api/v1/providers/twilio/status?call_id=CA-other");
    post_signed(&s, &path, &params, &other, TWILIO_TOKEN)
        .await
        .assert_error(403, "invalid_signature", None);
    // A parameter changed after signing.
    let sig = signature(TWILIO_TOKEN, &signed, &params);
    let tampered = status_params("completed", &[("CallDuration", "9999")]);
    post_form(
        &s,
        &path,
        &tampered,
        Some(&sig),
        "application/x-www-form-urlencoded",
    )
    .await
    .assert_error(403, "invalid_signature", None);
    // No signature, an unknown account, not a form.
    post_form(
        &s,
        &path,
        &params,
        None,
        "application/x-www-form-urlencoded",
    )
    .await
    .assert_error(403, "invalid_signature", None);
    let mut stranger = params.clone();
    stranger[0].1 = "AC99999999999999999999999999999999".into();
    post_signed(&s, &path, &stranger, &signed, TWILIO_TOKEN)
        .await
        .assert_error(403, "invalid_signature", None);
    post_form(&s, &path, &params, Some(&sig), "application/json")
        .await
        .assert_error(415, "unsupported_media_type", None);

    // Nothing of that reached the call.
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "DIALING", "{call}");
    // The genuine request still works.
    assert_eq!(
        post_signed(&s, &path, &params, &signed, TWILIO_TOKEN)
            .await
            .status,
        204
    );
    s.stop().await;
}

#[tokio::test]
async fn unknown_statuses_are_recorded_not_acted_on_and_bad_requests_are_named() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let path = format!("/api/v1/providers/twilio/status?call_id={id}");
    let signed = format!("{PUBLIC_URL}{path}");
    let r = post_signed(
        &s,
        &path,
        &status_params("answered-by-robot", &[]),
        &signed,
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "DIALING");
    let last = call["events"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["detail"]["raw"].as_str()),
        (Some("provider_status"), Some("answered-by-robot")),
        "{call}"
    );
    assert!(last["detail"]["normalized"].is_null());
    assert!(
        last["detail"]["payload"]
            .as_str()
            .unwrap()
            .contains("CA0123456789abcdef0123456789abcdef")
    );

    let no_id = "/api/v1/providers/twilio/status";
    post_signed(
        &s,
        no_id,
        &status_params("completed", &[]),
        &format!("{PUBLIC_URL}{no_id}"),
        TWILIO_TOKEN,
    )
    .await
    .assert_error(400, "missing_field", Some("call_id"));
    let unknown = dialer_engine::CallId::generate(crate::server::epoch());
    let path = format!("/api/v1/providers/twilio/status?call_id={unknown}");
    post_signed(
        &s,
        &path,
        &status_params("completed", &[]),
        &format!("{PUBLIC_URL}{path}"),
        TWILIO_TOKEN,
    )
    .await
    .assert_error(404, "not_found", None);
    let path = format!("/api/v1/providers/twilio/status?call_id={id}");
    let no_status = form(&[("AccountSid", TWILIO_SID), ("CallSid", "CA1")]);
    post_signed(
        &s,
        &path,
        &no_status,
        &format!("{PUBLIC_URL}{path}"),
        TWILIO_TOKEN,
    )
    .await
    .assert_error(400, "missing_field", Some("CallStatus"));
    s.stop().await;
}

#[tokio::test]
async fn inbound_messages_subscribe_unsubscribe_and_set_the_senders_consent() {
    let s = TestServer::start().await;
    let path = "/api/v1/providers/twilio/inbound";
    let signed = format!("{PUBLIC_URL}{path}");
    let send = |body: &'static str| {
        let s = &s;
        let signed = signed.clone();
        async move {
            let f = form(&[
                ("AccountSid", TWILIO_SID),
                ("MessageSid", "SM42"),
                ("From", "+14155552671"),
                ("WaId", "14155552671"),
                ("Body", body),
            ]);
            let r = post_signed(s, path, &f, &signed, TWILIO_TOKEN).await;
            assert_eq!(r.status, 200, "{body}: {}", r.body);
        }
    };
    let recipient = || async {
        s.get("/api/v1/recipients/%2B14155552671", VIEWER)
            .await
            .body
    };
    send("SUBSCRIBE Price-Alerts").await;
    send("subscribe news").await;
    assert_eq!(
        recipient().await["topics"],
        serde_json::json!(["news", "price-alerts"])
    );
    assert_eq!(recipient().await["consent"], "unknown");
    send("UNSUBSCRIBE news").await;
    // The same person on WhatsApp: `From` is `whatsapp:+…`.
    let whatsapp = form(&[
        ("AccountSid", TWILIO_SID),
        ("MessageSid", "SM43"),
        ("From", "whatsapp:+14155552671"),
        ("WaId", "14155552671"),
        ("Body", "SUBSCRIBE deals"),
    ]);
    let r = post_signed(&s, path, &whatsapp, &signed, TWILIO_TOKEN).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        recipient().await["topics"],
        serde_json::json!(["deals", "price-alerts"])
    );
    let r = post_signed(
        &s,
        path,
        &form(&[
            ("AccountSid", TWILIO_SID),
            ("MessageSid", "SM44"),
            ("From", "whatsapp:+14155552671"),
            ("Body", "UNSUBSCRIBE deals"),
        ]),
        &signed,
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        recipient().await["topics"],
        serde_json::json!(["price-alerts"])
    );
    send("STOP").await;
    assert_eq!(recipient().await["consent"], "opted_out");
    send("START").await;
    assert_eq!(recipient().await["consent"], "opted_in");
    assert_eq!(
        recipient().await["topics"],
        serde_json::json!(["price-alerts"]),
        "kept across STOP"
    );
    s.stop().await;
}

#[tokio::test]
async fn stop_keywords_opt_the_sender_out_and_start_opts_them_back_in() {
    let s = TestServer::start().await;
    let path = "/api/v1/providers/twilio/inbound";
    let signed = format!("{PUBLIC_URL}{path}");
    let message = |body: &str, sid: &str| {
        form(&[
            ("AccountSid", TWILIO_SID),
            ("MessageSid", sid),
            ("From", "+14155552671"),
            ("To", "+14155550100"),
            ("Body", body),
        ])
    };
    let opted_out = || async { s.get("/api/v1/dnc/%2B14155552671", VIEWER).await.body };

    // Not a keyword: nothing happens, Twilio gets empty TwiML.
    let r = post_signed(
        &s,
        path,
        &message("Stop calling me at dinner please", "SM1"),
        &signed,
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert!(r.body.as_str().unwrap().contains("<Response>"));
    assert_eq!(opted_out().await["blocked"], false);

    for keyword in ["STOP", " unsubscribe ", "Cancel", "end", "QUIT", "stop."] {
        assert_eq!(
            post_signed(&s, path, &message(keyword, "SM2"), &signed, TWILIO_TOKEN)
                .await
                .status,
            200
        );
        let check = opted_out().await;
        assert_eq!(check["blocked"], true, "{keyword}");
        assert_eq!(
            (
                check["entries"][0]["kind"].as_str(),
                check["entries"][0]["source"].as_str()
            ),
            (Some("opt_out"), Some("twilio:SM2"))
        );
        assert_eq!(
            post_signed(&s, path, &message("START", "SM3"), &signed, TWILIO_TOKEN)
                .await
                .status,
            200
        );
        assert_eq!(opted_out().await["blocked"], false, "START after {keyword}");
    }
    // UNSTOP, and a voice call's gathered speech.
    assert_eq!(
        post_signed(&s, path, &message("stop", "SM4"), &signed, TWILIO_TOKEN)
            .await
            .status,
        200
    );
    assert_eq!(
        post_signed(&s, path, &message("UNSTOP", "SM5"), &signed, TWILIO_TOKEN)
            .await
            .status,
        200
    );
    assert_eq!(opted_out().await["blocked"], false);
    let speech = form(&[
        ("AccountSid", TWILIO_SID),
        ("CallSid", "CA9"),
        ("From", "+14155552671"),
        ("SpeechResult", "Stop."),
    ]);
    assert_eq!(
        post_signed(&s, path, &speech, &signed, TWILIO_TOKEN)
            .await
            .status,
        200
    );
    assert_eq!(opted_out().await["entries"][0]["source"], "twilio:CA9");

    // A forged STOP changes nothing.
    let forged = message("START", "SM6");
    post_signed(&s, path, &forged, &signed, "guess")
        .await
        .assert_error(403, "invalid_signature", None);
    assert_eq!(opted_out().await["blocked"], true);
    s.stop().await;
}
