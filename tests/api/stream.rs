//! The stream endpoint's refusals: no token, a tampered one, another event's, a revoked one, escapes.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn stream_refuses_missing_tampered_foreign_and_revoked_tokens() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let (starts, ends) = (
        now - time::Duration::minutes(1),
        now + time::Duration::hours(1),
    );
    let a = app
        .create_event(starts, ends, app.pass_gate(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app
        .create_event(starts, ends, app.pass_gate(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = app.login(&viewer).await;
    let join: Value = app.join(&a, &session).await.json().await.unwrap();
    let token = join["stream_token"].as_str().unwrap().to_string();

    assert_eq!(
        app.get(&format!("/stream/{a}/index.m3u8?token={token}"), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/stream/{a}/index.m3u8"), Some(&token))
            .await
            .status(),
        200,
        "Bearer works too"
    );
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8"), None).await,
        401,
        "unauthenticated",
    )
    .await;
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_problem(
        app.get(&format!("/stream/{a}/seg000.ts?token={tampered}"), None)
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        app.get(&format!("/stream/{b}/index.m3u8?token={token}"), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    // A session token is not a stream token.
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8?token={session}"), None)
            .await,
        401,
        "unauthenticated",
    )
    .await;

    // Paths stay inside the event's folder.
    for path in [
        "..%2F..%2FCargo.toml",
        "%2e%2e/%2e%2e/Cargo.toml",
        "..%5C..%5CCargo.toml",
    ] {
        let r = app
            .get(&format!("/stream/{a}/{path}?token={token}"), None)
            .await;
        assert!(
            r.status() == 403 || r.status() == 404,
            "{path}: {}",
            r.status()
        );
    }
    assert_problem(
        app.get(&format!("/stream/{a}/nope.ts?token={token}"), None)
            .await,
        404,
        "not_found",
    )
    .await;

    // Heartbeats need the same token.
    assert_problem(
        app.post(&format!("/api/v1/events/{a}/heartbeat"), None, json!({}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/api/v1/events/{b}/heartbeat?token={token}"),
            None,
            json!({}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    // Logging out revokes the stream token of that session.
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&session), json!({}))
            .await
            .status(),
        204
    );
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8?token={token}"), None)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_is_refused_before_doors_open() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let e = app
        .create_event(
            now + time::Duration::hours(1),
            now + time::Duration::hours(2),
            app.pass_gate(),
            json!({}),
        )
        .await;
    let session = app.login(&viewer).await;
    let r = app.join(e["id"].as_str().unwrap(), &session).await;
    assert_problem(r, 403, "event_not_open").await;
}
