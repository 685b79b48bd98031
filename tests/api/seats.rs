//! One ticket, one seat: leases that heartbeats renew, the pass-around trick, a second device
//! of the same wallet refused or taking over, and revocation when a ticket leaves its holder.

use std::time::Duration;

use alloy::primitives::U256;
use futures_util::future::join_all;
use marquee::chain::bindings::{DemoBadge, DemoToken};
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_passed_ticket_seats_nobody_while_the_first_lease_is_live() {
    // The follower polls once a minute here, so the transfer below is not seen: only the
    // seat lease stands between the second viewer and the seat.
    let app = spawn_app_with(|s| {
        s.chain_poll_ms = Some(60_000);
        s.seat_lease_secs = Some(2);
    })
    .await;
    let (a, b) = (wallet(1), wallet(2));
    let ticket = app.mint_pass(a.address()).await;
    let id = app.live_event(app.pass_gate()).await;
    let a_token = app.stream_token(&id, &app.login(&a).await).await;
    assert_eq!(app.playlist(&id, &a_token).await, 200);

    app.send_pass(1, b.address(), ticket).await;
    let b_session = app.login(&b).await;
    let p = assert_problem(app.join(&id, &b_session).await, 403, "ticket_in_use").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("token {ticket} of")),
        "{p}"
    );
    // A's heartbeats keep the seat.
    assert_eq!(app.heartbeat(&id, &a_token).await, 200);
    assert_problem(app.join(&id, &b_session).await, 403, "ticket_in_use").await;

    // A stops beating (a closed tab): the lease lapses, B sits down and A's stream is cut.
    let b_token = eventually(Duration::from_secs(10), || async {
        let r = app.join(&id, &b_session).await;
        (r.status() == 200).then_some(())?;
        let body: serde_json::Value = r.json().await.unwrap();
        Some(body["stream_token"].as_str().unwrap().to_string())
    })
    .await;
    assert_eq!(app.playlist(&id, &b_token).await, 200);
    assert_eq!(app.playlist(&id, &a_token).await, 403);
    assert_eq!(app.heartbeat(&id, &a_token).await, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_device_is_refused_or_takes_the_seat_over() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let (first, second) = (app.login(&viewer).await, app.login(&viewer).await);

    let reject = app
        .live_event_with(app.pass_gate(), json!({ "seat_conflict": "reject" }))
        .await;
    let token = app.stream_token(&reject, &first).await;
    assert_problem(app.join(&reject, &second).await, 403, "ticket_in_use").await;
    // The same session joining again renews its token on the same seat.
    let renewed = app.stream_token(&reject, &first).await;
    assert_eq!(app.playlist(&reject, &token).await, 200);
    assert_eq!(app.playlist(&reject, &renewed).await, 200);

    let takeover = app
        .live_event_with(app.pass_gate(), json!({ "seat_conflict": "takeover" }))
        .await;
    let old = app.stream_token(&takeover, &first).await;
    let new = app.stream_token(&takeover, &second).await;
    assert_eq!(app.playlist(&takeover, &new).await, 200);
    assert_eq!(
        app.playlist(&takeover, &old).await,
        403,
        "the first stream is cut"
    );
    assert_eq!(app.heartbeat(&takeover, &old).await, 403);

    let two = app
        .live_event_with(app.pass_gate(), json!({ "max_sessions_per_ticket": 2 }))
        .await;
    let third = app.login(&viewer).await;
    app.stream_token(&two, &first).await;
    app.stream_token(&two, &second).await;
    assert_problem(app.join(&two, &third).await, 403, "ticket_in_use").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_joins_on_one_ticket_seat_exactly_one() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let id = app.live_event(app.pass_gate()).await;
    let sessions = join_all((0..10).map(|_| app.login(&viewer))).await;
    let answers = join_all(sessions.iter().map(|s| app.join(&id, s))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_that_leaves_revokes_its_stream_within_two_blocks() {
    let app = spawn_app().await;
    let (a, b) = (wallet(1), wallet(2));
    let ticket = app.mint_pass(a.address()).await;
    let id = app.live_event(app.pass_gate()).await;
    let a_token = app.stream_token(&id, &app.login(&a).await).await;
    assert_eq!(app.playlist(&id, &a_token).await, 200);

    let sent = app.send_pass(1, b.address(), ticket).await;
    // Blocks are mined on demand: after each, wait for the follower to follow it, then look.
    let mut revoked_after = None;
    for extra in 0..=2 {
        app.followed(sent + extra).await;
        if app.playlist(&id, &a_token).await == 403 {
            revoked_after = Some(extra);
            break;
        }
        app.mine().await;
    }
    let blocks = revoked_after.expect("revoked within 2 blocks of the transfer");
    println!("revoked {blocks} block(s) after the transfer's block");
    assert_eq!(app.heartbeat(&id, &a_token).await, 403);
    // The seat is free for the new holder.
    let b_token = app.stream_token(&id, &app.login(&b).await).await;
    assert_eq!(app.playlist(&id, &b_token).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn fungible_tickets_are_revoked_only_when_the_gate_no_longer_holds() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let erc20 = DemoToken::new(app.contracts.erc20.unwrap(), &app.admin);
    let badge = DemoBadge::new(app.contracts.erc1155.unwrap(), &app.admin);
    let (erc20_addr, badge_addr) = (app.contracts.erc20.unwrap(), app.contracts.erc1155.unwrap());
    let gate = json!({ "any": [
        { "type": "erc1155", "contract": badge_addr.to_string(), "token_id": "7" },
        { "type": "erc20", "contract": erc20_addr.to_string(), "min_balance": "5" }
    ]});
    let one = U256::from(1);
    mined(
        badge
            .mint(viewer.address(), U256::from(7), one)
            .send()
            .await,
    )
    .await;
    mined(erc20.mint(viewer.address(), U256::from(5)).send().await).await;
    let id = app.live_event(gate).await;
    let token = app.stream_token(&id, &app.login(&viewer).await).await;

    // The badge leaves, but the ERC-20 balance still satisfies the gate.
    let signer = app.signer(1);
    let sent = DemoBadge::new(badge_addr, &signer)
        .safeTransferFrom(
            viewer.address(),
            wallet(2).address(),
            U256::from(7),
            one,
            Default::default(),
        )
        .send()
        .await;
    let block = mined(sent).await.block_number.unwrap();
    app.followed(block).await;
    assert_eq!(app.playlist(&id, &token).await, 200);

    // One token of the ERC-20 leaves: 4 < 5, and the stream is cut.
    let sent = DemoToken::new(erc20_addr, &signer)
        .transfer(wallet(2).address(), one)
        .send()
        .await;
    let block = mined(sent).await.block_number.unwrap();
    app.followed(block).await;
    assert_eq!(app.playlist(&id, &token).await, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_catches_up_on_transfers_made_while_the_node_was_down() {
    let mut app = spawn_app().await;
    let db = TestDb::new().await;
    let database = db.url.clone();
    let port = free_port();
    let (a, b) = (wallet(1), wallet(2));
    let ticket = app.mint_pass(a.address()).await;

    let mut node = app.start_node(&database, port).await;
    let id = app.live_event(app.pass_gate()).await;
    let token = app.stream_token(&id, &app.login(&a).await).await;
    assert_eq!(app.playlist(&id, &token).await, 200);

    node.kill().await.unwrap(); // SIGKILL: nothing is shut down cleanly
    let sent = app.send_pass(1, b.address(), ticket).await;
    app.mine().await;

    let _node = app.start_node(&database, port).await;
    app.followed(sent).await;
    assert_eq!(app.playlist(&id, &token).await, 403);
}
