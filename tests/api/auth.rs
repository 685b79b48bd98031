//! Sign-in refusals, sessions and logout.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_nonce_signs_in_once() {
    let app = spawn_app().await;
    let w = wallet(1);
    let msg = app.siwe(w.address()).await;
    let sig = sign(&w, &msg).await;
    let r = app.login_with(&msg, &sig).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["address"], w.address().to_string());

    let again = app.login_with(&msg, &sig).await;
    assert_problem(again, 401, "nonce_invalid").await;

    // Never issued: made up, well-formed but signed with another key, or ours but expired
    // (made with the app's own nonce key, read from its database).
    let now = marquee::time_util::now_ms();
    let db = marquee::store::connect(&app.database_url).await.unwrap();
    let keys = marquee::store::keys::current(&db, now).await.unwrap();
    let key = &keys.iter().find(|k| k.purpose == "nonce").unwrap().secret;
    let key: [u8; 32] = alloy::hex::decode(key).unwrap().try_into().unwrap();
    for nonce in [
        "NeverIssued123".to_string(),
        marquee::auth::nonce::issue(&[9u8; 32], now + 60_000).text,
        marquee::auth::nonce::issue(&key, now - 1).text,
    ] {
        let msg = siwe_message(&app.domain, &app.url, w.address(), 31337, &nonce, "");
        let r = app.login_with(&msg, &sign(&w, &msg).await).await;
        assert_problem(r, 401, "nonce_invalid").await;
    }
    // Control: the same path with a current nonce of our key passes.
    let fresh = marquee::auth::nonce::issue(&key, now + 60_000).text;
    let msg = siwe_message(&app.domain, &app.url, w.address(), 31337, &fresh, "");
    assert_eq!(
        app.login_with(&msg, &sign(&w, &msg).await).await.status(),
        200
    );
}

/// One batch of the used-nonce ledger mixing new nonces, a replay of a stored one and a
/// duplicate within the batch: only the first sight of each new nonce wins.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_used_nonces_tells_replays_apart() {
    let test_db = TestDb::new().await;
    let db = marquee::store::connect(&test_db.url).await.unwrap();
    let mut conn = db.acquire().await.unwrap();
    let consume = marquee::store::nonces::consume_all;
    assert_eq!(consume(&mut conn, &[("old", 9)]).await.unwrap(), [true]);
    let batch = [("a", 9), ("old", 9), ("a", 9), ("b", 9)];
    assert_eq!(
        consume(&mut conn, &batch).await.unwrap(),
        [true, false, false, true]
    );
    // All new: answered from the count alone.
    assert_eq!(
        consume(&mut conn, &[("c", 9), ("d", 9)]).await.unwrap(),
        [true, true]
    );
    assert_eq!(
        consume(&mut conn, &[("c", 9), ("d", 9)]).await.unwrap(),
        [false, false]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_every_broken_rule() {
    let app = spawn_app().await;
    let w = wallet(1);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            siwe_message(
                "evil.example",
                &app.url,
                w.address(),
                31337,
                &app.nonce().await,
                "",
            ),
            401,
            "domain_mismatch",
        ),
        (
            siwe_message(
                &app.domain,
                "https://evil.example/login",
                w.address(),
                31337,
                &app.nonce().await,
                "",
            ),
            401,
            "domain_mismatch",
        ),
        (
            siwe_message(
                &app.domain,
                &app.url,
                w.address(),
                1,
                &app.nonce().await,
                "",
            ),
            401,
            "chain_mismatch",
        ),
        (
            siwe_message(
                &app.domain,
                &app.url,
                w.address(),
                31337,
                &app.nonce().await,
                &format!(
                    "\nExpiration Time: {}",
                    rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(1))
                ),
            ),
            401,
            "message_expired",
        ),
        (
            siwe_message(
                &app.domain,
                &app.url,
                w.address(),
                31337,
                &app.nonce().await,
                &format!(
                    "\nExpiration Time: {}\nNot Before: {}",
                    rfc3339(OffsetDateTime::now_utc() + time::Duration::hours(2)),
                    rfc3339(OffsetDateTime::now_utc() + time::Duration::hours(1))
                ),
            ),
            401,
            "message_expired",
        ),
        ("hello, sign me in".into(), 400, "invalid_message"),
    ];
    for (msg, status, code) in cases {
        let r = app.login_with(&msg, &sign(&w, &msg).await).await;
        assert_problem(r, status, code).await;
    }
    // Signed by another key than the message's address.
    let msg = app.siwe(w.address()).await;
    let r = app.login_with(&msg, &sign(&wallet(2), &msg).await).await;
    assert_problem(r, 401, "signature_invalid").await;
    let r = app.login_with(&msg, "0x1234").await;
    assert_problem(r, 401, "signature_invalid").await;
    // The nonce of a refused signature is still good for the real wallet.
    let r = app.login_with(&msg, &sign(&w, &msg).await).await;
    assert_eq!(r.status(), 200);
    // Malformed JSON names the problem.
    let r = app
        .http
        .post(format!("{}/api/v1/auth/login", app.url))
        .header("content-type", "application/json")
        .body("{\"message\": 1}")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_and_tokens_are_checked() {
    let app = spawn_app().await;
    let token = app.login(&wallet(1)).await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status(), 200);
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&token), json!({}))
            .await
            .status(),
        204
    );
    assert_problem(
        app.get("/api/v1/me", Some(&token)).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(app.get("/api/v1/me", None).await, 401, "unauthenticated").await;
    assert_problem(
        app.get("/api/v1/me", Some("not.a.jwt")).await,
        401,
        "unauthenticated",
    )
    .await;
    // An unsigned token (alg none) with the same claims is refused.
    let claims = token.split('.').nth(1).unwrap();
    let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    assert_problem(
        app.get("/api/v1/me", Some(&forged)).await,
        401,
        "unauthenticated",
    )
    .await;

    let cfg: Value = app.get("/api/v1/config", None).await.json().await.unwrap();
    assert_eq!(cfg["chain_id"], 31337);
    assert_eq!(cfg["domain"], app.domain);
    assert_eq!(cfg["poap_contract"], app.contracts.poap.to_string());
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_organizers_create_events_and_bad_fields_are_named() {
    let app = spawn_app().await;
    let viewer = app.login(&wallet(1)).await;
    let now = OffsetDateTime::now_utc();
    let body = json!({
        "title": "X", "starts_at": rfc3339(now), "ends_at": rfc3339(now + time::Duration::hours(1)),
        "stream": { "source": "demo" }, "gate": app.pass_gate(),
    });
    assert_problem(
        app.post("/api/v1/events", Some(&viewer), body.clone())
            .await,
        403,
        "forbidden",
    )
    .await;

    let organizer = app.login(&wallet(0)).await;
    let mut bad = body.clone();
    bad["gate"] = json!({ "any": [{ "type": "erc721", "contract": "0x123" }] });
    let p = assert_problem(
        app.post("/api/v1/events", Some(&organizer), bad).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("gate.any[0]"), "{p}");
    let mut bad = body.clone();
    bad["ends_at"] = json!(rfc3339(now - time::Duration::hours(1)));
    let p = assert_problem(
        app.post("/api/v1/events", Some(&organizer), bad).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().starts_with("ends_at"), "{p}");
    let mut bad = body.clone();
    bad["stream"]["source"] = json!("../../etc");
    assert_problem(
        app.post("/api/v1/events", Some(&organizer), bad).await,
        400,
        "invalid_request",
    )
    .await;

    let created = app.post("/api/v1/events", Some(&organizer), body).await;
    assert_eq!(created.status(), 201);
    let event: Value = created.json().await.unwrap();
    let listed: Value = app.get("/api/v1/events", None).await.json().await.unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    let read: Value = app
        .get(
            &format!("/api/v1/events/{}", event["id"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, event);
    assert_problem(app.get("/api/v1/events/nope", None).await, 404, "not_found").await;
}
