//! Session and stream tokens under attack, key rotation, cookies, the Origin check, and the
//! sign-in rate limits.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The session key as stored (the test reads the app's own database, as an attacker who
/// somehow read it would).
async fn session_key(app: &TestApp, kid: &str) -> EncodingKey {
    let db = marquee::store::connect(&app.database_url).await.unwrap();
    let keys = marquee::store::keys::current(&db, marquee::time_util::now_ms())
        .await
        .unwrap();
    let pem = &keys.iter().find(|k| k.kid == kid).unwrap().secret;
    EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/me", Some(token)).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_misused_tokens_are_refused() {
    let app = spawn_app().await;
    let w = wallet(1);
    let token = app.login(&w).await;
    let kid = kid_of(&token);
    let claims = claims_of(&token);
    let key = session_key(&app, &kid).await;
    let sign = |claims: &Value| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, claims, &key).unwrap()
    };
    // Control: the same key and claims, re-signed, pass; so each refusal below is its change.
    assert_eq!(me_status(&app, &sign(&claims)).await, 200);

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for (field, value) in [
        ("iss", json!("http://evil.example")),
        ("aud", json!("marquee-stream")),
        ("exp", json!(now - 60)),
        ("nbf", json!(now + 600)),
        ("iat", json!(now + 600)),
    ] {
        let mut c = claims.clone();
        c[field] = value;
        cases.push((field, c));
    }
    for field in ["iss", "aud", "exp", "nbf", "iat", "sub"] {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(field);
        cases.push((field, c));
    }
    for (what, c) in cases {
        assert_eq!(me_status(&app, &sign(&c)).await, 401, "{what}: {c}");
    }

    // alg none, with the real kid and claims.
    let header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let body = token.split('.').nth(1).unwrap();
    assert_eq!(
        me_status(&app, &format!("{header}.{body}.")).await,
        401,
        "alg none"
    );

    // HS256 keyed with the public key, in each form a confused verifier might use.
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kid"], kid);
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    for secret in [
        x.clone(),
        jwk["x"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(
            me_status(&app, &forged).await,
            401,
            "HS256 with the public key"
        );
    }

    // A stream token is no session token, and a session token opens no stream.
    app.mint_pass(w.address()).await;
    let id = &app.live_event(app.pass_gate()).await;
    let joined: Value = app.join(id, &token).await.json().await.unwrap();
    let stream = joined["stream_token"].as_str().unwrap();
    let sh = jsonwebtoken::decode_header(stream).unwrap();
    assert_eq!(
        sh.alg,
        Algorithm::HS256,
        "stream tokens are HMAC, cheap per segment"
    );
    assert_ne!(sh.kid.as_deref(), Some(kid.as_str()), "under their own kid");
    assert!(
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == json!(sh.kid)),
        "the stream secret is not published"
    );
    assert_eq!(
        me_status(&app, stream).await,
        401,
        "stream token as session"
    );
    let r = app
        .get(&format!("/stream/{id}/index.m3u8?token={token}"), None)
        .await;
    assert_problem(r, 401, "unauthenticated").await;
    let r = app
        .get(&format!("/stream/{id}/index.m3u8?token={stream}"), None)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_keys_keep_verifying_what_they_signed() {
    let app = spawn_app().await;
    let before = app.login(&wallet(1)).await;
    let old_kid = kid_of(&before);

    let kids = app
        .run_cli(&["keys", "rotate", "--database-url", &app.database_url])
        .await;
    let new_kid = kids["session"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert!(
        kids["stream"].is_string() && kids["nonce"].is_string(),
        "{kids}"
    );
    assert!(
        !kids.to_string().contains("PRIVATE"),
        "no key material printed"
    );

    // The running node picks the new keys up by itself.
    let jwks: Value = eventually(Duration::from_secs(10), || async {
        let j: Value = app
            .get("/.well-known/jwks.json", None)
            .await
            .json()
            .await
            .ok()?;
        (j["keys"].as_array()?.len() == 2).then_some(j)
    })
    .await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(published.contains(&old_kid.as_str()) && published.contains(&new_kid.as_str()));
    let after = app.login(&wallet(1)).await;
    assert_eq!(kid_of(&after), new_kid, "the new key signs");
    assert_eq!(
        me_status(&app, &before).await,
        200,
        "the old key still verifies"
    );
    assert_eq!(me_status(&app, &after).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn cookies_are_http_only_lax_and_act_only_from_our_origin() {
    let app = spawn_app().await;
    let w = wallet(1);
    let msg = app.siwe(w.address()).await;
    let r = app.login_with(&msg, &sign(&w, &msg).await).await;
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: {set}");
    let cookie = set.split(';').next().unwrap().to_string();

    let with_cookie = |origin: Option<&str>| {
        let mut req = app
            .http
            .post(format!("{}/api/v1/auth/logout", app.url))
            .header("cookie", &cookie);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req
    };
    // Reading with the cookie needs no Origin.
    let me = app
        .http
        .get(format!("{}/api/v1/me", app.url))
        .header("cookie", &cookie);
    assert_eq!(me.send().await.unwrap().status(), 200);
    let r = with_cookie(None).send().await.unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = with_cookie(Some("https://evil.example"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = with_cookie(Some("null")).send().await.unwrap();
    assert_problem(r, 403, "forbidden").await;
    // A Referer from our own pages stands in for a missing Origin.
    let r = with_cookie(None)
        .header("referer", format!("{}/watch", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Behind https, the cookie is Secure.
    let secure = spawn_app_with(|a| {
        a.public_url = a
            .public_url
            .as_ref()
            .map(|u| u.replace("http://", "https://"));
    })
    .await;
    let origin = secure.url.replace("http://", "https://");
    let msg = siwe_message(
        &secure.domain,
        &origin,
        w.address(),
        31337,
        &secure.nonce().await,
        "",
    );
    let r = secure.login_with(&msg, &sign(&w, &msg).await).await;
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_logins_with_one_nonce_make_one_session() {
    let app = spawn_app().await;
    let w = wallet(1);
    let msg = app.siwe(w.address()).await;
    let sig = sign(&w, &msg).await;
    let tries = (0..20).map(|_| app.login_with(&msg, &sig));
    let answers = futures_util::future::join_all(tries).await;
    let mut ok = 0;
    for r in answers {
        if r.status() == 200 {
            ok += 1;
        } else {
            assert_problem(r, 401, "nonce_invalid").await;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_is_rate_limited_per_client_and_overall() {
    for (per_ip, global) in [(Some(2), None), (None, Some(3))] {
        let app = spawn_app_with(|a| {
            a.auth_rate_per_ip = per_ip.or(a.auth_rate_per_ip);
            a.auth_rate_global = global;
        })
        .await;
        let mut limited = None;
        for _ in 0..20 {
            let r = app.post("/api/v1/auth/nonce", None, json!({})).await;
            if r.status() == 429 {
                limited = Some(r);
                break;
            }
            assert_eq!(r.status(), 201);
        }
        let r = limited.expect("a 429 within 20 requests");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "Retry-After {retry}");
        assert_problem(r, 429, "rate_limited").await;
        // Login shares the budget; other endpoints do not.
        let r = app.login_with("x", "0x").await;
        assert_problem(r, 429, "rate_limited").await;
        assert_eq!(app.get("/api/v1/events", None).await.status(), 200);
    }
}
