//! delegate.xyz v2 delegations: which vaults lent a wallet their tickets, and what part of a
//! gate each delegation covers.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;

use super::probe::MAX_VAULTS;
use super::rules::{Condition, Dec, Gate, Rule};
use crate::chain::bindings::DelegateRegistry;

/// What a vault delegated to a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    Contract(Address),
    Token(Address, U256),
}

/// For each vault that delegated to the wallet something `gate` reads, the gate as that
/// delegation lets the wallet use it: conditions outside the delegation cannot hold.
///
/// Only full delegations count (empty `rights`); a delegation for other rights was not meant
/// to open screenings. `answer` is the return data of `getIncomingDelegations`, none if it
/// failed (no registry there): then nobody has delegated. The vaults are those `GateProbe`
/// reads, in the same order and under the same rules.
pub fn vault_gates(gate: &Gate, answer: Option<&Bytes>) -> Vec<(Address, Gate)> {
    let Some(list) = answer
        .and_then(|a| DelegateRegistry::getIncomingDelegationsCall::abi_decode_returns(a).ok())
    else {
        return Vec::new();
    };
    let contracts = gate.contracts();
    let mut vaults: Vec<(Address, Vec<Scope>)> = Vec::new();
    for d in list {
        // DelegationType: NONE, ALL, CONTRACT, ERC721, ERC20, ERC1155.
        let scope = match d.type_ {
            1 => Scope::All,
            2 => Scope::Contract(d.contract_),
            3 => Scope::Token(d.contract_, d.tokenId),
            _ => continue,
        };
        let relevant = match &scope {
            Scope::All => true,
            Scope::Contract(c) | Scope::Token(c, _) => contracts.contains(c),
        };
        if !d.rights.is_zero() || !relevant || d.from.is_zero() {
            continue;
        }
        let full = vaults.len() >= MAX_VAULTS;
        match vaults.iter_mut().find(|(v, _)| *v == d.from) {
            Some((_, scopes)) => scopes.push(scope),
            None if !full => vaults.push((d.from, vec![scope])),
            None => {}
        }
    }
    vaults
        .into_iter()
        .map(|(vault, scopes)| (vault, scoped(gate, &scopes)))
        .collect()
}

fn scoped(gate: &Gate, scopes: &[Scope]) -> Gate {
    if scopes.contains(&Scope::All) {
        return gate.clone();
    }
    let map = |rules: &Vec<Rule>| {
        rules
            .iter()
            .map(|r| match r {
                Rule::Group(g) => Rule::Group(scoped(g, scopes)),
                Rule::Condition(c) => Rule::Condition(scoped_condition(c, scopes)),
            })
            .collect()
    };
    match gate {
        Gate::Any(rules) => Gate::Any(map(rules)),
        Gate::All(rules) => Gate::All(map(rules)),
    }
}

fn scoped_condition(c: &Condition, scopes: &[Scope]) -> Condition {
    let contract = c.contract();
    if scopes.contains(&Scope::Contract(contract)) {
        return c.clone();
    }
    // Token delegations narrow an ERC-721 condition to the delegated ids; any other condition
    // becomes one that nobody meets (an empty id list).
    let delegated = scopes.iter().filter_map(|s| match s {
        Scope::Token(c, id) if *c == contract => Some(Dec(*id)),
        _ => None,
    });
    let ids = match c {
        Condition::Erc721 {
            token_ids: Some(ids),
            ..
        } => delegated.filter(|id| ids.contains(id)).collect(),
        Condition::Erc721 {
            token_ids: None, ..
        } => delegated.collect(),
        _ => Vec::new(),
    };
    Condition::Erc721 {
        contract,
        token_ids: Some(ids),
    }
}
