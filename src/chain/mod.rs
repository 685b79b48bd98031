//! Chain access through alloy: contract bindings, a read helper that tells reverts from
//! outages, deployment, and the local Anvil launcher.

pub mod anvil;
pub mod bindings;
pub mod deploy;

use std::future::IntoFuture;
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use url::Url;

/// How long one RPC read may take before the chain counts as unavailable.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A read-only connection to the chain.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The JSON-RPC provider.
    pub provider: DynProvider,
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
    /// Connects to `rpc_url` (no request is sent yet).
    pub fn connect(rpc_url: &Url) -> Self {
        let provider = ProviderBuilder::new()
            .connect_http(rpc_url.clone())
            .erased();
        Self { provider }
    }

    /// Whether the node answers, with the chain id it reports.
    pub async fn chain_id(&self) -> Result<u64, ReadError> {
        match tokio::time::timeout(READ_TIMEOUT, self.provider.get_chain_id()).await {
            Ok(Ok(id)) => Ok(id),
            _ => Err(ReadError::Unavailable),
        }
    }
}

/// Runs one contract read with a deadline and classifies its failure.
pub async fn read<T>(
    call: impl IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> Result<T, ReadError> {
    match tokio::time::timeout(READ_TIMEOUT, call.into_future()).await {
        Err(_) => Err(ReadError::Unavailable),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(&e)),
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
