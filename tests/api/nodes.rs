//! Several nodes on one database: two `marquee serve` processes on the test app's database (the
//! suite's: SQLite, or PostgreSQL) and chain, with the same public URL, as behind a load
//! balancer. Each request below goes to one node directly.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// How long a change made on one node may take to reach the others here: they follow the
/// database twice a second; the rest is slack for a loaded machine.
const PROPAGATION: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread")]
async fn a_nonce_signs_in_once_across_two_nodes() {
    let (app, _nodes, [a, b]) = two_nodes().await;
    let viewer = stranger();
    // Each nonce comes from one node; the same signed message goes to both at once.
    for round in 0..8 {
        let msg = app.siwe(viewer.address()).await;
        let body = json!({ "message": msg, "signature": sign(&viewer, &msg).await });
        let send = |node: &str| {
            app.http
                .post(format!("{node}/api/v1/auth/login"))
                .json(&body)
                .send()
        };
        let (ra, rb) = tokio::join!(send(&a), send(&b));
        let mut statuses = [ra.unwrap().status(), rb.unwrap().status()].map(|s| s.as_u16());
        statuses.sort();
        assert_eq!(statuses, [200, 401], "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_stream_tokens_logouts_and_seats_hold_across_two_nodes() {
    let (mut app, _nodes, [a, b]) = two_nodes().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;

    // A session from B is good on A; a stream token from A opens the stream on B.
    app.url = b.clone();
    let first = app.login(&viewer).await;
    app.url = a.clone();
    let second = app.login(&viewer).await;
    assert_eq!(app.get("/api/v1/me", Some(&first)).await.status(), 200);
    let reject = app
        .live_event_with(app.pass_gate(), json!({ "seat_conflict": "reject" }))
        .await;
    let token = app.stream_token(&reject, &first).await;
    app.url = b.clone();
    assert_eq!(app.playlist(&reject, &token).await, 200);
    assert_eq!(app.heartbeat(&reject, &token).await, 200);

    // The seat taken on A is taken on B.
    assert_problem(app.join(&reject, &second).await, 403, "ticket_in_use").await;

    // A seat taken over on B cuts the stream on A.
    let takeover = app
        .live_event_with(app.pass_gate(), json!({ "seat_conflict": "takeover" }))
        .await;
    app.url = a.clone();
    let old = app.stream_token(&takeover, &first).await;
    assert_eq!(app.playlist(&takeover, &old).await, 200);
    app.url = b.clone();
    let new = app.stream_token(&takeover, &second).await;
    assert_eq!(app.playlist(&takeover, &new).await, 200);
    app.url = a.clone();
    eventually(PROPAGATION, || async {
        (app.playlist(&takeover, &old).await == 403).then_some(())
    })
    .await;
    assert_eq!(app.playlist(&takeover, &new).await, 200);

    // A logout on B ends the session, and its stream, on A.
    app.url = b.clone();
    let r = app
        .post("/api/v1/auth/logout", Some(&second), json!({}))
        .await;
    assert_eq!(r.status(), 204);
    app.url = a.clone();
    eventually(PROPAGATION, || async {
        (app.get("/api/v1/me", Some(&second)).await.status() == 401).then_some(())
    })
    .await;
    assert_eq!(app.playlist(&takeover, &new).await, 403);
    // The other session of the wallet is untouched.
    assert_eq!(app.get("/api/v1/me", Some(&first)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_seats_one_session_when_both_nodes_seat_at_once() {
    let (app, _nodes, [a, b]) = two_nodes().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(app.login(&viewer).await);
    }
    // Eight devices of one wallet join at once, half through each node: one gets the seat.
    // Several rounds, each on a new event, for the nodes' seating to overlap.
    for round in 0..10 {
        let event = app
            .live_event_with(app.pass_gate(), json!({ "seat_conflict": "reject" }))
            .await;
        let path = format!("/api/v1/events/{event}/join");
        let statuses = at_once(&app, [&a, &b], &path, &sessions).await;
        assert_eq!(counts(&statuses), (1, 7), "round {round}: {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_event_gives_no_more_tokens_than_its_cap_when_both_nodes_take_claims() {
    let (app, _nodes, [a, b]) = two_nodes().await;
    let mut sessions = Vec::new();
    for _ in 0..12 {
        sessions.push(app.login(&stranger()).await);
    }
    for round in 0..3 {
        let event = app
            .ended_event(json!({ "mode": "record", "max_supply": 3 }))
            .await;
        let path = format!("/api/v1/events/{event}/claim");
        let statuses = at_once(&app, [&a, &b], &path, &sessions).await;
        assert_eq!(counts(&statuses), (3, 9), "round {round}: {statuses:?}");
    }
}

/// The test app and two `marquee serve` nodes sharing its database and public URL: the
/// processes (killed when dropped) and the URLs that reach them. The app's requests go to the
/// first.
async fn two_nodes() -> (TestApp, [tokio::process::Child; 2], [String; 2]) {
    let mut app = spawn_app().await;
    let (first, a) = app.start_peer(free_port(), &[]).await;
    let (second, b) = app.start_peer(free_port(), &[]).await;
    app.url = a.clone();
    (app, [first, second], [a, b])
}

/// The statuses of `POST path` sent at once with each of `sessions`, alternately to each node.
async fn at_once(app: &TestApp, nodes: [&str; 2], path: &str, sessions: &[String]) -> Vec<u16> {
    let requests = sessions.iter().enumerate().map(|(i, s)| {
        app.http
            .post(format!("{}{path}", nodes[i % 2]))
            .bearer_auth(s)
            .json(&json!({}))
            .send()
    });
    futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

/// How many of `statuses` are 200, and how many 403.
fn counts(statuses: &[u16]) -> (usize, usize) {
    let n = |code| statuses.iter().filter(|s| **s == code).count();
    (n(200), n(403))
}
