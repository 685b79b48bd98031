//! delegate.xyz v2: a hot wallet watches with the ticket its cold vault holds and delegated.

use alloy::primitives::B256;
use marquee::chain::bindings::DelegateRegistry;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_wallet_is_admitted_by_what_its_vault_delegated() {
    let app = spawn_app().await;
    let (vault, hot) = (wallet(3), stranger());
    let ticket = app.mint_pass(vault.address()).await;
    let other = app.mint_pass(vault.address()).await;
    let signer = app.signer(3);
    let registry = DelegateRegistry::new(app.contracts.delegate_registry, &signer);
    let pass = app.contracts.pass.unwrap();
    let any_pass = app.live_event(app.pass_gate()).await;
    let only_other = app.live_event(app.pass_gate_of(&[other])).await;
    let session = app.login(&hot).await;

    let p = assert_problem(app.join(&any_pass, &session).await, 403, "not_holder").await;
    assert!(p["detail"].as_str().unwrap().contains("holds 0 of"), "{p}");

    // A delegation for some other right does not open screenings.
    let other_right = B256::with_last_byte(1);
    mined(
        registry
            .delegateAll(hot.address(), other_right, true)
            .send()
            .await,
    )
    .await;
    assert_problem(app.join(&any_pass, &session).await, 403, "not_holder").await;

    // The vault lends one token: it admits, named with the vault, to gates that accept it.
    mined(
        registry
            .delegateERC721(hot.address(), pass, ticket, B256::ZERO, true)
            .send()
            .await,
    )
    .await;
    // One round trip: the vault's reads ride in the call that found the delegation.
    app.quiet_rpc().await;
    let r = app.join(&any_pass, &session).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.chain_requests(), [["eth_call"]], "a delegated join");
    let join: Value = r.json().await.unwrap();
    let lent = join["stream_token"].as_str().unwrap().to_string();
    assert_eq!(join["ticket"]["token_id"], ticket.to_string(), "{join}");
    assert_eq!(
        join["ticket"]["vault"],
        vault.address().to_string(),
        "{join}"
    );
    assert_problem(app.join(&only_other, &session).await, 403, "not_holder").await;

    // The whole collection: now the other token admits too.
    mined(
        registry
            .delegateContract(hot.address(), pass, B256::ZERO, true)
            .send()
            .await,
    )
    .await;
    app.quiet_rpc().await;
    let join: Value = app.join(&only_other, &session).await.json().await.unwrap();
    assert_eq!(app.chain_requests(), [["eth_call"]], "a delegated join");
    assert_eq!(join["ticket"]["token_id"], other.to_string(), "{join}");
    assert_eq!(
        join["ticket"]["vault"],
        vault.address().to_string(),
        "{join}"
    );
    let token = join["stream_token"].as_str().unwrap().to_string();
    assert_eq!(app.playlist(&only_other, &token).await, 200);

    // The vault sends that token away: the hot wallet's stream is cut.
    let sent = app.send_pass(3, wallet(2).address(), other).await;
    app.followed(sent).await;
    assert_eq!(app.playlist(&only_other, &token).await, 403);
    assert_eq!(app.playlist(&any_pass, &lent).await, 200);

    // The vault withdraws the collection: the token it still lends keeps the seat...
    // (a fresh provider: send_pass moved the vault's nonce behind the first one's back)
    let signer = app.signer(3);
    let registry = DelegateRegistry::new(app.contracts.delegate_registry, &signer);
    let withdrawn = mined(
        registry
            .delegateContract(hot.address(), pass, B256::ZERO, false)
            .send()
            .await,
    )
    .await;
    app.followed(withdrawn.block_number.unwrap()).await;
    assert_eq!(app.playlist(&any_pass, &lent).await, 200);
    // ...until it withdraws that too: the stream is cut, though no token moved.
    let withdrawn = mined(
        registry
            .delegateERC721(hot.address(), pass, ticket, B256::ZERO, false)
            .send()
            .await,
    )
    .await;
    app.followed(withdrawn.block_number.unwrap()).await;
    assert_eq!(app.playlist(&any_pass, &lent).await, 403);
}
