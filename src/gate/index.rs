//! Who holds which token of the ERC-721 collections that "any token" gates name, kept from
//! their `Transfer` logs by the chain follower.
//!
//! Most collections (OpenZeppelin's default among them) cannot list a holder's tokens, so
//! without this a join would have to search the holder's incoming transfers before it could
//! name its ticket: two more round trips. With it, the join puts `ownerOf` of the holder's
//! indexed tokens into its one `aggregate3` call. The index only proposes: every candidate is
//! read on chain in that call, and a holder the index does not know yet falls back to the log
//! search, so a stale index costs round trips, never a wrong admission.

use std::collections::HashMap;
use std::sync::RwLock;

use alloy::primitives::{Address, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;

use crate::chain::bindings::IERC721;

/// The holders' token ids, per indexed collection.
#[derive(Debug, Default)]
pub struct TokenIndex {
    collections: RwLock<HashMap<Address, Collection>>,
}

/// Each holder's ids, in the order received.
#[derive(Debug, Default)]
struct Collection {
    held: HashMap<Address, Vec<U256>>,
}

impl Collection {
    fn apply(&mut self, from: Address, to: Address, id: U256) {
        if let Some(ids) = self.held.get_mut(&from) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.held.remove(&from);
            }
        }
        if !to.is_zero() {
            self.held.entry(to).or_default().push(id);
        }
    }
}

impl TokenIndex {
    /// Up to `max` ids of `contract` that `holder` held at the last followed block, newest
    /// first; empty when the collection is not indexed.
    pub fn candidates(&self, contract: Address, holder: Address, max: usize) -> Vec<U256> {
        let Ok(collections) = self.collections.read() else {
            return Vec::new();
        };
        collections
            .get(&contract)
            .and_then(|c| c.held.get(&holder))
            .map(|ids| ids.iter().rev().take(max).copied().collect())
            .unwrap_or_default()
    }

    /// Whether `contract` is indexed.
    pub fn contains(&self, contract: Address) -> bool {
        self.collections
            .read()
            .is_ok_and(|c| c.contains_key(&contract))
    }

    /// Indexes `contract` from `logs`, all of its transfers up to a followed block.
    pub fn insert(&self, contract: Address, logs: &[Log]) {
        let mut collection = Collection::default();
        for (_, from, to, id) in logs.iter().filter_map(transfer) {
            collection.apply(from, to, id);
        }
        if let Ok(mut collections) = self.collections.write() {
            collections.insert(contract, collection);
        }
    }

    /// Applies newly followed `logs` (of any contract) to the indexed collections.
    pub fn apply(&self, logs: &[Log]) {
        let Ok(mut collections) = self.collections.write() else {
            return;
        };
        for (contract, from, to, id) in logs.iter().filter_map(transfer) {
            if let Some(c) = collections.get_mut(&contract) {
                c.apply(from, to, id);
            }
        }
    }

    /// Keeps only the collections in `wanted`.
    pub fn retain(&self, wanted: &[Address]) {
        if let Ok(mut collections) = self.collections.write() {
            collections.retain(|c, _| wanted.contains(c));
        }
    }
}

/// An ERC-721 `Transfer` (ERC-20's has the same signature but leaves the amount unindexed).
fn transfer(log: &Log) -> Option<(Address, Address, Address, U256)> {
    match log.topics() {
        [sig, from, to, id] if *sig == IERC721::Transfer::SIGNATURE_HASH => Some((
            log.address(),
            Address::from_word(*from),
            Address::from_word(*to),
            U256::from_be_bytes(id.0),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, LogData};

    fn log(contract: Address, from: Address, to: Address, id: u64) -> Log {
        let topics = vec![
            IERC721::Transfer::SIGNATURE_HASH,
            from.into_word(),
            to.into_word(),
            B256::from(U256::from(id)),
        ];
        Log {
            inner: alloy::primitives::Log {
                address: contract,
                data: LogData::new_unchecked(topics, Default::default()),
            },
            ..Default::default()
        }
    }

    #[test]
    fn follows_mints_transfers_and_burns() {
        let (pass, other) = (Address::repeat_byte(1), Address::repeat_byte(9));
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let index = TokenIndex::default();
        index.insert(
            pass,
            &[
                log(pass, Address::ZERO, a, 1),
                log(pass, Address::ZERO, a, 2),
            ],
        );
        assert_eq!(index.candidates(pass, a, 8), [U256::from(2), U256::from(1)]);
        index.apply(&[
            log(pass, a, b, 2),
            log(other, Address::ZERO, a, 5),
            log(pass, a, Address::ZERO, 1),
        ]);
        assert!(index.candidates(pass, a, 8).is_empty());
        assert_eq!(index.candidates(pass, b, 8), [U256::from(2)]);
        assert!(!index.contains(other), "only indexed collections are kept");
        index.retain(&[]);
        assert!(index.candidates(pass, b, 8).is_empty());
    }
}
