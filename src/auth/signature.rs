//! Whose signature is this: EIP-191 recovery for ordinary accounts (libsecp256k1, no I/O),
//! EIP-1271 `isValidSignature` for deployed contract accounts such as Safe, and EIP-6492 for
//! accounts not deployed yet, checked by a deployless `eth_call` of `SignatureValidator6492`.

use std::future::IntoFuture;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, FixedBytes, Signature};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolConstructor};

use crate::chain::bindings::{IERC1271, SignatureValidator6492};
use crate::chain::{self, Chain, ReadError};

/// How long a contract account's answer may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The last 32 bytes of an EIP-6492-wrapped signature.
pub const EIP6492_SUFFIX: [u8; 32] =
    alloy::hex!("6492649264926492649264926492649264926492649264926492649264926492");

/// Why a signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is not the address's.
    #[error("{0}")]
    Invalid(String),
    /// A contract account had to be asked and the chain did not answer.
    #[error("the chain did not answer while checking a contract account's signature")]
    ChainUnavailable,
}

/// Checks that `signature` over `hash` (the EIP-191 hash of the message) is `address`'s.
pub async fn verify(
    chain: &Chain,
    address: Address,
    hash: B256,
    signature: &[u8],
) -> Result<(), SignatureError> {
    if signature.ends_with(&EIP6492_SUFFIX) {
        return counterfactual(chain, address, hash, signature).await;
    }
    if let Ok(sig) = Signature::from_raw(signature)
        && sig.recover_address_from_prehash(&hash).ok() == Some(address)
    {
        return Ok(());
    }
    // Not the key's: maybe the address is a contract account that vouches for it.
    let account = IERC1271::new(address, &chain.provider);
    let call = account.isValidSignature(hash, Bytes::copy_from_slice(signature));
    match chain::read(|| call.call().into_future()).await {
        Ok(magic) if magic == FixedBytes(IERC1271::isValidSignatureCall::SELECTOR) => Ok(()),
        Ok(_) | Err(ReadError::Reverted) => Err(SignatureError::Invalid(format!(
            "signature is not {address}'s (neither its key's nor, by EIP-1271, its contract's)"
        ))),
        Err(ReadError::Unavailable) => Err(SignatureError::ChainUnavailable),
    }
}

async fn counterfactual(
    chain: &Chain,
    address: Address,
    hash: B256,
    signature: &[u8],
) -> Result<(), SignatureError> {
    let args = SignatureValidator6492::constructorCall {
        signer: address,
        hash,
        signature: Bytes::copy_from_slice(signature),
    }
    .abi_encode();
    let mut code = SignatureValidator6492::BYTECODE.to_vec();
    code.extend_from_slice(&args);
    let tx = TransactionRequest::default().input(Bytes::from(code).into());
    let answer = tokio::time::timeout(CALL_TIMEOUT, chain.provider.call(tx))
        .await
        .map_err(|_| SignatureError::ChainUnavailable)?;
    match answer {
        Ok(out) if out.as_ref() == [1u8] => Ok(()),
        Ok(_) => Err(SignatureError::Invalid(format!(
            "signature is not {address}'s (EIP-6492: the account, once deployed, refuses it)"
        ))),
        Err(e) if e.as_error_resp().is_some() => Err(SignatureError::Invalid(format!(
            "signature is not {address}'s (EIP-6492: malformed wrapper or failed deployment)"
        ))),
        Err(_) => Err(SignatureError::ChainUnavailable),
    }
}
