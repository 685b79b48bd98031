//! Admissions of the current block: a viewer who renews their stream token, or joins again
//! from another tab, is not read from the chain twice in one block.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use alloy::primitives::Address;

use super::eval::Ticket;
use super::rules::Gate;

/// Most admissions kept for one block; beyond, joins read the chain.
const MAX_ENTRIES: usize = 100_000;

/// Admissions, valid for the block they were read at and until a newer one is followed.
///
/// Only admissions are kept: a refusal read again costs a round trip, while a cached one
/// would keep out, for up to a block, a viewer whose ticket just arrived.
#[derive(Debug, Default)]
pub struct BlockCache {
    hasher: RandomState,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    block: u64,
    entries: HashMap<(u64, Address), (Gate, Ticket)>,
}

impl BlockCache {
    /// The ticket that admitted `holder` through `gate` at a block not older than `head`.
    pub fn get(&self, head: u64, gate: &Gate, holder: Address) -> Option<(Ticket, u64)> {
        let key = (self.hasher.hash_one(gate), holder);
        let inner = self.inner.lock().ok()?;
        if inner.block < head {
            return None;
        }
        match inner.entries.get(&key) {
            Some((g, ticket)) if g == gate => Some((ticket.clone(), inner.block)),
            _ => None,
        }
    }

    /// Keeps that `ticket` admitted `holder` through `gate` at `block`.
    pub fn put(&self, block: u64, gate: &Gate, holder: Address, ticket: &Ticket) {
        let key = (self.hasher.hash_one(gate), holder);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if block > inner.block {
            inner.block = block;
            inner.entries.clear();
        }
        if block == inner.block && inner.entries.len() < MAX_ENTRIES {
            inner.entries.insert(key, (gate.clone(), ticket.clone()));
        }
    }
}
