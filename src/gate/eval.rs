//! Evaluation of a gate for one wallet against the chain, with the ticket that admitted it.

use std::future::Future;
use std::pin::Pin;

use alloy::primitives::{Address, FixedBytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use super::rules::{Condition, Dec, Gate, Rule};
use crate::chain::bindings::{IERC20, IERC721, IERC1155};
use crate::chain::{Chain, ReadError, read};

/// ERC-165 interface id of ERC721Enumerable.
const ERC721_ENUMERABLE: FixedBytes<4> = FixedBytes([0x78, 0x0e, 0x9d, 0x63]);
/// How many past incoming transfers are checked to name a held token of a non-enumerable collection.
const MAX_LOG_CANDIDATES: usize = 64;

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
}

/// The outcome of a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted by this ticket.
    Admitted(Ticket),
    /// Refused; each entry says which condition failed and why.
    Refused(Vec<String>),
}

type Eval<'a> = Pin<Box<dyn Future<Output = Result<Verdict, ReadError>> + Send + 'a>>;

/// Checks gates against the chain.
#[derive(Clone, Debug)]
pub struct GateChecker {
    chain: Chain,
}

impl GateChecker {
    /// A checker reading through `chain`.
    pub fn new(chain: Chain) -> Self {
        Self { chain }
    }

    /// Whether `holder` satisfies `gate` now; `Err` when the chain could not answer.
    pub async fn check(&self, gate: &Gate, holder: Address) -> Result<Verdict, ReadError> {
        self.group(gate, holder).await
    }

    fn group<'a>(&'a self, gate: &'a Gate, holder: Address) -> Eval<'a> {
        Box::pin(async move {
            let (rules, need_all) = match gate {
                Gate::Any(r) => (r, false),
                Gate::All(r) => (r, true),
            };
            let mut reasons = Vec::new();
            let mut first_ticket = None;
            for rule in rules {
                let verdict = match rule {
                    Rule::Group(g) => self.group(g, holder).await?,
                    Rule::Condition(c) => self.condition(c, holder).await?,
                };
                match verdict {
                    Verdict::Admitted(t) if !need_all => return Ok(Verdict::Admitted(t)),
                    Verdict::Admitted(t) => {
                        first_ticket.get_or_insert(t);
                    }
                    Verdict::Refused(r) if need_all => return Ok(Verdict::Refused(r)),
                    Verdict::Refused(r) => reasons.extend(r),
                }
            }
            Ok(match first_ticket {
                Some(t) if need_all => Verdict::Admitted(t),
                _ => Verdict::Refused(reasons),
            })
        })
    }

    async fn condition(&self, c: &Condition, holder: Address) -> Result<Verdict, ReadError> {
        let p = &self.chain.provider;
        match c {
            Condition::Erc721 {
                contract,
                token_ids: Some(ids),
            } => {
                let nft = IERC721::new(*contract, p);
                for id in ids {
                    match read(nft.ownerOf(id.0).call()).await {
                        Ok(owner) if owner == holder => {
                            return Ok(admitted("erc721", *contract, Some(*id)));
                        }
                        Ok(_) | Err(ReadError::Reverted) => {}
                        Err(e) => return Err(e),
                    }
                }
                let list: Vec<String> = ids.iter().map(Dec::to_string).collect();
                Ok(refused(format!(
                    "holds none of tokens [{}] of {contract} (ERC-721); needs 1",
                    list.join(", ")
                )))
            }
            Condition::Erc721 {
                contract,
                token_ids: None,
            } => {
                let nft = IERC721::new(*contract, p);
                let balance = or_zero(read(nft.balanceOf(holder).call()).await)?;
                if balance.is_zero() {
                    return Ok(refused(format!("holds 0 of {contract} (ERC-721); needs 1")));
                }
                match self.held_token_id(*contract, holder).await? {
                    Some(id) => Ok(admitted("erc721", *contract, Some(Dec(id)))),
                    None => Ok(refused(format!(
                        "holds {balance} of {contract} (ERC-721) but no held token id could be found"
                    ))),
                }
            }
            Condition::Erc1155 {
                contract,
                token_id,
                min_balance,
            } => {
                let t = IERC1155::new(*contract, p);
                let balance = or_zero(read(t.balanceOf(holder, token_id.0).call()).await)?;
                Ok(if balance >= min_balance.0 {
                    admitted("erc1155", *contract, Some(*token_id))
                } else {
                    refused(format!(
                        "holds {balance} of token {token_id} of {contract} (ERC-1155); needs {min_balance}"
                    ))
                })
            }
            Condition::Erc20 {
                contract,
                min_balance,
            } => {
                let t = IERC20::new(*contract, p);
                let balance = or_zero(read(t.balanceOf(holder).call()).await)?;
                Ok(if balance >= min_balance.0 {
                    admitted("erc20", *contract, None)
                } else {
                    refused(format!(
                        "holds {balance} of {contract} (ERC-20); needs {min_balance}"
                    ))
                })
            }
        }
    }

    /// A token id of `contract` that `holder` owns now: by index when the collection is
    /// enumerable, else from the `Transfer` logs that sent tokens to the holder, newest first.
    async fn held_token_id(
        &self,
        contract: Address,
        holder: Address,
    ) -> Result<Option<U256>, ReadError> {
        let p = &self.chain.provider;
        let nft = IERC721::new(contract, p);
        if read(nft.supportsInterface(ERC721_ENUMERABLE).call()).await == Ok(true) {
            match read(nft.tokenOfOwnerByIndex(holder, U256::ZERO).call()).await {
                Ok(id) => return Ok(Some(id)),
                Err(ReadError::Unavailable) => return Err(ReadError::Unavailable),
                Err(ReadError::Reverted) => {}
            }
        }
        let filter = Filter::new()
            .address(contract)
            .event_signature(IERC721::Transfer::SIGNATURE_HASH)
            .topic2(holder.into_word())
            .from_block(0);
        let logs = tokio::time::timeout(std::time::Duration::from_secs(10), p.get_logs(&filter))
            .await
            .map_err(|_| ReadError::Unavailable)?
            .map_err(|_| ReadError::Unavailable)?;
        let mut seen = Vec::new();
        for log in logs.iter().rev() {
            let Some(id) = log.topics().get(3).map(|t| U256::from_be_bytes(t.0)) else {
                continue;
            };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            if seen.len() > MAX_LOG_CANDIDATES {
                break;
            }
            match read(nft.ownerOf(id).call()).await {
                Ok(owner) if owner == holder => return Ok(Some(id)),
                Ok(_) | Err(ReadError::Reverted) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// A reverted balance read (no such contract, or not a token) counts as holding nothing.
fn or_zero(r: Result<U256, ReadError>) -> Result<U256, ReadError> {
    match r {
        Err(ReadError::Reverted) => Ok(U256::ZERO),
        other => other,
    }
}

fn admitted(kind: &'static str, contract: Address, token_id: Option<Dec>) -> Verdict {
    Verdict::Admitted(Ticket {
        kind,
        contract,
        token_id,
    })
}

fn refused(reason: String) -> Verdict {
    Verdict::Refused(vec![reason])
}
