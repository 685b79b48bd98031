//! Following the chain: the head block that the gate cache is valid for, and the transfer logs
//! of gated contracts and the delegation registry's logs, which revoke the stream access a
//! ticket granted once it leaves its holder or its vault stops lending it; and, while vouchers
//! are out, the attendance tokens minted with them. Progress is kept in the database, so a
//! restarted node resumes where it stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use super::eval::{GateChecker, Verdict};
use crate::auth::revocation::Revocations;
use crate::chain::bindings::{IDelegateRegistryEvents, IERC721, IERC1155};
use crate::chain::{Chain, Head, ReadError, rpc};
use crate::store::{self, Db};
use crate::time_util::now_ms;

/// The cursor's name in the database.
const CURSOR: &str = "transfers";
/// Most blocks asked for in one `eth_getLogs`.
const MAX_RANGE: u64 = 1_000;
/// How many followed blocks' transfers are remembered for joins that raced the follower.
const KEEP_BLOCKS: u64 = 256;
/// How long a gate's contracts stay followed after its last join, grant or not.
const JOINED_TTL_MS: i64 = 10 * 60 * 1000;
/// How often the collections to index are read from the events when no change was announced
/// (another node's, or an event that ended).
const INDEX_REFRESH_MS: i64 = 30_000;
/// Most `eth_getLogs` requests that reading one collection's history may take, halving the
/// block range each time the node refuses one.
const MAX_HISTORY_REQUESTS: usize = 64;
/// How long one request for a collection's history may take.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// A token leaving its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The block it happened in.
    pub block: u64,
    /// The token contract.
    pub contract: Address,
    /// The holder it left.
    pub from: Address,
    /// The token id (ERC-721, ERC-1155); none for ERC-20.
    pub token_id: Option<U256>,
}

/// A vault changing what it delegates to a wallet (delegate.xyz v2): the wallet's grants on
/// the vault's tickets are read again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Redelegation {
    block: u64,
    vault: Address,
    delegate: Address,
}

/// The registry's events, any of which may take a delegation away.
const DELEGATION_EVENTS: [B256; 5] = [
    IDelegateRegistryEvents::DelegateAll::SIGNATURE_HASH,
    IDelegateRegistryEvents::DelegateContract::SIGNATURE_HASH,
    IDelegateRegistryEvents::DelegateERC721::SIGNATURE_HASH,
    IDelegateRegistryEvents::DelegateERC20::SIGNATURE_HASH,
    IDelegateRegistryEvents::DelegateERC1155::SIGNATURE_HASH,
];

/// Why a pass of the follower stopped; it starts again from the same block.
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("chain unavailable")]
    Chain(ReadError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<ReadError> for FollowError {
    fn from(e: ReadError) -> Self {
        FollowError::Chain(e)
    }
}

/// The chain follower of one node.
pub struct Follower {
    db: Db,
    chain: Chain,
    gates: GateChecker,
    revocations: Arc<Revocations>,
    head: Arc<Head>,
    poll: Duration,
    recent: Mutex<Recent>,
    joined: Mutex<HashMap<Address, i64>>,
    indexed: Mutex<Indexed>,
    gates_changed: AtomicBool,
    /// The AttendancePOAP contract, whose mints settle voucher claims.
    poap: Option<Address>,
}

/// The collections that the token index keeps, as last read from the events.
#[derive(Debug, Default)]
struct Indexed {
    wanted: Vec<Address>,
    read_at: i64,
}

/// Transfers of the last followed blocks.
#[derive(Debug, Default)]
struct Recent {
    /// Every transfer of a followed contract from this block on is in `transfers`.
    covered_from: u64,
    transfers: VecDeque<Transfer>,
}

impl Follower {
    /// Starts following `chain` every `poll`, publishing the followed block to `head`; mints
    /// of `poap` settle voucher claims.
    pub fn spawn(
        db: Db,
        chain: Chain,
        gates: GateChecker,
        revocations: Arc<Revocations>,
        head: Arc<Head>,
        poll: Duration,
        poap: Option<Address>,
    ) -> Arc<Self> {
        let me = Arc::new(Self {
            db,
            chain,
            gates,
            revocations,
            head,
            poll,
            recent: Mutex::default(),
            joined: Mutex::default(),
            indexed: Mutex::default(),
            gates_changed: AtomicBool::new(true),
            poap,
        });
        tokio::spawn(Arc::clone(&me).run());
        me
    }

    /// Whether the chain has been followed lately: if not, a ticket that leaves would go
    /// unnoticed, so nobody may be admitted.
    pub fn is_fresh(&self) -> bool {
        self.head.is_fresh(self.poll * 3 + Duration::from_secs(10))
    }

    /// The last block followed.
    pub fn block(&self) -> u64 {
        self.head.block()
    }

    /// Follows `contracts` from the next pass on, before a join reads them.
    pub fn watch(&self, contracts: &[Address]) {
        let now = now_ms();
        if let Ok(mut joined) = self.joined.lock() {
            for c in contracts {
                joined.insert(*c, now);
            }
        }
    }

    /// Announces that an event's gate was created, changed or deleted: the next pass reads
    /// which collections to index.
    pub fn gates_changed(&self) {
        self.gates_changed.store(true, Ordering::Release);
    }

    /// Whether `holder` sent a token of `contracts` after `block`, among the blocks followed so
    /// far; `None` when `block` is older than what is remembered.
    ///
    /// A join asks this after recording its grant: a transfer the follower handled before the
    /// grant existed is found here, and one handled after finds the grant in the database.
    pub fn moved_since(&self, block: u64, holder: Address, contracts: &[Address]) -> Option<bool> {
        let recent = self.recent.lock().ok()?;
        if block + 1 < recent.covered_from {
            return None;
        }
        Some(
            recent
                .transfers
                .iter()
                .any(|t| t.block > block && t.from == holder && contracts.contains(&t.contract)),
        )
    }

    async fn run(self: Arc<Self>) {
        let mut cursor = None;
        loop {
            if let Err(e) = self.pass(&mut cursor).await {
                tracing::warn!(error = %e, "following the chain failed; retrying");
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Follows every block from the cursor to the newest one.
    async fn pass(&self, cursor: &mut Option<u64>) -> Result<(), FollowError> {
        let head = self.chain.block_number().await?;
        let mut last = match *cursor {
            Some(c) => c,
            None => store::grants::cursor(&self.db, CURSOR)
                .await?
                .unwrap_or(head),
        };
        // A chain behind the cursor was reset (a fresh Anvil) or reorganised deeper than we
        // followed: start again from its head.
        let reset = last > head;
        if reset {
            tracing::warn!(
                cursor = last,
                head,
                "the chain is behind the followed block; following from its head"
            );
            last = head;
        }
        if cursor.is_none() || reset {
            store::grants::set_cursor(&self.db, CURSOR, last).await?;
            *cursor = Some(last);
            if let Ok(mut recent) = self.recent.lock() {
                *recent = Recent {
                    covered_from: last + 1,
                    transfers: VecDeque::new(),
                };
            }
            if reset {
                self.gates.index().retain(&[]);
                self.gates_changed();
            }
        }
        self.sync_index(last).await?;
        let mut from = last + 1;
        // The POAP contract's mints matter only while vouchers are out: asked once per pass.
        let poap = match self.poap {
            Some(poap) if from <= head && store::claims::vouchers_out(&self.db).await? => {
                Some(poap)
            }
            _ => None,
        };
        while from <= head {
            let to = head.min(from + MAX_RANGE - 1);
            let mut contracts = self.followed().await?;
            contracts.extend(poap);
            let (transfers, redelegations) = if contracts.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                self.transfers(contracts, poap, from, to).await?
            };
            self.remember(&transfers, to);
            self.revoke(&transfers).await?;
            self.recheck_delegates(&redelegations).await?;
            store::grants::set_cursor(&self.db, CURSOR, to).await?;
            *cursor = Some(to);
            from = to + 1;
        }
        self.head.publish(head.min(from - 1));
        Ok(())
    }

    /// The contracts whose transfers matter: those of gates joined lately and of every event
    /// with live grants.
    async fn followed(&self) -> Result<Vec<Address>, FollowError> {
        let now = now_ms();
        let mut contracts: Vec<Address> = match self.joined.lock() {
            Ok(mut joined) => {
                joined.retain(|_, at| now - *at < JOINED_TTL_MS);
                joined.keys().copied().collect()
            }
            Err(_) => Vec::new(),
        };
        for event in store::events::with_live_grants(&self.db, now).await? {
            contracts.extend(event.spec.gate.contracts());
        }
        if let Ok(indexed) = self.indexed.lock() {
            contracts.extend(&indexed.wanted);
        }
        contracts.sort_unstable();
        contracts.dedup();
        Ok(contracts)
    }

    /// Tokens that left their holders in blocks `from..=to`, and delegations changed in them,
    /// in one `eth_getLogs` (which also brings the mints of `poap`, settling voucher claims).
    async fn transfers(
        &self,
        mut contracts: Vec<Address>,
        poap: Option<Address>,
        from: u64,
        to: u64,
    ) -> Result<(Vec<Transfer>, Vec<Redelegation>), FollowError> {
        let registry = self.gates.registry();
        contracts.push(registry);
        let mut events = vec![
            IERC721::Transfer::SIGNATURE_HASH,
            IERC1155::TransferSingle::SIGNATURE_HASH,
            IERC1155::TransferBatch::SIGNATURE_HASH,
        ];
        events.extend(DELEGATION_EVENTS);
        let filter = Filter::new()
            .address(contracts)
            .event_signature(events)
            .from_block(from)
            .to_block(to);
        let logs = rpc(|| self.chain.provider.get_logs(&filter)).await?;
        let (mints, logs): (Vec<Log>, Vec<Log>) =
            logs.into_iter().partition(|l| Some(l.address()) == poap);
        self.redeemed(&mints).await?;
        let (delegations, tokens): (Vec<Log>, Vec<Log>) = logs
            .into_iter()
            .partition(|l| l.address() == registry && is_delegation(l));
        self.gates.index().apply(&tokens);
        let mut out = Vec::new();
        for log in &tokens {
            decode(log, &mut out);
        }
        let redelegations = delegations
            .iter()
            .filter_map(|l| {
                let t = l.topics();
                Some(Redelegation {
                    block: l.block_number?,
                    vault: Address::from_word(*t.get(1)?),
                    delegate: Address::from_word(*t.get(2)?),
                })
            })
            .collect();
        Ok((out, redelegations))
    }

    /// Marks minted the voucher claims whose tokens `logs` (of the POAP contract) minted.
    async fn redeemed(&self, logs: &[Log]) -> Result<(), FollowError> {
        for log in logs {
            let Ok(t) = log.log_decode::<IERC721::Transfer>() else {
                continue;
            };
            let t = t.inner.data;
            if t.from != Address::ZERO {
                continue;
            }
            let (event_prefix, holder) = crate::poap::ids::split_token(t.tokenId);
            let tx = log
                .transaction_hash
                .map(|h| format!("{h:#x}"))
                .unwrap_or_default();
            store::claims::mark_redeemed(
                &self.db,
                &event_prefix,
                &holder.to_checksum(None),
                &t.tokenId.to_string(),
                &tx,
                now_ms(),
            )
            .await?;
        }
        Ok(())
    }

    /// Revokes the grants that a vault's tickets gave a wallet whose delegation then changed,
    /// when the gate, read again, no longer admits the wallet.
    async fn recheck_delegates(&self, changes: &[Redelegation]) -> Result<(), FollowError> {
        let now = now_ms();
        for c in changes {
            let (vault, delegate) = (c.vault.to_string(), c.delegate.to_string());
            for g in store::grants::live_of_holder(&self.db, &vault, now).await? {
                if g.wallet != delegate || g.block as u64 >= c.block {
                    continue;
                }
                let Some(event) = store::events::get(&self.db, &g.event_id).await? else {
                    continue;
                };
                let (verdict, _) = self.gates.check_now(&event.spec.gate, c.delegate).await?;
                if matches!(verdict, Verdict::Refused(_)) {
                    store::grants::revoke(&self.db, &g.grant_id, now, "delegation revoked").await?;
                    tracing::info!(grant = %g.grant_id, event = %g.event_id, %vault, "delegation withdrawn; stream access revoked");
                    self.revocations.insert(g.grant_id);
                }
            }
        }
        Ok(())
    }

    /// Reads, when due, which collections the token index must keep (the "any token" ERC-721
    /// conditions of events not yet ended), and indexes the new ones from their history up to
    /// block `last`, from which on the passes follow them.
    async fn sync_index(&self, last: u64) -> Result<(), FollowError> {
        let now = now_ms();
        let due = self.gates_changed.swap(false, Ordering::AcqRel)
            || self
                .indexed
                .lock()
                .is_ok_and(|i| now - i.read_at >= INDEX_REFRESH_MS);
        if !due {
            return Ok(());
        }
        let events = match store::events::not_ended(&self.db, now).await {
            Ok(events) => events,
            Err(e) => {
                self.gates_changed();
                return Err(e.into());
            }
        };
        let mut conditions = Vec::new();
        for event in &events {
            event.spec.gate.conditions(&mut conditions);
        }
        let mut wanted: Vec<Address> = conditions
            .iter()
            .filter_map(|c| c.any_token_collection())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let index = self.gates.index();
        index.retain(&wanted);
        for &contract in &wanted {
            if index.contains(contract) {
                continue;
            }
            match self.history(contract, last).await {
                Ok(logs) => {
                    index.insert(contract, &logs);
                    tracing::info!(%contract, transfers = logs.len(), block = last, "collection indexed");
                }
                // Joins name its tokens from logs meanwhile; tried again at the next refresh.
                Err(e) => {
                    tracing::warn!(%contract, error = ?e, "could not read the collection's transfers")
                }
            }
        }
        // Only what is indexed is followed: a collection left out would go stale unnoticed.
        wanted.retain(|c| index.contains(*c));
        if let Ok(mut indexed) = self.indexed.lock() {
            *indexed = Indexed {
                wanted,
                read_at: now,
            };
        }
        Ok(())
    }

    /// Every ERC-721 `Transfer` of `contract` up to block `to`, oldest first. A node that
    /// refuses a range (too many blocks or results) is asked for its halves.
    async fn history(&self, contract: Address, to: u64) -> Result<Vec<Log>, ReadError> {
        let mut out = Vec::new();
        let mut ranges = vec![(0, to)];
        let mut requests = 0;
        while let Some((a, b)) = ranges.pop() {
            requests += 1;
            if requests > MAX_HISTORY_REQUESTS {
                return Err(ReadError::Unavailable);
            }
            let filter = Filter::new()
                .address(contract)
                .event_signature(IERC721::Transfer::SIGNATURE_HASH)
                .from_block(a)
                .to_block(b);
            match tokio::time::timeout(HISTORY_TIMEOUT, self.chain.provider.get_logs(&filter)).await
            {
                Ok(Ok(logs)) => out.extend(logs),
                // The lower half is pushed last so that it is read first: logs stay in order.
                _ if a < b => {
                    let mid = a + (b - a) / 2;
                    ranges.push((mid + 1, b));
                    ranges.push((a, mid));
                }
                _ => return Err(ReadError::Unavailable),
            }
        }
        Ok(out)
    }

    /// Keeps `transfers` of the blocks up to `to` for joins that raced this pass.
    fn remember(&self, transfers: &[Transfer], to: u64) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        recent.transfers.extend(transfers.iter().cloned());
        let keep_from = (to + 1).saturating_sub(KEEP_BLOCKS);
        if keep_from > recent.covered_from {
            recent.covered_from = keep_from;
            while recent
                .transfers
                .front()
                .is_some_and(|t| t.block < keep_from)
            {
                recent.transfers.pop_front();
            }
        }
    }

    /// Revokes the grants whose tickets `transfers` took away: at once when a grant's own
    /// ERC-721 token left, after reading the gate again for any other token of its gate.
    async fn revoke(&self, transfers: &[Transfer]) -> Result<(), FollowError> {
        let mut by_holder: HashMap<Address, Vec<&Transfer>> = HashMap::new();
        for t in transfers {
            by_holder.entry(t.from).or_default().push(t);
        }
        let now = now_ms();
        for (holder, sent) in by_holder {
            for g in store::grants::live_of_holder(&self.db, &holder.to_string(), now).await? {
                let after: Vec<&Transfer> = sent
                    .iter()
                    .copied()
                    .filter(|t| t.block > g.block as u64)
                    .collect();
                if after.is_empty() {
                    continue;
                }
                let own_ticket = after.iter().any(|t| {
                    g.kind == "erc721"
                        && t.contract.to_string() == g.contract
                        && t.token_id.is_some_and(|id| id.to_string() == g.token_id)
                });
                let gone = own_ticket || self.still_refused(&g, &after).await?;
                if gone {
                    store::grants::revoke(&self.db, &g.grant_id, now, "ticket transferred").await?;
                    tracing::info!(grant = %g.grant_id, event = %g.event_id, %holder, "ticket left its holder; stream access revoked");
                    self.revocations.insert(g.grant_id);
                }
            }
        }
        Ok(())
    }

    /// Whether grant `g`'s gate now refuses its viewer, given tokens that left the holder.
    async fn still_refused(
        &self,
        g: &store::grants::LiveGrant,
        sent: &[&Transfer],
    ) -> Result<bool, FollowError> {
        let Some(event) = store::events::get(&self.db, &g.event_id).await? else {
            return Ok(false);
        };
        let gate = &event.spec.gate;
        let contracts = gate.contracts();
        if !sent.iter().any(|t| contracts.contains(&t.contract)) {
            return Ok(false);
        }
        let Ok(wallet) = g.wallet.parse::<Address>() else {
            return Ok(true);
        };
        let (verdict, _) = self.gates.check_now(gate, wallet).await?;
        Ok(matches!(verdict, Verdict::Refused(_)))
    }
}

fn is_delegation(log: &Log) -> bool {
    log.topics()
        .first()
        .is_some_and(|t| DELEGATION_EVENTS.contains(t))
}

/// The tokens one log moved away from a holder (mints move none).
fn decode(log: &Log, out: &mut Vec<Transfer>) {
    let (Some(block), topics) = (log.block_number, log.topics()) else {
        return;
    };
    let contract = log.address();
    let mut push = |from: Address, token_id: Option<U256>| {
        if !from.is_zero() {
            out.push(Transfer {
                block,
                contract,
                from,
                token_id,
            });
        }
    };
    match topics.first() {
        Some(&IERC721::Transfer::SIGNATURE_HASH) if topics.len() >= 3 => {
            let from = Address::from_word(topics[1]);
            // ERC-721 indexes the token id; ERC-20's Transfer has the same signature and
            // carries the amount in its data.
            push(from, topics.get(3).map(|t| U256::from_be_bytes(t.0)));
        }
        Some(&IERC1155::TransferSingle::SIGNATURE_HASH) => {
            if let Ok(e) = log.log_decode::<IERC1155::TransferSingle>() {
                push(e.inner.data.from, Some(e.inner.data.id));
            }
        }
        Some(&IERC1155::TransferBatch::SIGNATURE_HASH) => {
            if let Ok(e) = log.log_decode::<IERC1155::TransferBatch>() {
                for id in &e.inner.data.ids {
                    push(e.inner.data.from, Some(*id));
                }
            }
        }
        _ => {}
    }
}
