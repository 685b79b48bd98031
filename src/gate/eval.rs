//! Evaluation of a gate for one wallet against the chain, with the ticket that admitted it.

use std::future::IntoFuture;
use std::ops::Range;
use std::sync::Arc;

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use serde::Serialize;

use super::cache::BlockCache;
use super::delegation;
use super::index::TokenIndex;
use super::probe::{self, Answer};
use super::rules::{Condition, Dec, Gate, Rule};
use crate::chain::bindings::{IERC20, IERC721, IERC1155, Multicall3};
use crate::chain::{Chain, Head, ReadError, read, rpc};

/// How many past incoming transfers are checked to name a held token of a non-enumerable collection.
const MAX_LOG_CANDIDATES: usize = 64;
/// How many of a holder's indexed tokens a gate's one call asks the owner of.
const MAX_INDEX_CANDIDATES: usize = 4;

/// What admitted a viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// `erc721`, `erc1155` or `erc20`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The token contract.
    #[serde(serialize_with = "crate::model::eip55")]
    pub contract: Address,
    /// The admitting token id (none for ERC-20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Dec>,
    /// The vault that holds the ticket and delegated to the viewer (delegate.xyz v2).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::eip55_opt"
    )]
    pub vault: Option<Address>,
}

/// The outcome of a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted by this ticket.
    Admitted(Ticket),
    /// Refused; each entry says which condition failed and why.
    Refused(Vec<String>),
}

/// Checks gates against the chain.
#[derive(Clone, Debug)]
pub struct GateChecker {
    chain: Chain,
    multicall: Address,
    registry: Address,
    head: Arc<Head>,
    cache: Arc<BlockCache>,
    index: Arc<TokenIndex>,
}

/// What one condition's reads said.
#[derive(Debug, Clone)]
enum Outcome {
    Admitted(Ticket),
    Refused(String),
    /// Holds `balance` tokens of a collection that cannot list them: satisfied, but the
    /// ticket's id must come from logs, looked up only if this condition's ticket is the one used.
    Unnamed {
        contract: Address,
        balance: U256,
    },
}

impl GateChecker {
    /// A checker reading through `chain`, all of a gate's reads in one call to `multicall`,
    /// delegations from the delegate.xyz v2 `registry`, admissions cached until `head` moves
    /// past the block they were read at.
    pub fn new(chain: Chain, multicall: Address, registry: Address, head: Arc<Head>) -> Self {
        Self {
            chain,
            multicall,
            registry,
            head,
            cache: Arc::default(),
            index: Arc::default(),
        }
    }

    /// The delegate.xyz registry that delegations are read from.
    pub fn registry(&self) -> Address {
        self.registry
    }

    /// The token index that names candidate tickets of collections that cannot list them.
    pub fn index(&self) -> &TokenIndex {
        &self.index
    }

    /// Whether `holder` satisfies `gate` at the newest block, and that block's number; an
    /// admission read at the followed head or later is answered from memory.
    pub async fn check(&self, gate: &Gate, holder: Address) -> Result<(Verdict, u64), ReadError> {
        if let Some((ticket, block)) = self.cache.get(self.head.block(), gate, holder) {
            return Ok((Verdict::Admitted(ticket), block));
        }
        let (verdict, block) = self.check_now(gate, holder).await?;
        if let Verdict::Admitted(ticket) = &verdict {
            self.cache.put(block, gate, holder, ticket);
        }
        Ok((verdict, block))
    }

    /// Like [`GateChecker::check`], always read from the chain; `Err` when it could not answer.
    ///
    /// One `eth_call` reads every condition for the wallet, the block number, the delegations
    /// the wallet received and the same conditions for each vault that delegated to it (see
    /// [`probe`]), so a gate costs one round trip whatever its size. A second is needed only
    /// for the logs that name a token of a collection that cannot list them, when the token
    /// index has no candidate of the holder's.
    pub async fn check_now(
        &self,
        gate: &Gate,
        wallet: Address,
    ) -> Result<(Verdict, u64), ReadError> {
        let mut own_calls = Vec::new();
        let own = Plan::new(gate, wallet, Some(&self.index), &mut own_calls);
        let probe = probe::run(
            &self.chain,
            self.multicall,
            self.registry,
            wallet,
            &own_calls,
            gate.contracts(),
        )
        .await?;
        let block = probe.block;
        let reasons = match self.decide(&own, &probe.own, block).await? {
            Verdict::Admitted(t) => return Ok((Verdict::Admitted(t), block)),
            Verdict::Refused(reasons) => reasons,
        };
        let vaults = delegation::vault_gates(gate, probe.delegations.as_ref());
        if vaults.is_empty() {
            return Ok((Verdict::Refused(reasons), block));
        }
        // A vault's own tokens are not in the index's candidates: its collection lists them,
        // or the logs name them.
        let mut calls = Vec::new();
        let plans: Vec<Plan> = vaults
            .iter()
            .map(|(vault, g)| Plan::new(g, *vault, None, &mut calls))
            .collect();
        let answers = match probe.vault_answers(wallet, &own_calls, &calls) {
            Some(answers) => answers,
            None => self.aggregate(calls).await?.1,
        };
        for plan in &plans {
            if let Verdict::Admitted(mut ticket) = self.decide(plan, &answers, block).await? {
                ticket.vault = Some(plan.holder);
                return Ok((Verdict::Admitted(ticket), block));
            }
        }
        Ok((Verdict::Refused(reasons), block))
    }

    /// What `plan`'s answers say, naming a held token from logs where the collection cannot.
    async fn decide(
        &self,
        plan: &Plan<'_>,
        answers: &[Answer],
        block: u64,
    ) -> Result<Verdict, ReadError> {
        let holder = plan.holder;
        let mut outcomes: Vec<Outcome> = plan
            .conditions
            .iter()
            .zip(&plan.spans)
            .zip(&plan.candidates)
            .map(|((c, span), ids)| judge(c, holder, &answers[span.clone()], ids))
            .collect();
        // Each pass names one unnamed token or refuses its condition, so this ends.
        loop {
            let i = match combine(plan.gate, &outcomes, &mut 0) {
                Ok(i) => i,
                Err(reasons) => return Ok(Verdict::Refused(reasons)),
            };
            outcomes[i] = match &outcomes[i] {
                Outcome::Unnamed { contract, balance } => {
                    match self.held_token_id(*contract, holder, block).await? {
                        Some(id) => admitted("erc721", *contract, Some(Dec(id))),
                        None => Outcome::Refused(format!(
                            "holds {balance} of {contract} (ERC-721) but no held token id could be found"
                        )),
                    }
                }
                Outcome::Admitted(t) => return Ok(Verdict::Admitted(t.clone())),
                Outcome::Refused(r) => return Ok(Verdict::Refused(vec![r.clone()])),
            };
        }
    }

    /// One `eth_call` of Multicall3's `aggregate3`, every call allowed to fail on its own,
    /// led by `getBlockNumber` so that the answers come with the block they describe.
    async fn aggregate(
        &self,
        calls: Vec<(Address, Bytes)>,
    ) -> Result<(u64, Vec<Answer>), ReadError> {
        let mc = Multicall3::new(self.multicall, &self.chain.provider);
        let block_number = Multicall3::getBlockNumberCall {}.abi_encode().into();
        let calls = std::iter::once((self.multicall, block_number))
            .chain(calls)
            .map(|(target, data)| Multicall3::Call3 {
                target,
                allowFailure: true,
                callData: data,
            })
            .collect::<Vec<_>>();
        let n = calls.len();
        let call = mc.aggregate3(calls);
        match read(|| call.call().into_future()).await {
            Ok(results) if results.len() == n && results[0].success => {
                let mut answers = results
                    .into_iter()
                    .map(|r| r.success.then_some(r.returnData));
                let block = answers
                    .next()
                    .flatten()
                    .and_then(|a| Multicall3::getBlockNumberCall::abi_decode_returns(&a).ok())
                    .and_then(|b| u64::try_from(b).ok())
                    .ok_or(ReadError::Unavailable)?;
                Ok((block, answers.collect()))
            }
            // No Multicall3 at the configured address: a deployment fault, and nobody is let
            // in on a guess.
            Ok(_) | Err(ReadError::Reverted) => {
                tracing::error!(multicall3 = %self.multicall, "Multicall3 does not answer there");
                Err(ReadError::Unavailable)
            }
            Err(e) => Err(e),
        }
    }

    /// A token id of `contract` that `holder` owns now, from the `Transfer` logs that sent
    /// tokens to the holder, newest first, each candidate's owner read in one call.
    async fn held_token_id(
        &self,
        contract: Address,
        holder: Address,
        block: u64,
    ) -> Result<Option<U256>, ReadError> {
        let filter = Filter::new()
            .address(contract)
            .event_signature(IERC721::Transfer::SIGNATURE_HASH)
            .topic2(holder.into_word())
            .from_block(0)
            .to_block(block);
        let logs = rpc(|| self.chain.provider.get_logs(&filter)).await?;
        let mut candidates = Vec::new();
        for log in logs.iter().rev() {
            let Some(id) = log.topics().get(3).map(|t| U256::from_be_bytes(t.0)) else {
                continue;
            };
            if !candidates.contains(&id) {
                candidates.push(id);
            }
            if candidates.len() == MAX_LOG_CANDIDATES {
                break;
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        let calls = candidates
            .iter()
            .map(|id| (contract, owner_of(*id)))
            .collect();
        let (_, owners) = self.aggregate(calls).await?;
        Ok(candidates
            .into_iter()
            .zip(owners)
            .find(|(_, owner)| decode_owner(owner.as_ref()) == Some(holder))
            .map(|(id, _)| id))
    }
}

/// A gate's reads for one holder, placed in a shared list of calls.
struct Plan<'g> {
    gate: &'g Gate,
    holder: Address,
    conditions: Vec<&'g Condition>,
    /// Where each condition's answers are in the list.
    spans: Vec<Range<usize>>,
    /// Each condition's indexed token ids of the holder, whose owners are read.
    candidates: Vec<Vec<U256>>,
}

impl<'g> Plan<'g> {
    fn new(
        gate: &'g Gate,
        holder: Address,
        index: Option<&TokenIndex>,
        calls: &mut Vec<(Address, Bytes)>,
    ) -> Self {
        let mut conditions = Vec::new();
        gate.conditions(&mut conditions);
        let candidates: Vec<Vec<U256>> = conditions
            .iter()
            .map(|c| match (c.any_token_collection(), index) {
                (Some(contract), Some(index)) => {
                    index.candidates(contract, holder, MAX_INDEX_CANDIDATES)
                }
                _ => Vec::new(),
            })
            .collect();
        let spans = conditions
            .iter()
            .zip(&candidates)
            .map(|(c, ids)| {
                let before = calls.len();
                plan(c, holder, ids, calls);
                before..calls.len()
            })
            .collect();
        Self {
            gate,
            holder,
            conditions,
            spans,
            candidates,
        }
    }
}

fn owner_of(id: U256) -> Bytes {
    IERC721::ownerOfCall { tokenId: id }.abi_encode().into()
}

fn decode_owner(answer: Option<&Bytes>) -> Option<Address> {
    IERC721::ownerOfCall::abi_decode_returns(answer?).ok()
}

/// A balance; a reverted or undecodable read (no such contract, or not a token) is zero.
fn decode_balance(answer: &Answer) -> U256 {
    answer
        .as_ref()
        .and_then(|a| IERC20::balanceOfCall::abi_decode_returns(a).ok())
        .unwrap_or_default()
}

/// The reads that decide condition `c` for `holder`, with the owners of `candidates`.
fn plan(c: &Condition, holder: Address, candidates: &[U256], calls: &mut Vec<(Address, Bytes)>) {
    match c {
        Condition::Erc721 {
            contract,
            token_ids: Some(ids),
        } => calls.extend(ids.iter().map(|id| (*contract, owner_of(id.0)))),
        Condition::Erc721 {
            contract,
            token_ids: None,
        } => {
            let balance = IERC721::balanceOfCall { owner: holder };
            // Fails on collections that are not enumerable; then the logs name the token.
            let first = IERC721::tokenOfOwnerByIndexCall {
                owner: holder,
                index: U256::ZERO,
            };
            calls.push((*contract, balance.abi_encode().into()));
            calls.push((*contract, first.abi_encode().into()));
            calls.extend(candidates.iter().map(|id| (*contract, owner_of(*id))));
        }
        Condition::Erc1155 {
            contract, token_id, ..
        } => {
            let call = IERC1155::balanceOfCall {
                account: holder,
                id: token_id.0,
            };
            calls.push((*contract, call.abi_encode().into()));
        }
        Condition::Erc20 { contract, .. } => {
            let call = IERC20::balanceOfCall { account: holder };
            calls.push((*contract, call.abi_encode().into()));
        }
    }
}

/// What the answers to `plan`'s reads say of condition `c` for `holder`.
fn judge(c: &Condition, holder: Address, answers: &[Answer], candidates: &[U256]) -> Outcome {
    match c {
        Condition::Erc721 {
            contract,
            token_ids: Some(ids),
        } => {
            let held = ids
                .iter()
                .zip(answers)
                .find(|(_, a)| decode_owner(a.as_ref()) == Some(holder));
            match held {
                Some((id, _)) => admitted("erc721", *contract, Some(*id)),
                None => {
                    let list: Vec<String> = ids.iter().map(Dec::to_string).collect();
                    refused(format!(
                        "holds none of tokens [{}] of {contract} (ERC-721); needs 1",
                        list.join(", ")
                    ))
                }
            }
        }
        Condition::Erc721 {
            contract,
            token_ids: None,
        } => {
            let balance = decode_balance(&answers[0]);
            if balance.is_zero() {
                refused(format!("holds 0 of {contract} (ERC-721); needs 1"))
            } else {
                let listed = answers[1]
                    .as_ref()
                    .and_then(|a| IERC721::tokenOfOwnerByIndexCall::abi_decode_returns(a).ok());
                let indexed = || {
                    candidates
                        .iter()
                        .zip(&answers[2..])
                        .find(|(_, a)| decode_owner(a.as_ref()) == Some(holder))
                        .map(|(id, _)| *id)
                };
                match listed.or_else(indexed) {
                    Some(id) => admitted("erc721", *contract, Some(Dec(id))),
                    None => Outcome::Unnamed {
                        contract: *contract,
                        balance,
                    },
                }
            }
        }
        Condition::Erc1155 {
            contract,
            token_id,
            min_balance,
        } => {
            let balance = decode_balance(&answers[0]);
            if balance >= min_balance.0 {
                admitted("erc1155", *contract, Some(*token_id))
            } else {
                refused(format!(
                    "holds {balance} of token {token_id} of {contract} (ERC-1155); needs {min_balance}"
                ))
            }
        }
        Condition::Erc20 {
            contract,
            min_balance,
        } => {
            let balance = decode_balance(&answers[0]);
            if balance >= min_balance.0 {
                admitted("erc20", *contract, None)
            } else {
                refused(format!(
                    "holds {balance} of {contract} (ERC-20); needs {min_balance}"
                ))
            }
        }
    }
}

/// Whether `gate` holds given its conditions' outcomes (in [`Gate::conditions`] order, from
/// `next` on): the index of the condition whose ticket admits (`any`: its first satisfied
/// member; `all`: its first member), or every failed condition's reason.
fn combine(gate: &Gate, outcomes: &[Outcome], next: &mut usize) -> Result<usize, Vec<String>> {
    let (rules, need_all) = match gate {
        Gate::Any(r) => (r, false),
        Gate::All(r) => (r, true),
    };
    let mut reasons = Vec::new();
    let mut ticket = None;
    let mut failed = false;
    // Every member is visited, even after the outcome is known, to keep `next` aligned.
    for rule in rules {
        let member = match rule {
            Rule::Group(g) => combine(g, outcomes, next),
            Rule::Condition(_) => {
                let i = *next;
                *next += 1;
                match outcomes.get(i) {
                    Some(Outcome::Refused(r)) => Err(vec![r.clone()]),
                    Some(_) => Ok(i),
                    None => Err(Vec::new()),
                }
            }
        };
        match member {
            Ok(i) => {
                ticket.get_or_insert(i);
            }
            Err(r) => {
                failed = true;
                reasons.extend(r);
            }
        }
    }
    match ticket {
        Some(i) if !need_all || !failed => Ok(i),
        _ => Err(reasons),
    }
}

fn admitted(kind: &'static str, contract: Address, token_id: Option<Dec>) -> Outcome {
    Outcome::Admitted(Ticket {
        kind,
        contract,
        token_id,
        vault: None,
    })
}

fn refused(reason: String) -> Outcome {
    Outcome::Refused(reason)
}
