//! Honest attendance (heartbeats credit wall-clock time, once per wallet, only while live,
//! kept across restarts) and the organizer's view of it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

async fn beat(app: &TestApp, id: &str, token: &str) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/events/{id}/heartbeat"),
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["watched_seconds"]
        .as_i64()
        .unwrap()
}

async fn stats(app: &TestApp, id: &str, session: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/events/{id}/stats"), Some(session))
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_devices_beating_credit_one_wallet_once_and_the_owner_sees_the_audience() {
    let mut app = spawn_app().await;
    let (one, two) = (wallet(1), wallet(2));
    app.mint_pass(one.address()).await;
    app.mint_pass(two.address()).await;
    let now = OffsetDateTime::now_utc();
    let id = app
        .create_event_with(
            now - time::Duration::minutes(1),
            now + time::Duration::hours(1),
            app.pass_gate(),
            json!({ "mode": "record", "min_watch_seconds": 1 }),
            json!({ "max_sessions_per_ticket": 2 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (laptop, phone, other) = (
        app.login(&one).await,
        app.login(&one).await,
        app.login(&two).await,
    );
    let laptop_token = app.stream_token(&id, &laptop).await;
    let phone_token = app.stream_token(&id, &phone).await;
    let other_token = app.stream_token(&id, &other).await;
    let owner = app.login(&wallet(0)).await;

    let s = stats(&app, &id, &owner).await;
    assert_eq!(s["live_viewers"], 2, "{s}");
    assert_eq!(s["live_sessions"], 3, "{s}");
    assert_eq!(s["joins"], 3, "{s}");
    assert_eq!(s["viewers"], 2, "{s}");
    assert_eq!(s["claims"], 0, "{s}");

    // Both devices beat together, five times over two seconds: the wallet is credited the
    // wall-clock time between its first and last beat, not twice that.
    assert_eq!(beat(&app, &id, &other_token).await, 0);
    let first = Instant::now();
    let mut watched = 0;
    for round in 0..5 {
        if round > 0 {
            // The heartbeat cadence is what is under test here, not a wait for a condition.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (a, b) = tokio::join!(
            beat(&app, &id, &laptop_token),
            beat(&app, &id, &phone_token)
        );
        watched = a.max(b);
    }
    let elapsed = first.elapsed().as_secs() as i64;
    assert!(
        (1..=elapsed).contains(&watched),
        "{watched} s credited in {elapsed} s"
    );

    let s = stats(&app, &id, &owner).await;
    assert_eq!(s["eligible"], 1, "{s}");
    assert_eq!(s["watched"]["max_seconds"], watched, "{s}");
    assert_eq!(s["watched"]["distribution"][0]["viewers"], 2, "{s}");
    assert_eq!(s["watched"]["distribution"][0]["to_minutes"], 1, "{s}");

    // Only the owner sees them.
    assert_problem(
        app.get(&format!("/api/v1/events/{id}/stats"), Some(&other))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/events/{id}/stats"), None).await,
        401,
        "unauthenticated",
    )
    .await;

    // A viewer who logs out is no longer live.
    let r = app
        .post("/api/v1/auth/logout", Some(&other), json!({}))
        .await;
    assert_eq!(r.status(), 204);
    let s = stats(&app, &id, &owner).await;
    assert_eq!(s["live_viewers"], 1, "{s}");
    assert_eq!(s["live_sessions"], 2, "{s}");

    // Watched time is in the database: another process on it sees the same (its sessions are
    // its own: the issuer is the node's public URL).
    let database_url = app.database_url.clone();
    let _node = app.start_node(&database_url, free_port()).await;
    let again = app.login(&one).await;
    let r = app
        .get(&format!("/api/v1/events/{id}/attendance/me"), Some(&again))
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["watched_seconds"], watched, "{me}");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_before_the_screening_starts_is_not_credited() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let id = app
        .create_event_with(
            now + time::Duration::hours(1),
            now + time::Duration::hours(2),
            app.pass_gate(),
            json!({}),
            json!({ "doors_open_at": rfc3339(now - time::Duration::minutes(1)) }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = app.login(&viewer).await;
    let token = app.stream_token(&id, &session).await;
    assert_eq!(beat(&app, &id, &token).await, 0);
    // Wall-clock time passes between the two beats, but the screening has not started.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(beat(&app, &id, &token).await, 0);
}
