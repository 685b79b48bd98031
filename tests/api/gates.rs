//! Gates against real OpenZeppelin tokens on Anvil.

use alloy::primitives::U256;
use marquee::chain::bindings::{DemoBadge, DemoToken, ScreeningPass};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_wallet_without_a_ticket_is_refused_with_reasons() {
    let app = spawn_app().await;
    let id = app.live_event(app.pass_gate()).await;
    let session = app.login(&stranger()).await;
    let r = app.join(&id, &session).await;
    let p = assert_problem(r, 403, "not_holder").await;
    assert!(p["detail"].as_str().unwrap().contains("holds 0 of"), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn any_token_gate_names_a_token_the_wallet_still_holds() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let first = app.mint_pass(viewer.address()).await;
    let second = app.mint_pass(viewer.address()).await;
    // The newest incoming token leaves; the ticket must name the one still held.
    let (vp, _) = marquee::chain::deploy::signing_provider(
        &app.anvil.url,
        marquee::chain::anvil::DEV_KEYS[1],
    )
    .unwrap();
    let pass = ScreeningPass::new(app.contracts.pass.unwrap(), &vp);
    mined(
        pass.transferFrom(viewer.address(), wallet(2).address(), second)
            .send()
            .await,
    )
    .await;

    let id = app.live_event(app.pass_gate()).await;
    let session = app.login(&viewer).await;
    let join: Value = app.join(&id, &session).await.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], first.to_string(), "{join}");

    // Listed ids: only those admit.
    let listed = app.live_event(json!({ "any": [{ "type": "erc721", "contract": app.contracts.pass.unwrap().to_string(), "token_ids": [second.to_string()] }] })).await;
    let r = app.join(&listed, &session).await;
    assert_problem(r, 403, "not_holder").await;
    let other = app.login(&wallet(2)).await;
    let join: Value = app.join(&listed, &other).await.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], second.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn erc1155_and_erc20_conditions_combine_with_all() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let erc20 = DemoToken::new(app.contracts.erc20.unwrap(), &app.admin);
    let badge = DemoBadge::new(app.contracts.erc1155.unwrap(), &app.admin);
    let gate = json!({ "all": [
        { "type": "erc1155", "contract": app.contracts.erc1155.unwrap().to_string(), "token_id": "7", "min_balance": "2" },
        { "type": "erc20", "contract": app.contracts.erc20.unwrap().to_string(), "min_balance": "1000000000000000000" }
    ]});
    let id = app.live_event(gate).await;
    let session = app.login(&viewer).await;

    mined(
        badge
            .mint(viewer.address(), U256::from(7), U256::from(2))
            .send()
            .await,
    )
    .await;
    mined(
        erc20
            .mint(viewer.address(), U256::from(999_999_999_999_999_999u64))
            .send()
            .await,
    )
    .await;
    let r = app.join(&id, &session).await;
    let p = assert_problem(r, 403, "not_holder").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("(ERC-20); needs 1000000000000000000"),
        "{p}"
    );

    mined(erc20.mint(viewer.address(), U256::from(1)).send().await).await;
    let join: Value = app.join(&id, &session).await.json().await.unwrap();
    assert_eq!(join["ticket"]["type"], "erc1155", "{join}");
    assert_eq!(join["ticket"]["token_id"], "7");
}

#[tokio::test(flavor = "multi_thread")]
async fn join_fails_closed_when_the_chain_is_gone() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let id = app.live_event(app.pass_gate()).await;
    let session = app.login(&viewer).await;
    // Stop the chain (and wait until it is gone): nobody may be let in on a guess.
    app.anvil.stop().await;
    let r = app
        .http
        .post(format!("{}/api/v1/events/{id}/join", app.url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_problem(r, 503, "chain_unavailable").await;
}

/// A gate of any size costs one request to the chain per join: every condition is read in
/// one `eth_call` of Multicall3's `aggregate3`, admitted or refused alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_cold_join_is_one_round_trip_to_the_chain() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let held = app.mint_pass(viewer.address()).await;
    let other = app.mint_pass(wallet(2).address()).await;
    let badge = DemoBadge::new(app.contracts.erc1155.unwrap(), &app.admin);
    mined(
        badge
            .mint(viewer.address(), U256::from(7), U256::from(1))
            .send()
            .await,
    )
    .await;
    let (pass, erc20, erc1155) = (
        app.contracts.pass.unwrap().to_string(),
        app.contracts.erc20.unwrap().to_string(),
        app.contracts.erc1155.unwrap().to_string(),
    );
    // Seven conditions in three nested groups: the ERC-20 fails, the rest admits.
    let gate = json!({ "all": [
        { "type": "erc721", "contract": pass, "token_ids": [other.to_string(), held.to_string(), "999"] },
        { "any": [
            { "type": "erc20", "contract": erc20, "min_balance": "1" },
            { "all": [
                { "type": "erc1155", "contract": erc1155, "token_id": "7" },
                { "type": "erc1155", "contract": erc1155, "token_id": "7", "min_balance": "1" }
            ]}
        ]},
        { "type": "erc721", "contract": pass, "token_ids": [held.to_string()] }
    ]});
    let id = app.live_event(gate).await;
    let session = app.login(&viewer).await;
    let outsider = app.login(&stranger()).await;

    app.quiet_rpc().await;
    let r = app.join(&id, &session).await;
    assert_eq!(r.status(), 200);
    let join: Value = r.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], held.to_string(), "{join}");
    assert_eq!(app.chain_requests(), [["eth_call"]], "admitted");

    app.quiet_rpc().await;
    let r = app.join(&id, &outsider).await;
    let p = assert_problem(r, 403, "not_holder").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("holds none of tokens"),
        "{p}"
    );
    assert_eq!(app.chain_requests(), [["eth_call"]], "refused");

    // A pass of a collection that cannot list its tokens needs logs to name the token, but not
    // when another condition already admits.
    let either = json!({ "any": [
        { "type": "erc1155", "contract": erc1155, "token_id": "7" },
        { "type": "erc721", "contract": pass }
    ]});
    let id = app.live_event(either).await;
    app.quiet_rpc().await;
    let join: Value = app.join(&id, &session).await.json().await.unwrap();
    assert_eq!(join["ticket"]["type"], "erc1155", "{join}");
    assert_eq!(app.chain_requests(), [["eth_call"]], "no log lookup");
}

/// A collection that cannot list a holder's tokens (OpenZeppelin's default) costs one round
/// trip too: the follower indexes its transfers, from its history on the event's creation and
/// from each followed block after, and the join reads the owner of the holder's indexed tokens
/// in its one call.
#[tokio::test(flavor = "multi_thread")]
async fn a_collection_that_cannot_list_tokens_is_indexed_from_its_transfers() {
    let app = spawn_app().await;
    let early = app.mint_pass(wallet(1).address()).await;
    let id = app.live_event(app.pass_gate()).await;
    let (one, two, three) = (
        app.login(&wallet(1)).await,
        app.login(&wallet(2)).await,
        app.login(&wallet(3)).await,
    );
    app.quiet_rpc().await;
    let join: Value = app.join(&id, &one).await.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], early.to_string(), "{join}");
    assert_eq!(
        app.chain_requests(),
        [["eth_call"]],
        "minted before the event"
    );

    let late = app.mint_pass(wallet(2).address()).await;
    app.quiet_rpc().await;
    let join: Value = app.join(&id, &two).await.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], late.to_string(), "{join}");
    assert_eq!(app.chain_requests(), [["eth_call"]], "minted after");

    app.send_pass(1, wallet(3).address(), early).await;
    app.quiet_rpc().await;
    let join: Value = app.join(&id, &three).await.json().await.unwrap();
    assert_eq!(join["ticket"]["token_id"], early.to_string(), "{join}");
    let r = app.join(&id, &one).await;
    assert_problem(r, 403, "not_holder").await;
    assert_eq!(
        app.chain_requests(),
        [["eth_call"], ["eth_call"]],
        "passed on: one call for the new holder, one for the old"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admission_is_read_once_per_block() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let held = app.mint_pass(viewer.address()).await;
    let id = app.live_event(app.pass_gate_of(&[held])).await;
    let session = app.login(&viewer).await;

    app.quiet_rpc().await;
    app.stream_token(&id, &session).await;
    assert_eq!(app.chain_requests(), [["eth_call"]], "cold");
    app.rpc.clear();
    app.stream_token(&id, &session).await;
    assert!(app.chain_requests().is_empty(), "warm, in the same block");

    let block = app.mine().await;
    app.followed(block).await;
    app.rpc.clear();
    app.stream_token(&id, &session).await;
    assert_eq!(
        app.chain_requests(),
        [["eth_call"]],
        "read again in a new block"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_rpc_is_retried_a_few_times_then_nobody_is_let_in() {
    let app = spawn_app().await;
    let (first, second) = (wallet(1), wallet(2));
    let one = app.mint_pass(first.address()).await;
    let two = app.mint_pass(second.address()).await;
    let id = app.live_event(app.pass_gate_of(&[one, two])).await;
    let (s1, s2) = (app.login(&first).await, app.login(&second).await);

    app.quiet_rpc().await;
    app.rpc.fail_next("eth_call", 2);
    app.stream_token(&id, &s1).await;
    assert_eq!(
        app.chain_requests(),
        vec![vec!["eth_call"]; 3],
        "two retries"
    );

    app.quiet_rpc().await;
    app.rpc.fail_next("eth_call", 3);
    assert_problem(app.join(&id, &s2).await, 503, "chain_unavailable").await;
    assert_eq!(app.chain_requests(), vec![vec!["eth_call"]; 3], "bounded");
    // Once the chain answers again, so does the gate.
    app.stream_token(&id, &s2).await;
}
