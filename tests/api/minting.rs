//! The minter against a real Anvil whose mining the tests hold back: a killed process, a
//! dropped transaction and a stuck one all end with every claim minted exactly once.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use marquee::chain::anvil::DEV_KEYS;
use marquee::chain::bindings::AttendancePOAP;
use serde_json::{Value, json};

use crate::helpers::*;

impl TestApp {
    async fn automine(&self, on: bool) {
        let _: Value = self
            .admin
            .raw_request("evm_setAutomine".into(), (on,))
            .await
            .unwrap();
    }

    /// The transactions waiting in Anvil's pool.
    async fn pool(&self) -> Vec<Value> {
        let content: Value = self
            .admin
            .raw_request("txpool_content".into(), ())
            .await
            .unwrap();
        let mut txs = Vec::new();
        if let Some(by_sender) = content["pending"].as_object() {
            for by_nonce in by_sender.values() {
                txs.extend(by_nonce.as_object().unwrap().values().cloned());
            }
        }
        txs
    }

    /// Waits until the pool holds a transaction for which `pick` is true, and returns it.
    async fn pooled(&self, pick: impl Fn(&Value) -> bool) -> Value {
        eventually(Duration::from_secs(30), || async {
            self.pool().await.into_iter().find(|t| pick(t))
        })
        .await
    }

    async fn minter_nonce(&self) -> u64 {
        self.admin
            .get_transaction_count(wallet(0).address())
            .await
            .unwrap()
    }

    /// `n` fresh wallets (claims need no ticket, only watch time: none here) and their sessions.
    async fn claimants(&self, n: usize) -> (Vec<PrivateKeySigner>, Vec<String>) {
        let wallets: Vec<_> = (0..n).map(|_| stranger()).collect();
        let mut sessions = Vec::new();
        for w in &wallets {
            sessions.push(self.login(w).await);
        }
        (wallets, sessions)
    }

    /// With automining off: `sessions` claim at `id`, the event is created on chain, and
    /// their batch is in the pool, unmined.
    async fn first_batch_pooled(&self, id: &str, sessions: &[String]) {
        self.claim_all(id, sessions).await;
        self.pooled(calls(AttendancePOAP::createEventCall::SELECTOR))
            .await;
        self.mine().await;
        self.pooled(calls(AttendancePOAP::mintBatchCall::SELECTOR))
            .await;
    }

    /// With automining off and the event on chain: `sessions` (of `wallets`) claim at `id`,
    /// and batches minting every one of them are in the pool, unmined. Claims that arrive
    /// while a batch is being sent go into the next one, so there may be more than one.
    async fn batch_pooled(&self, id: &str, sessions: &[String], wallets: &[PrivateKeySigner]) {
        self.claim_all(id, sessions).await;
        let is_batch = calls(AttendancePOAP::mintBatchCall::SELECTOR);
        eventually(Duration::from_secs(30), || async {
            let inputs: Vec<String> = self
                .pool()
                .await
                .into_iter()
                .filter(|t| is_batch(t))
                .map(|t| t["input"].as_str().unwrap_or("").to_lowercase())
                .collect();
            wallets
                .iter()
                .all(|w| {
                    let word = alloy::hex::encode(w.address());
                    inputs.iter().any(|i| i.contains(&word))
                })
                .then_some(())
        })
        .await;
    }

    /// `sessions` claim at `id`, each accepted for minting.
    async fn claim_all(&self, id: &str, sessions: &[String]) {
        for s in sessions {
            assert_eq!(self.claim(id, s).await.status(), 202);
        }
    }

    /// Asserts that every claim of `sessions` at `id` is minted, one token to each of
    /// `wallets`, and that the minter sent nothing beyond createEvent and the batches that
    /// minted them, since its nonce was `nonce_before`; returns each claim's transaction.
    async fn minted_once(
        &self,
        id: &str,
        wallets: &[PrivateKeySigner],
        sessions: &[String],
        nonce_before: u64,
    ) -> Vec<String> {
        let mut txs = Vec::new();
        for (i, s) in sessions.iter().enumerate() {
            let c = self.minted_claim(id, s).await;
            txs.push(c["tx_hash"].as_str().unwrap().to_string());
            assert_eq!(self.mints_to(wallets[i].address()).await, 1, "wallet {i}");
        }
        let mut distinct = txs.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            self.minter_nonce().await - nonce_before,
            1 + distinct.len() as u64
        );
        txs
    }

    /// How many tokens the POAP contract ever minted to `holder`.
    async fn mints_to(&self, holder: Address) -> usize {
        let filter = Filter::new()
            .address(self.contracts.poap)
            .event_signature(AttendancePOAP::Transfer::SIGNATURE_HASH)
            .topic1(B256::ZERO)
            .topic2(holder.into_word())
            .from_block(0);
        self.admin.get_logs(&filter).await.unwrap().len()
    }
}

fn calls(selector: [u8; 4]) -> impl Fn(&Value) -> bool {
    let prefix = format!("0x{}", alloy::hex::encode(selector));
    move |t: &Value| t["input"].as_str().unwrap_or("").starts_with(&prefix)
}

#[tokio::test]
async fn a_minter_killed_mid_batch_mints_every_claim_exactly_once_after_restarts() {
    let mut app = spawn_app_with(|s| s.minter_key = None).await;
    let db = app.database_url.clone();
    let poap = app.contracts.poap.to_string();
    let env = [
        ("MARQUEE_MINTER_KEY", DEV_KEYS[0]),
        ("MARQUEE_POAP_CONTRACT", poap.as_str()),
    ];
    // Restarts keep the port: tokens name the node's public URL.
    let port = free_port();
    let mut node = app.start_node_with(&db, port, &env).await;
    let id = app.ended_event(json!({ "mode": "mint" })).await;
    let (viewers, sessions) = app.claimants(4).await;
    let nonce_before = app.minter_nonce().await;
    app.automine(false).await;

    // Two claims; the event is created on chain first, then their batch goes to the pool.
    app.first_batch_pooled(&id, &sessions[..2]).await;

    // Killed with the batch in flight; the batch is mined while no node runs.
    node.kill().await.unwrap();
    app.mine().await;
    assert!(app.pool().await.is_empty(), "the batch was mined");
    let mut node = app.start_node_with(&db, port, &env).await;
    for s in &sessions[..2] {
        app.minted_claim(&id, s).await;
    }

    // Two more claims; killed with their batch in the pool, which then loses it.
    app.batch_pooled(&id, &sessions[2..], &viewers[2..]).await;
    node.kill().await.unwrap();
    let _: Value = app
        .admin
        .raw_request("anvil_dropAllTransactions".into(), ())
        .await
        .unwrap();
    assert!(app.pool().await.is_empty());
    let _node = app.start_node_with(&db, port, &env).await;
    app.pooled(calls(AttendancePOAP::mintBatchCall::SELECTOR))
        .await;
    app.mine().await;

    // Every transaction the minter sent is createEvent or a batch that minted: the batch mined
    // while the node was down was not sent again, the lost one went out once more on its nonce.
    app.minted_once(&id, &viewers, &sessions, nonce_before)
        .await;
}

/// Two nodes with the minter's key share one database: one mints, the other stands by; the
/// minting one is killed with a batch in flight, and the other takes over, settles that batch
/// from its receipt and mints the rest, each claim once.
#[tokio::test(flavor = "multi_thread")]
async fn when_the_minting_node_dies_another_takes_over_and_mints_nothing_twice() {
    let mut app = spawn_app_with(|s| s.minter_key = None).await;
    let poap = app.contracts.poap.to_string();
    let env = [
        ("MARQUEE_MINTER_KEY", DEV_KEYS[0]),
        ("MARQUEE_POAP_CONTRACT", poap.as_str()),
    ];
    let (first, first_url) = app.start_peer(free_port(), &env).await;
    let (second, second_url) = app.start_peer(free_port(), &env).await;
    let roles = eventually(Duration::from_secs(20), || async {
        let roles = [
            app.minter_role(&first_url).await,
            app.minter_role(&second_url).await,
        ];
        roles.contains(&"leader".to_string()).then_some(roles)
    })
    .await;
    let (leader, standby) = match roles.each_ref().map(String::as_str) {
        ["leader", "standby"] => ((first, first_url), (second, second_url)),
        ["standby", "leader"] => ((second, second_url), (first, first_url)),
        other => panic!("one node leads, one stands by: {other:?}"),
    };
    let (mut leader, _standby) = (leader.0, standby.0);

    // Everything goes to the standby node: claims made there are minted by the leader, which
    // alone sends.
    let in_process = std::mem::replace(&mut app.url, standby.1.clone());
    let id = app.ended_event(json!({ "mode": "mint" })).await;
    let (viewers, sessions) = app.claimants(4).await;
    let nonce_before = app.minter_nonce().await;
    app.automine(false).await;
    app.first_batch_pooled(&id, &sessions[..2]).await;
    assert_eq!(app.pool().await.len(), 1, "one node sent one batch");

    // The leader dies with its batch in the pool; the batch is mined; the other node takes
    // the lease over once it lapses and finds the batch mined rather than sending it again.
    leader.kill().await.unwrap();
    app.mine().await;
    eventually(Duration::from_secs(30), || async {
        (app.minter_role(&standby.1).await == "leader").then_some(())
    })
    .await;
    for s in &sessions[..2] {
        app.minted_claim(&id, s).await;
    }
    app.batch_pooled(&id, &sessions[2..], &viewers[2..]).await;
    app.mine().await;

    app.url = in_process;
    let txs = app
        .minted_once(&id, &viewers, &sessions, nonce_before)
        .await;
    // The first two were minted by the batch the dead leader sent.
    assert_eq!(txs[0], txs[1]);
}

#[tokio::test]
async fn a_stuck_mint_transaction_is_sent_again_with_higher_fees() {
    let app = spawn_app_with(|s| s.mint_bump_secs = Some(1)).await;
    let id = app.ended_event(json!({ "mode": "mint" })).await;
    let session = app.login(&wallet(1)).await;
    app.automine(false).await;
    assert_eq!(app.claim(&id, &session).await.status(), 202);
    app.pooled(calls(AttendancePOAP::createEventCall::SELECTOR))
        .await;
    app.mine().await;

    let first = app
        .pooled(calls(AttendancePOAP::mintBatchCall::SELECTOR))
        .await;
    let fee = |t: &Value| {
        u128::from_str_radix(
            t["maxFeePerGas"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap()
    };
    // Nobody mines it, so after a second it is replaced: same nonce, fees up by a quarter.
    let bumped = app
        .pooled(|t| calls(AttendancePOAP::mintBatchCall::SELECTOR)(t) && t["hash"] != first["hash"])
        .await;
    assert_eq!(bumped["nonce"], first["nonce"]);
    assert!(fee(&bumped) >= fee(&first) * 5 / 4, "{bumped} over {first}");
    assert_eq!(
        app.pool().await.len(),
        1,
        "the replacement took the place of the first"
    );

    app.mine().await;
    let claim = app.minted_claim(&id, &session).await;
    let mined: Value = app
        .admin
        .raw_request(
            "eth_getTransactionByHash".into(),
            (claim["tx_hash"].clone(),),
        )
        .await
        .unwrap();
    assert_eq!(mined["nonce"], first["nonce"]);
    assert!(fee(&mined) > fee(&first), "a bumped attempt was mined");
    assert_eq!(app.mints_to(wallet(1).address()).await, 1);
}

/// The gas goals, as Anvil charges them (whole transactions): a single mint to a fresh
/// holder at most 75k, a batch of 100 fresh holders at most 55k per attendee.
#[tokio::test]
async fn minting_costs_a_third_of_poaps_gas() {
    let app = spawn_app_with(|s| s.minter_key = None).await;
    let poap = AttendancePOAP::new(app.contracts.poap, &app.admin);
    let event = U256::from(0xE1u64);
    mined(
        poap.createEvent(event, wallet(0).address(), Default::default(), false)
            .send()
            .await,
    )
    .await;
    mined(poap.mint(event, stranger().address()).send().await).await;

    let single = mined(poap.mint(event, stranger().address()).send().await)
        .await
        .gas_used;
    let holders: Vec<Address> = (0..100).map(|_| stranger().address()).collect();
    let batch = mined(poap.mintBatch(event, holders.clone()).send().await)
        .await
        .gas_used;
    // A capped event's mint also counts, in the slot it reads anyway.
    let capped = U256::from(0xCA9u64);
    let cap = alloy::primitives::aliases::U40::from(1_000u64);
    mined(
        poap.createEvent(capped, wallet(0).address(), cap, false)
            .send()
            .await,
    )
    .await;
    let single_capped = mined(poap.mint(capped, stranger().address()).send().await)
        .await
        .gas_used;
    println!(
        "gas: single mint {single} ({single_capped} capped), batch of 100 {} per attendee",
        batch / 100
    );
    assert!(single <= 75_000, "single mint {single}");
    assert!(
        single_capped <= 75_000,
        "single mint, capped {single_capped}"
    );
    assert!(batch / 100 <= 55_000, "batch {batch}");
    for h in holders {
        assert!(poap.hasAttended(event, h).call().await.unwrap());
    }
}

#[tokio::test]
async fn an_attendee_redeems_a_voucher_that_works_nowhere_else() {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::{Bytes, Signature};
    use alloy::rpc::types::TransactionRequest;

    let app = spawn_app().await;
    let id = app.ended_event(json!({ "mode": "voucher" })).await;
    let other = app.ended_event(json!({ "mode": "voucher" })).await;
    let viewer = wallet(1);
    let session = app.login(&viewer).await;
    let r = app.claim(&id, &session).await;
    assert_eq!(r.status(), 200);
    let claim: Value = r.json().await.unwrap();
    assert_eq!(claim["status"], "voucher", "{claim}");
    let voucher = &claim["voucher"];
    let message = &voucher["typed_data"]["message"];
    assert_eq!(voucher["typed_data"]["primaryType"], "Attendance");
    assert_eq!(voucher["typed_data"]["domain"]["chainId"], 31337);

    // The typed data is what the contract hashes, and the minter signed it.
    let poap = AttendancePOAP::new(app.contracts.poap, &app.admin);
    let event = marquee::poap::ids::chain_event_id(&id).unwrap();
    let field = |k: &str| message[k].as_str().unwrap().parse::<U256>().unwrap();
    assert_eq!(field("eventId"), event);
    let digest = poap
        .voucherDigest(event, viewer.address(), field("deadline"), field("nonce"))
        .call()
        .await
        .unwrap();
    let signature: Signature = voucher["signature"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        signature.recover_address_from_prehash(&digest).unwrap(),
        wallet(0).address()
    );

    let tx = || {
        TransactionRequest::default()
            .with_to(
                voucher["tx"]["to"]
                    .as_str()
                    .unwrap()
                    .parse::<Address>()
                    .unwrap(),
            )
            .with_input(
                voucher["tx"]["data"]
                    .as_str()
                    .unwrap()
                    .parse::<Bytes>()
                    .unwrap(),
            )
    };
    let attendee = app.signer(1);
    // Bent to another event (the other one exists on chain once its own voucher is out).
    let r = app.login(&wallet(2)).await;
    assert_eq!(app.claim(&other, &r).await.status(), 200);
    let other_event = marquee::poap::ids::chain_event_id(&other).unwrap();
    let bent = poap.redeem(
        other_event,
        viewer.address(),
        field("deadline"),
        field("nonce"),
        voucher["signature"]
            .as_str()
            .unwrap()
            .parse::<Bytes>()
            .unwrap(),
    );
    assert!(bent.call().await.is_err(), "another event refuses it");

    // On another chain, at the same contract address with the same event: refused.
    let twin = marquee::chain::anvil::Anvil::spawn(
        &root().join("anvil"),
        free_port(),
        &["--silent", "--chain-id", "10"],
    )
    .await
    .unwrap();
    let (twin_admin, twin_addr) =
        marquee::chain::deploy::signing_provider(&twin.url, DEV_KEYS[0]).unwrap();
    let deployed = marquee::chain::deploy::deploy(&twin_admin, twin_addr, "x", false)
        .await
        .unwrap();
    assert_eq!(
        deployed.poap, app.contracts.poap,
        "same address on both chains"
    );
    let twin_poap = AttendancePOAP::new(deployed.poap, &twin_admin);
    mined(
        twin_poap
            .createEvent(event, twin_addr, Default::default(), false)
            .send()
            .await,
    )
    .await;
    let twin_attendee = marquee::chain::deploy::signing_provider(&twin.url, DEV_KEYS[1])
        .unwrap()
        .0;
    assert!(
        twin_attendee.estimate_gas(tx()).await.is_err(),
        "another chain refuses it"
    );

    // The attendee sends it as it is, and the service notices the mint.
    let sent = attendee.send_transaction(tx()).await.unwrap();
    let receipt = sent.get_receipt().await.unwrap();
    assert!(receipt.status());
    let minted = app.minted_claim(&id, &session).await;
    assert_eq!(
        minted["token_id"]
            .as_str()
            .unwrap()
            .parse::<U256>()
            .unwrap(),
        marquee::poap::ids::token_id(event, viewer.address())
    );
    assert_eq!(
        minted["tx_hash"],
        format!("{:#x}", receipt.transaction_hash)
    );
    assert!(minted.get("voucher").is_none());
    // Once only.
    assert!(attendee.estimate_gas(tx()).await.is_err(), "replay refused");

    // After the deadline the other attendee's voucher is dead.
    let late: Value = app
        .get(&format!("/api/v1/events/{other}/claim"), Some(&r))
        .await
        .json()
        .await
        .unwrap();
    let deadline: u64 = late["voucher"]["typed_data"]["message"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let _: Value = app
        .admin
        .raw_request("evm_setNextBlockTimestamp".into(), (deadline + 1,))
        .await
        .unwrap();
    app.mine().await;
    let late_tx = TransactionRequest::default()
        .with_to(app.contracts.poap)
        .with_input(
            late["voucher"]["tx"]["data"]
                .as_str()
                .unwrap()
                .parse::<Bytes>()
                .unwrap(),
        );
    assert!(
        app.signer(2).estimate_gas(late_tx).await.is_err(),
        "expired"
    );
}
