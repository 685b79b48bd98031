//! Chain access through alloy: contract bindings, a read helper that tells reverts from
//! outages, deployment, and the local Anvil launcher.

pub mod anvil;
pub mod batch;
pub mod bindings;
pub mod deploy;

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use url::Url;

use crate::time_util::now_ms;

/// How long one attempt of an RPC read may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause before each retry of a read the node did not answer; then it counts as unavailable.
const BACKOFF: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(400)];

/// A read-only connection to the chain.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The JSON-RPC provider.
    pub provider: DynProvider,
    /// `eth_call`s of concurrent gate reads, sent together.
    pub calls: batch::CallBatcher,
}

/// Why a contract read produced no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The node answered: the call reverted or returned nothing decodable (e.g. no contract).
    Reverted,
    /// The node did not answer properly (connection, timeout, server error).
    Unavailable,
}

impl Chain {
    /// Connects to `rpc_url` (no request is sent yet); inside a Tokio runtime.
    pub fn connect(rpc_url: &Url) -> Self {
        Self::connect_batching(rpc_url, batch::MAX_BATCH)
    }

    /// Like [`Chain::connect`], with at most `max_batch` gate reads in one JSON-RPC batch.
    pub fn connect_batching(rpc_url: &Url, max_batch: usize) -> Self {
        // One HTTP client, so the provider and the batcher share their connections to the node.
        let client = reqwest::Client::new();
        let provider = ProviderBuilder::new()
            .connect_reqwest(client.clone(), rpc_url.clone())
            .erased();
        Self {
            calls: batch::CallBatcher::spawn(client, rpc_url.clone(), max_batch),
            provider,
        }
    }

    /// Whether the node answers, with the chain id it reports.
    pub async fn chain_id(&self) -> Result<u64, ReadError> {
        rpc(|| self.provider.get_chain_id()).await
    }

    /// The number of the newest block.
    pub async fn block_number(&self) -> Result<u64, ReadError> {
        rpc(|| self.provider.get_block_number()).await
    }
}

/// The newest block whose transfers have been followed, as the follower publishes it: gate
/// results are cached for this block only.
#[derive(Debug, Default)]
pub struct Head {
    block: AtomicU64,
    at_ms: AtomicI64,
}

impl Head {
    /// The block last published (0 before the first).
    pub fn block(&self) -> u64 {
        self.block.load(Ordering::Acquire)
    }

    /// Publishes `block` as followed, now.
    pub fn publish(&self, block: u64) {
        self.block.store(block, Ordering::Release);
        self.at_ms.store(now_ms(), Ordering::Release);
    }

    /// Whether a block was published within `within`: if not, transfers are not being
    /// followed, and nobody may be admitted on the strength of a revocation that cannot come.
    pub fn is_fresh(&self, within: Duration) -> bool {
        let at = self.at_ms.load(Ordering::Acquire);
        at > 0 && now_ms() - at <= within.as_millis() as i64
    }
}

/// Runs one contract read with a deadline per attempt and bounded retries, and classifies its
/// failure: a revert is an answer and is not retried.
pub async fn read<T, Fut>(call: impl FnMut() -> Fut) -> Result<T, ReadError>
where
    Fut: Future<Output = Result<T, alloy::contract::Error>>,
{
    retrying(call, classify).await
}

/// Runs one plain JSON-RPC request like [`read`]; any failure counts as unavailable.
pub async fn rpc<T, E, Fut>(call: impl FnMut() -> Fut) -> Result<T, ReadError>
where
    Fut: Future<Output = Result<T, E>>,
{
    retrying(call, |_| ReadError::Unavailable).await
}

async fn retrying<T, E, Fut>(
    mut call: impl FnMut() -> Fut,
    classify: impl Fn(&E) -> ReadError,
) -> Result<T, ReadError>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut pauses = BACKOFF.iter();
    loop {
        let failure = match tokio::time::timeout(ATTEMPT_TIMEOUT, call()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => classify(&e),
            Err(_) => ReadError::Unavailable,
        };
        match (failure, pauses.next()) {
            (ReadError::Unavailable, Some(pause)) => tokio::time::sleep(*pause).await,
            (failure, _) => return Err(failure),
        }
    }
}

fn classify(e: &alloy::contract::Error) -> ReadError {
    use alloy::contract::Error;
    match e {
        Error::TransportError(t) => match t.as_error_resp() {
            // Execution errors come back as JSON-RPC error objects (code 3, or "revert" text).
            Some(resp) if resp.code == 3 || resp.message.contains("revert") => ReadError::Reverted,
            _ => ReadError::Unavailable,
        },
        // Zero or undecodable return data: the address holds no such contract.
        _ => ReadError::Reverted,
    }
}
