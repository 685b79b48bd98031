//! The minter: a worker that turns pending claims into `mintBatch` transactions, and creates
//! each event on chain before its first mint.
//!
//! Crash safety rests on three rules. A job (its calldata and the account nonce it will use)
//! is committed, with the claims it carries, before anything is signed. Every signed attempt
//! is committed before it is sent. Every attempt at a job reuses the job's nonce, so a fee
//! bump replaces rather than adds, and at most one attempt can ever be mined. After a restart
//! the open jobs are looked up on chain by their attempts' hashes and by the account's
//! nonce: mined ones are applied, lost ones are sent again with the same nonce, and none is
//! sent blindly. The contract's own guard (one token per event and holder) is the last line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy::consensus::TxEnvelope;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use rand_core::RngCore;
use tokio::sync::Notify;

use super::ids;
use super::voucher::Vouchers;
use crate::chain::bindings::AttendancePOAP;
use crate::store::claims::ClaimRow;
use crate::store::jobs::{Attempt, JobRow, NewJob};
use crate::store::{self, Db};
use crate::time_util::now_ms;

/// Most attendees per transaction.
const BATCH: usize = 100;
/// Most gas one transaction may ask for; a batch that needs more is split.
const MAX_TX_GAS: u64 = 10_000_000;
/// How often the worker looks for work when nobody wakes it and nothing is in flight.
const IDLE: Duration = Duration::from_secs(2);
/// How often in-flight transactions are looked up.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(100);
/// How long the minter's lease lasts unrenewed: a node that dies is replaced within this.
/// Renewed every third of it.
const LEASE: Duration = Duration::from_secs(6);
/// The lease's name.
const LEASE_NAME: &str = "minter";
/// How long an event whose mint failed is left alone before it is tried again.
const BACKOFF: Duration = Duration::from_secs(30);

/// Wakes the minter when claims arrive, says which events exist on chain, and signs vouchers.
#[derive(Clone, Debug)]
pub struct MinterHandle {
    wake: Arc<Notify>,
    ready: Arc<Mutex<HashSet<String>>>,
    readied: Arc<Notify>,
    vouchers: Arc<Vouchers>,
    leads: Arc<AtomicBool>,
}

impl MinterHandle {
    /// Whether this node holds the minter's lease (of the nodes sharing a database, the one
    /// that mints).
    pub fn leads(&self) -> bool {
        self.leads.load(Ordering::Relaxed)
    }

    /// Asks the minter to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The voucher signer (the minter's key).
    pub fn vouchers(&self) -> &Vouchers {
        &self.vouchers
    }

    /// Waits up to `limit` until `event_id` exists on chain with this minter as its issuer.
    pub async fn wait_ready(&self, event_id: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let readied = self.readied.notified();
            if self.is_ready(event_id) {
                return true;
            }
            self.wake();
            if tokio::time::timeout_at(deadline, readied).await.is_err() {
                return self.is_ready(event_id);
            }
        }
    }

    fn is_ready(&self, event_id: &str) -> bool {
        self.ready.lock().is_ok_and(|r| r.contains(event_id))
    }

    fn set_ready(&self, event_id: &str) {
        if let Ok(mut r) = self.ready.lock()
            && r.insert(event_id.to_string())
        {
            self.readied.notify_waiters();
        }
    }
}

/// What the minter signs with and where it sends.
pub struct MinterConfig {
    /// The minter's key.
    pub signer: PrivateKeySigner,
    /// The chain's id (signed into every transaction).
    pub chain_id: u64,
    /// The AttendancePOAP contract.
    pub poap: Address,
    /// How long an attempt may wait unmined before a fee bump.
    pub bump_after: Duration,
}

/// The minting worker.
pub struct Minter {
    db: Db,
    provider: DynProvider,
    config: MinterConfig,
    wallet: EthereumWallet,
    from: Address,
    sender: String,
    handle: MinterHandle,
    /// Events left alone until the instant given.
    resting: HashMap<String, Instant>,
    /// This node's name in the minter's lease.
    holder: String,
    /// When this node last renewed the lease; none while another node holds it.
    renewed: Option<Instant>,
}

type Fallible<T = ()> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Minter {
    /// A minter that reads and sends through `provider`, signing with `config.wallet`.
    pub fn new(db: Db, provider: DynProvider, config: MinterConfig) -> Self {
        let from = config.signer.address();
        let handle = MinterHandle {
            wake: Arc::default(),
            ready: Arc::default(),
            readied: Arc::default(),
            leads: Arc::default(),
            vouchers: Arc::new(Vouchers::new(
                config.signer.clone(),
                config.chain_id,
                config.poap,
            )),
        };
        Self {
            db,
            provider,
            wallet: EthereumWallet::from(config.signer.clone()),
            from,
            sender: from.to_checksum(None),
            config,
            handle,
            resting: HashMap::new(),
            holder: format!("{}-{:08x}", std::process::id(), rand_core::OsRng.next_u32()),
            renewed: None,
        }
    }

    /// Starts the worker; the handle wakes it. Of the nodes sharing a database, the one holding
    /// the minter's lease mints; the others only learn which events exist on chain, and take
    /// the lease over when its holder stops renewing it.
    pub fn spawn(mut self) -> MinterHandle {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            loop {
                let leads = self.holds_lease().await;
                let round = if leads {
                    self.round().await
                } else {
                    self.watch_ready().await.map(|()| false)
                };
                let pause = match round {
                    Ok(true) => IN_FLIGHT_POLL,
                    Ok(false) => IDLE,
                    Err(e) => {
                        tracing::warn!(error = %e, "minter round failed; retrying");
                        IDLE
                    }
                };
                let _ = tokio::time::timeout(pause, self.handle.wake.notified()).await;
            }
        });
        handle
    }

    /// Whether this node holds the minter's lease, taking or renewing it when a third of it
    /// has passed since this node last did.
    async fn holds_lease(&mut self) -> bool {
        if self.renewed.is_some_and(|at| at.elapsed() < LEASE / 3) {
            return true;
        }
        let now = now_ms();
        let until = now + LEASE.as_millis() as i64;
        let held = store::lease::hold(&self.db, LEASE_NAME, &self.holder, now, until)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not renew the minter's lease");
                false
            });
        if held != self.renewed.is_some() {
            tracing::info!(
                holder = self.holder,
                leads = held,
                "minter lease changed hands"
            );
        }
        self.renewed = held.then(Instant::now);
        self.handle.leads.store(held, Ordering::Relaxed);
        held
    }

    /// The event `event` as the POAP contract has it.
    async fn event_info(&self, event: U256) -> Fallible<AttendancePOAP::eventInfoReturn> {
        let poap = AttendancePOAP::new(self.config.poap, &self.provider);
        poap.eventInfo(event).call().await.map_err(err)
    }

    /// One pass: settle the jobs in flight, then start new ones. True while jobs are open.
    async fn round(&mut self) -> Fallible<bool> {
        self.settle_open().await?;
        self.start_new().await?;
        let open = store::jobs::open(&self.db, &self.sender)
            .await
            .map_err(err)?;
        Ok(!open.is_empty())
    }

    // ---- jobs in flight ----

    async fn settle_open(&mut self) -> Fallible {
        let jobs = store::jobs::open(&self.db, &self.sender)
            .await
            .map_err(err)?;
        if jobs.is_empty() {
            return Ok(());
        }
        // Read before the receipts: a nonce used by then with no receipt among our attempts
        // went to some other transaction.
        let used = self
            .provider
            .get_transaction_count(self.from)
            .await
            .map_err(err)?;
        for job in jobs {
            let attempts = store::jobs::attempts(&self.db, job.job_id)
                .await
                .map_err(err)?;
            if let Some(receipt) = self.receipt_of(&attempts).await? {
                self.apply(&job, &receipt).await?;
            } else if (job.nonce as u64) < used {
                self.replaced(&job).await?;
            } else {
                match attempts.last() {
                    None => self.send_attempt(&job, None).await?,
                    Some(last)
                        if now_ms() - last.sent_at >= self.config.bump_after.as_millis() as i64 =>
                    {
                        self.send_attempt(&job, Some(last)).await?
                    }
                    Some(last) => self.keep_in_pool(last).await?,
                }
            }
        }
        Ok(())
    }

    async fn receipt_of(&self, attempts: &[Attempt]) -> Fallible<Option<TransactionReceipt>> {
        for a in attempts {
            let hash: B256 = a.tx_hash.parse().map_err(err)?;
            if let Some(r) = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(err)?
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Sends the last attempt again if the node no longer knows it (dropped from its pool, or
    /// recorded by a process that died before sending it).
    async fn keep_in_pool(&self, last: &Attempt) -> Fallible {
        let hash: B256 = last.tx_hash.parse().map_err(err)?;
        if self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(err)?
            .is_none()
        {
            tracing::info!(
                tx = last.tx_hash,
                "mint transaction unknown to the node; sending it again"
            );
            self.push(&last.raw).await;
        }
        Ok(())
    }

    /// Signs an attempt at `job` (fees bumped over `previous`), records it, then sends it.
    async fn send_attempt(&self, job: &JobRow, previous: Option<&Attempt>) -> Fallible {
        let fees = self.provider.estimate_eip1559_fees().await.map_err(err)?;
        let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas);
        if let Some(prev) = previous {
            // Nodes take a replacement only if it pays at least 10% more; a quarter clears it.
            let bump = |s: &str| s.parse::<u128>().map(|v| v + v / 4 + 1).unwrap_or(0);
            max_fee = max_fee.max(bump(&prev.max_fee));
            tip = tip.max(bump(&prev.priority_fee));
            max_fee = max_fee.max(tip);
        }
        let request = TransactionRequest::default()
            .with_from(self.from)
            .with_to(job.to_address.parse::<Address>().map_err(err)?)
            .with_input(job.input.parse::<Bytes>().map_err(err)?)
            .with_nonce(job.nonce as u64)
            .with_gas_limit(job.gas_limit as u64)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(tip)
            .with_chain_id(self.config.chain_id);
        let envelope: TxEnvelope = request.build(&self.wallet).await.map_err(err)?;
        let attempt = Attempt {
            tx_hash: format!("{:#x}", envelope.tx_hash()),
            max_fee: max_fee.to_string(),
            priority_fee: tip.to_string(),
            raw: alloy::hex::encode_prefixed(envelope.encoded_2718()),
            sent_at: now_ms(),
        };
        store::jobs::record_attempt(&self.db, job.job_id, &attempt)
            .await
            .map_err(err)?;
        tracing::info!(
            tx = attempt.tx_hash,
            kind = job.kind,
            event_id = job.event_id,
            nonce = job.nonce,
            bump = previous.is_some(),
            "chain transaction sent"
        );
        self.push(&attempt.raw).await;
        Ok(())
    }

    /// Hands a signed transaction to the node. A refusal ("already known", "nonce too low",
    /// a full pool) is settled by the next rounds, which look the job up on chain.
    async fn push(&self, raw: &str) {
        let Ok(bytes) = raw.parse::<Bytes>() else {
            return;
        };
        if let Err(e) = self.provider.send_raw_transaction(&bytes).await {
            tracing::warn!(error = %e, "the node refused a chain transaction; it is looked up again");
        }
    }

    /// Applies the receipt of one of `job`'s attempts. Claims are marked before the job is
    /// closed, so a crash in between only repeats this.
    async fn apply(&mut self, job: &JobRow, receipt: &TransactionReceipt) -> Fallible {
        let tx = format!("{:#x}", receipt.transaction_hash);
        let gas = Some(receipt.gas_used as i64);
        if !receipt.status() {
            tracing::warn!(
                tx,
                kind = job.kind,
                event_id = job.event_id,
                "chain transaction reverted"
            );
            if job.kind == "mint_batch" {
                let claims = store::claims::of_job(&self.db, job.job_id)
                    .await
                    .map_err(err)?;
                let ids: Vec<i64> = claims.iter().map(|c| c.claim_id).collect();
                store::claims::release(&self.db, &ids, now_ms())
                    .await
                    .map_err(err)?;
            }
            self.rest(&job.event_id);
            return store::jobs::finish(&self.db, job.job_id, "failed", Some(&tx), gas, now_ms())
                .await
                .map_err(err);
        }
        if job.kind == "mint_batch" {
            let mut minted: HashMap<Address, U256> = HashMap::new();
            for log in receipt.inner.logs() {
                if log.address() != self.config.poap {
                    continue;
                }
                if let Ok(t) = log.log_decode::<AttendancePOAP::Transfer>()
                    && t.inner.data.from == Address::ZERO
                {
                    minted.insert(t.inner.data.to, t.inner.data.tokenId);
                }
            }
            let claims = store::claims::of_job(&self.db, job.job_id)
                .await
                .map_err(err)?;
            for c in &claims {
                match c
                    .address
                    .parse::<Address>()
                    .ok()
                    .and_then(|a| minted.get(&a))
                {
                    Some(token) => store::claims::mark_minted(
                        &self.db,
                        c.claim_id,
                        &token.to_string(),
                        &tx,
                        now_ms(),
                    )
                    .await
                    .map_err(err)?,
                    // Skipped by the batch: minted earlier, or past the cap.
                    None => self.reconcile(c).await?,
                }
            }
        }
        store::jobs::finish(&self.db, job.job_id, "mined", Some(&tx), gas, now_ms())
            .await
            .map_err(err)
    }

    /// The job's nonce went to a transaction that is none of its attempts (someone else used
    /// the key): its claims are looked up on chain one by one.
    async fn replaced(&mut self, job: &JobRow) -> Fallible {
        tracing::warn!(
            kind = job.kind,
            event_id = job.event_id,
            nonce = job.nonce,
            "job's nonce used elsewhere"
        );
        if job.kind == "mint_batch" {
            for c in store::claims::of_job(&self.db, job.job_id)
                .await
                .map_err(err)?
            {
                self.reconcile(&c).await?;
            }
        }
        store::jobs::finish(&self.db, job.job_id, "replaced", None, None, now_ms())
            .await
            .map_err(err)
    }

    /// Marks `claim` minted if its token is on chain, else frees it for a new job.
    async fn reconcile(&self, claim: &ClaimRow) -> Fallible {
        let (Some(event), Ok(holder)) = (
            ids::chain_event_id(&claim.event_id),
            claim.address.parse::<Address>(),
        ) else {
            return Ok(());
        };
        let token = ids::token_id(event, holder);
        let filter = Filter::new()
            .address(self.config.poap)
            .event_signature(AttendancePOAP::Transfer::SIGNATURE_HASH)
            .topic1(B256::ZERO)
            .topic3(B256::from(token))
            .from_block(0);
        let logs = self.provider.get_logs(&filter).await.map_err(err)?;
        match logs.first().and_then(|l| l.transaction_hash) {
            Some(tx) => store::claims::mark_minted(
                &self.db,
                claim.claim_id,
                &token.to_string(),
                &format!("{tx:#x}"),
                now_ms(),
            )
            .await
            .map_err(err),
            None => store::claims::release(&self.db, &[claim.claim_id], now_ms())
                .await
                .map_err(err),
        }
    }

    /// On a node that does not mint: learns which events with vouchers out exist on chain,
    /// so that its claims hand vouchers out as soon as they can be redeemed.
    async fn watch_ready(&mut self) -> Fallible {
        for event_id in store::claims::voucher_events(&self.db).await.map_err(err)? {
            if !self.handle.is_ready(&event_id)
                && let Some(event) = ids::chain_event_id(&event_id)
                && self.event_info(event).await?.issuer == self.from
            {
                self.handle.set_ready(&event_id);
            }
        }
        Ok(())
    }

    // ---- new work ----

    async fn start_new(&mut self) -> Fallible {
        let claims = store::claims::unbatched(&self.db, 10 * BATCH as i64)
            .await
            .map_err(err)?;
        let mut by_event: BTreeMap<String, Vec<ClaimRow>> = BTreeMap::new();
        for c in claims {
            by_event.entry(c.event_id.clone()).or_default().push(c);
        }
        let now = Instant::now();
        self.resting.retain(|_, until| *until > now);
        // Events whose vouchers are out must exist on chain before anyone redeems one.
        for event_id in store::claims::voucher_events(&self.db).await.map_err(err)? {
            if !self.handle.is_ready(&event_id)
                && !self.resting.contains_key(&event_id)
                && let Some(event) = ids::chain_event_id(&event_id)
            {
                self.ready(&event_id, event).await?;
            }
        }
        for (event_id, claims) in by_event {
            if self.resting.contains_key(&event_id) {
                continue;
            }
            let Some(event) = ids::chain_event_id(&event_id) else {
                continue;
            };
            if !self.ready(&event_id, event).await? {
                continue;
            }
            for batch in claims.chunks(BATCH) {
                self.start_mint(&event_id, event, batch).await?;
            }
        }
        Ok(())
    }

    /// Whether `event_id` exists on chain with this minter as issuer and room for more
    /// tokens; if it does not exist, a job creating it is started.
    async fn ready(&mut self, event_id: &str, event: U256) -> Fallible<bool> {
        if store::jobs::has_open(&self.db, "create_event", event_id)
            .await
            .map_err(err)?
        {
            return Ok(false);
        }
        let info = self.event_info(event).await?;
        if info.issuer == self.from {
            self.handle.set_ready(event_id);
            if info.maxSupply != U256::ZERO && info.minted >= info.maxSupply {
                tracing::warn!(event_id, cap = %info.maxSupply, "every token of the event is minted; claims wait");
                self.rest(event_id);
                return Ok(false);
            }
            return Ok(true);
        }
        if info.issuer != Address::ZERO {
            tracing::warn!(event_id, issuer = %info.issuer, "the event belongs to another issuer on chain");
            self.rest(event_id);
            return Ok(false);
        }
        let Some(spec) = store::events::get(&self.db, event_id).await.map_err(err)? else {
            return Ok(false);
        };
        let cap = spec.spec.poap.max_supply.unwrap_or(0).min((1 << 40) - 1);
        let input = AttendancePOAP::createEventCall {
            eventId: event,
            issuer: self.from,
            maxSupply: alloy::primitives::aliases::U40::from(cap),
            soulbound: spec.spec.poap.soulbound,
        }
        .abi_encode();
        self.start_job("create_event", event_id, input.into(), &[])
            .await?;
        Ok(false)
    }

    async fn start_mint(&mut self, event_id: &str, event: U256, claims: &[ClaimRow]) -> Fallible {
        let to: Vec<Address> = claims
            .iter()
            .filter_map(|c| c.address.parse().ok())
            .collect();
        let ids: Vec<i64> = claims.iter().map(|c| c.claim_id).collect();
        let input = AttendancePOAP::mintBatchCall { eventId: event, to }.abi_encode();
        if !self
            .start_job("mint_batch", event_id, input.into(), &ids)
            .await?
            && claims.len() > 1
        {
            // Too big for one transaction: halve it.
            let (a, b) = claims.split_at(claims.len() / 2);
            Box::pin(self.start_mint(event_id, event, a)).await?;
            Box::pin(self.start_mint(event_id, event, b)).await?;
        }
        Ok(())
    }

    /// Estimates, commits and sends a job; false if it needs more than [`MAX_TX_GAS`].
    async fn start_job(
        &mut self,
        kind: &str,
        event_id: &str,
        input: Bytes,
        claim_ids: &[i64],
    ) -> Fallible<bool> {
        let probe = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.config.poap)
            .with_input(input.clone());
        let gas = match self.provider.estimate_gas(probe).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, kind, event_id, "the chain refuses the job; trying later");
                self.rest(event_id);
                return Ok(true);
            }
        };
        if gas > MAX_TX_GAS {
            return Ok(false);
        }
        let nonce = self.next_nonce().await?;
        let job = NewJob {
            kind,
            event_id,
            sender: &self.sender,
            nonce,
            to_address: &self.config.poap.to_checksum(None),
            input: &input.to_string(),
            // Room over the estimate: state can move between estimate and inclusion.
            gas_limit: (gas + gas / 5 + 20_000) as i64,
        };
        let row = store::jobs::create(&self.db, &job, claim_ids, now_ms())
            .await
            .map_err(err)?;
        self.send_attempt(&row, None).await?;
        Ok(true)
    }

    /// The next nonce: past both what the node has seen (pending included) and every nonce a
    /// job already took (an attempt may be recorded and not yet known to the node).
    async fn next_nonce(&self) -> Fallible<i64> {
        let node = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(err)? as i64;
        let ours = store::jobs::max_nonce(&self.db, &self.sender)
            .await
            .map_err(err)?
            .map_or(0, |n| n + 1);
        Ok(node.max(ours))
    }

    fn rest(&mut self, event_id: &str) {
        self.resting
            .insert(event_id.to_string(), Instant::now() + BACKOFF);
    }
}
