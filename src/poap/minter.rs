//! The minter: a worker that turns pending claims into `mintBatch` transactions. A claim is
//! committed before anything is sent, and a sent transaction is recorded before it is awaited,
//! so after a crash every in-flight transaction is looked up on chain rather than sent again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use tokio::sync::Notify;

use crate::chain::bindings::AttendancePOAP;
use crate::store::claims::ClaimRow;
use crate::store::{self, Db};
use crate::time_util::now_ms;

/// Most attendees per transaction.
const BATCH: usize = 100;
/// How often the worker looks for work when nobody wakes it.
const IDLE: Duration = Duration::from_secs(2);
/// How long a sent transaction is awaited before the worker moves on (it is reconciled later).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Wakes the minter when claims arrive.
#[derive(Clone, Debug, Default)]
pub struct MinterHandle {
    wake: Arc<Notify>,
}

impl MinterHandle {
    /// Asks the minter to look for pending claims now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The minting worker.
pub struct Minter {
    db: Db,
    provider: DynProvider,
    poap: Address,
    handle: MinterHandle,
}

impl Minter {
    /// A minter sending from `provider`'s wallet to the POAP contract `poap`.
    pub fn new(db: Db, provider: DynProvider, poap: Address) -> Self {
        Self {
            db,
            provider,
            poap,
            handle: MinterHandle::default(),
        }
    }

    /// Starts the worker; the handle wakes it.
    pub fn spawn(self) -> MinterHandle {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "minter round failed; retrying");
                }
                let _ = tokio::time::timeout(IDLE, self.handle.wake.notified()).await;
            }
        });
        handle
    }

    /// One pass: settle in-flight transactions, then send new batches.
    async fn round(&self) -> Result<(), String> {
        let pending = store::claims::pending(&self.db, 10 * BATCH as i64)
            .await
            .map_err(|e| e.to_string())?;
        let mut in_flight: BTreeMap<String, Vec<ClaimRow>> = BTreeMap::new();
        let mut fresh: BTreeMap<String, Vec<ClaimRow>> = BTreeMap::new();
        for c in pending {
            match c.tx_hash.clone() {
                Some(tx) => in_flight.entry(tx).or_default().push(c),
                None => fresh.entry(c.event_id.clone()).or_default().push(c),
            }
        }
        for (tx, claims) in in_flight {
            self.settle(&tx, &claims).await?;
        }
        for (event_id, claims) in fresh {
            for batch in claims.chunks(BATCH) {
                self.send(&event_id, batch).await?;
            }
        }
        Ok(())
    }

    async fn send(&self, event_id: &str, claims: &[ClaimRow]) -> Result<(), String> {
        let event = chain_event_id(event_id);
        let to: Vec<Address> = claims
            .iter()
            .filter_map(|c| c.address.parse().ok())
            .collect();
        let poap = AttendancePOAP::new(self.poap, &self.provider);
        let pending = match poap.mintBatch(event, to).send().await {
            Ok(p) => p,
            Err(e) => {
                // Refused before sending (e.g. the estimate reverts because some holder already
                // has the token): settle each claim from the chain's logs and retry the rest.
                tracing::warn!(error = %e, event_id, "mintBatch refused; reconciling from logs");
                self.reconcile_from_logs(event, claims).await?;
                return Ok(());
            }
        };
        let tx = format!("{:#x}", pending.tx_hash());
        let ids: Vec<i64> = claims.iter().map(|c| c.claim_id).collect();
        store::claims::mark_sent(&self.db, &ids, &tx, now_ms())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(tx, event_id, attendees = ids.len(), "mint batch sent");
        match tokio::time::timeout(RECEIPT_TIMEOUT, pending.get_receipt()).await {
            Ok(Ok(receipt)) => self.apply(&receipt, claims).await,
            _ => Ok(()), // settled by a later round
        }
    }

    /// Settles claims whose transaction `tx` was sent (maybe by a process that died).
    async fn settle(&self, tx: &str, claims: &[ClaimRow]) -> Result<(), String> {
        let hash: B256 = tx.parse().map_err(|_| format!("bad tx hash {tx}"))?;
        match self.provider.get_transaction_receipt(hash).await {
            Ok(Some(receipt)) => self.apply(&receipt, claims).await,
            Ok(None) => match self.provider.get_transaction_by_hash(hash).await {
                Ok(Some(_)) => Ok(()), // still in the mempool: wait
                Ok(None) => {
                    // The node never saw it: the process died before it went out.
                    let ids: Vec<i64> = claims.iter().map(|c| c.claim_id).collect();
                    store::claims::clear_sent(&self.db, &ids, now_ms())
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    async fn apply(&self, receipt: &TransactionReceipt, claims: &[ClaimRow]) -> Result<(), String> {
        if !receipt.status() {
            let event = chain_event_id(&claims[0].event_id);
            return self.reconcile_from_logs(event, claims).await;
        }
        let tx = format!("{:#x}", receipt.transaction_hash);
        for log in receipt.inner.logs() {
            let Ok(m) = log.log_decode::<AttendancePOAP::AttendanceMinted>() else {
                continue;
            };
            let m = m.inner.data;
            if let Some(c) = claims
                .iter()
                .find(|c| c.address.parse::<Address>() == Ok(m.to))
            {
                store::claims::mark_minted(
                    &self.db,
                    c.claim_id,
                    &m.tokenId.to_string(),
                    &tx,
                    now_ms(),
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Marks minted every claim whose token is already on chain; the rest go out again.
    async fn reconcile_from_logs(&self, event: U256, claims: &[ClaimRow]) -> Result<(), String> {
        for c in claims {
            let Ok(to) = c.address.parse::<Address>() else {
                continue;
            };
            let filter = Filter::new()
                .address(self.poap)
                .event_signature(AttendancePOAP::AttendanceMinted::SIGNATURE_HASH)
                .topic1(B256::from(event))
                .topic2(to.into_word())
                .from_block(0);
            let logs = self
                .provider
                .get_logs(&filter)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(log) = logs.first() {
                let token = log
                    .topics()
                    .get(3)
                    .map(|t| U256::from_be_bytes(t.0))
                    .unwrap_or_default();
                let tx = log
                    .transaction_hash
                    .map(|h| format!("{h:#x}"))
                    .unwrap_or_default();
                store::claims::mark_minted(&self.db, c.claim_id, &token.to_string(), &tx, now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                store::claims::clear_sent(&self.db, &[c.claim_id], now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

/// The uint256 event id on chain of a stored event id (its 128 hex bits).
pub fn chain_event_id(event_id: &str) -> U256 {
    U256::from_str_radix(event_id, 16).unwrap_or_default()
}
