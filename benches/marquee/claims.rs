//! claims: 1,000 eligible wallets claim at once from a `marquee serve` in mint mode on a fresh
//! Anvil: time until every claim is recorded, time until every token is on chain, the
//! transactions and gas that took, and a single mint's gas beside POAP's production contract.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use marquee::chain::anvil::DEV_KEYS;
use marquee::chain::bindings::AttendancePOAP;
use serde_json::{Value, json};

use super::{Chain, session, start_server_with};

/// Wallets that claim.
const WALLETS: usize = 1_000;
/// POAP's production contract on Anvil, as the issue measured it: a mint to a fresh holder,
/// and the per-attendee cost of `mintEventToManyUsers` with 100 fresh holders.
const POAP_SINGLE_GAS: u64 = 206_721;
const POAP_BATCH_GAS: u64 = 163_000;

pub(super) async fn claims() {
    println!("== claims");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chain = Chain::start().await;
    let mut env = chain.server_env(&root.join("media"));
    env.push(("MARQUEE_MINTER_KEY", DEV_KEYS[0].to_string()));
    env.push(("MARQUEE_POAP_CONTRACT", chain.d.poap.to_string()));
    env.push(("RUST_LOG", "error".to_string()));
    let server = start_server_with(&env).await;
    let (http, organizer) = server.organizer().await;
    let domain = server.domain();
    let now = time::OffsetDateTime::now_utc();
    let body = json!({
        "title": "Bench premiere", "stream": { "source": "demo" },
        "starts_at": marquee::time_util::rfc3339(now - time::Duration::hours(2)),
        "ends_at": marquee::time_util::rfc3339(now - time::Duration::hours(1)),
        "gate": { "any": [{ "type": "erc721", "contract": chain.d.pass.unwrap().to_string() }] },
        "poap": { "mode": "mint", "min_watch_seconds": 0 },
    });
    let id = server.create_event(&http, &organizer, &body).await;

    // Sign-in is not what is measured: every wallet has its session before the clock starts.
    let wallets: Vec<PrivateKeySigner> = (0..WALLETS).map(|_| PrivateKeySigner::random()).collect();
    let mut sessions = Vec::new();
    for chunk in wallets.chunks(64) {
        let batch = chunk
            .iter()
            .map(|w| session(&http, &server.url, &domain, w));
        for s in futures_util::future::join_all(batch).await {
            sessions.push(s.expect("sign-in"));
        }
    }
    let minter: Address = DEV_KEYS[0].parse::<PrivateKeySigner>().unwrap().address();
    let nonce_before = chain.admin.get_transaction_count(minter).await.unwrap();
    let start_block = chain.admin.get_block_number().await.unwrap();

    let started = Instant::now();
    let claims = sessions.iter().map(|s| {
        let http = http.clone();
        let url = format!("{}/api/v1/events/{id}/claim", server.url);
        async move {
            http.post(url)
                .bearer_auth(s)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    let answers = futures_util::future::join_all(claims).await;
    let recorded = started.elapsed();
    let accepted = answers.iter().filter(|a| matches!(a, Ok(202))).count();
    assert_eq!(accepted, WALLETS, "every claim is accepted");

    let stats_url = format!("{}/api/v1/events/{id}/stats", server.url);
    let deadline = Instant::now() + Duration::from_secs(600);
    let minted_after = loop {
        let s: Value = http
            .get(&stats_url)
            .bearer_auth(&organizer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["claims_by_status"]["minted"].as_u64() == Some(WALLETS as u64) {
            break started.elapsed();
        }
        assert!(Instant::now() < deadline, "not all minted: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let transactions = chain.admin.get_transaction_count(minter).await.unwrap() - nonce_before;

    // Gas of the batches, from the transactions that carry the mints.
    let filter = Filter::new()
        .address(chain.d.poap)
        .event_signature(AttendancePOAP::Transfer::SIGNATURE_HASH)
        .topic1(B256::ZERO)
        .from_block(start_block);
    let logs = chain.admin.get_logs(&filter).await.unwrap();
    assert_eq!(logs.len(), WALLETS, "exactly one token per wallet");
    let txs: HashSet<B256> = logs.iter().filter_map(|l| l.transaction_hash).collect();
    let mut batch_gas = 0u64;
    for tx in &txs {
        let r = chain
            .admin
            .get_transaction_receipt(*tx)
            .await
            .unwrap()
            .unwrap();
        batch_gas += r.gas_used;
    }
    let per_attendee = batch_gas / WALLETS as u64;

    // One mint to a fresh holder, on an event of its own, from a provider that reads the key's
    // nonce afresh (the server has been sending from the same key).
    drop(server);
    let (admin, _) =
        marquee::chain::deploy::signing_provider(&chain.anvil.url, DEV_KEYS[0]).unwrap();
    let poap = AttendancePOAP::new(chain.d.poap, &admin);
    let mut single = Vec::new();
    for (event, cap) in [(0xBE7u64, 0u64), (0xCA9, 1_000)] {
        let event = U256::from(event);
        let cap = alloy::primitives::aliases::U40::from(cap);
        let created = poap
            .createEvent(event, minter, cap, false)
            .send()
            .await
            .unwrap();
        created.get_receipt().await.unwrap();
        let r = poap
            .mint(event, PrivateKeySigner::random().address())
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        single.push(r.gas_used);
    }
    let (single, capped) = (single[0], single[1]);

    println!(
        "{WALLETS} wallets claim at once: all recorded in {:.0} ms ({:.0} claims/s); all minted on Anvil in {:.2} s",
        recorded.as_secs_f64() * 1e3,
        WALLETS as f64 / recorded.as_secs_f64(),
        minted_after.as_secs_f64()
    );
    println!(
        "transactions: {transactions} (one creates the event, {} mint batches)",
        txs.len()
    );
    println!(
        "gas per attendee in batches: {per_attendee}   POAP mintEventToManyUsers: {POAP_BATCH_GAS}   ratio {:.2} (goal ≤ 55,000)",
        per_attendee as f64 / POAP_BATCH_GAS as f64
    );
    println!(
        "single mint to a fresh holder: {single}   POAP: {POAP_SINGLE_GAS}   ratio {:.2} (goal ≤ 75,000); on a capped event {capped}",
        single as f64 / POAP_SINGLE_GAS as f64
    );
}
