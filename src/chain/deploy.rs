//! `marquee deploy`: puts Marquee's contracts on a chain from a key.

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use serde::Serialize;
use url::Url;

use super::bindings::{
    AttendancePOAP, DelegateRegistry, DemoBadge, DemoToken, Multicall3, ScreeningPass,
};
use crate::config::{CANONICAL_DELEGATE_REGISTRY, CANONICAL_MULTICALL3};

/// Addresses of the deployed contracts, printed as JSON by `marquee deploy`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Deployment {
    /// AttendancePOAP.
    #[serde(serialize_with = "crate::model::eip55")]
    pub poap: Address,
    /// Multicall3: the canonical deployment where the chain has it, else Marquee's own.
    #[serde(serialize_with = "crate::model::eip55")]
    pub multicall3: Address,
    /// delegate.xyz v2 registry: the canonical deployment where the chain has it, else
    /// Marquee's own with the same interface.
    #[serde(serialize_with = "crate::model::eip55")]
    pub delegate_registry: Address,
    /// ScreeningPass (demo ticket collection), when asked for.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::eip55_opt",
        default
    )]
    pub pass: Option<Address>,
    /// DemoToken (ERC-20) and DemoBadge (ERC-1155), when demo tokens were asked for.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::eip55_opt",
        default
    )]
    pub erc20: Option<Address>,
    /// DemoBadge (ERC-1155).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::eip55_opt",
        default
    )]
    pub erc1155: Option<Address>,
}

/// A deployment failure.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The key is not a hex private key.
    #[error("the deployer key is not a 32-byte hex private key")]
    BadKey,
    /// The chain refused or failed.
    #[error("deployment failed: {0}")]
    Chain(String),
}

/// The signer of `key` (hex private key).
pub fn signer(key: &str) -> Result<PrivateKeySigner, DeployError> {
    key.trim().parse().map_err(|_| DeployError::BadKey)
}

/// A provider that signs with `key` (hex private key).
pub fn signing_provider(rpc_url: &Url, key: &str) -> Result<(DynProvider, Address), DeployError> {
    let signer = signer(key)?;
    let from = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(rpc_url.clone())
        .erased();
    Ok((provider, from))
}

/// Deploys AttendancePOAP (tokenURI base `poap_base_uri`) administered and minted by the key's
/// account, Multicall3 and the delegate.xyz v2 registry unless the chain has the canonical
/// ones, and with `demo` the demo ticket
/// collections too.
pub async fn deploy(
    provider: &DynProvider,
    admin: Address,
    poap_base_uri: &str,
    demo: bool,
) -> Result<Deployment, DeployError> {
    let err = |e: alloy::contract::Error| DeployError::Chain(e.to_string());
    let poap = AttendancePOAP::deploy(provider, poap_base_uri.to_string(), admin)
        .await
        .map_err(err)?;
    let multicall3 = match provider.get_code_at(CANONICAL_MULTICALL3).await {
        Ok(code) if !code.is_empty() => CANONICAL_MULTICALL3,
        _ => *Multicall3::deploy(provider).await.map_err(err)?.address(),
    };
    let delegate_registry = match provider.get_code_at(CANONICAL_DELEGATE_REGISTRY).await {
        Ok(code) if !code.is_empty() => CANONICAL_DELEGATE_REGISTRY,
        _ => *DelegateRegistry::deploy(provider)
            .await
            .map_err(err)?
            .address(),
    };
    let mut out = Deployment {
        poap: *poap.address(),
        multicall3,
        delegate_registry,
        pass: None,
        erc20: None,
        erc1155: None,
    };
    if demo {
        let pass = ScreeningPass::deploy(
            provider,
            "Marquee Screening Pass".into(),
            "PASS".into(),
            admin,
        )
        .await
        .map_err(err)?;
        out.pass = Some(*pass.address());
        let erc20 = DemoToken::deploy(provider, "Marquee Demo Token".into(), "MQD".into(), admin)
            .await
            .map_err(err)?;
        out.erc20 = Some(*erc20.address());
        let erc1155 = DemoBadge::deploy(
            provider,
            "https://marquee.invalid/badge/{id}.json".into(),
            admin,
        )
        .await
        .map_err(err)?;
        out.erc1155 = Some(*erc1155.address());
    }
    Ok(out)
}

/// Whether every contract of `d` has code on the chain (a restarted dev chain may have lost them).
pub async fn is_live(provider: &DynProvider, d: &Deployment) -> bool {
    for addr in [
        Some(d.poap),
        Some(d.multicall3),
        Some(d.delegate_registry),
        d.pass,
        d.erc20,
        d.erc1155,
    ]
    .into_iter()
    .flatten()
    {
        match provider.get_code_at(addr).await {
            Ok(code) if !code.is_empty() => {}
            _ => return false,
        }
    }
    true
}
