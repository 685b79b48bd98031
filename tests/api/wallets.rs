//! Contract accounts sign in: a real Safe (v1.4.1, the artifacts of the npm package
//! `@safe-global/safe-contracts`) deployed on Anvil answers EIP-1271, and a Safe that is not
//! deployed yet signs with an EIP-6492 wrapper. Owners sign the way Safe apps ask them to:
//! EIP-712 typed data `SafeMessage(bytes message)` over the hash of the SIWE text.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, eip191_hash_message};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolCall, SolStruct, SolValue, eip712_domain};
use serde_json::Value;

use marquee::auth::signature::EIP6492_SUFFIX;

use crate::helpers::*;

sol! {
    #[sol(rpc)]
    #[allow(clippy::too_many_arguments)]
    interface ISafe {
        function setup(address[] owners, uint256 threshold, address to, bytes data,
            address fallbackHandler, address paymentToken, uint256 payment, address paymentReceiver) external;
        function getOwners() external view returns (address[]);
    }

    #[sol(rpc)]
    interface ISafeProxyFactory {
        function createProxyWithNonce(address singleton, bytes initializer, uint256 saltNonce)
            external returns (address proxy);
    }

    struct SafeMessage { bytes message; }
}

/// Safe's singleton, proxy factory and fallback handler, deployed from the npm artifacts.
struct SafeKit {
    singleton: Address,
    factory: Address,
    handler: Address,
}

async fn deploy_artifact(app: &TestApp, path: &str) -> Address {
    let file = root()
        .join("anvil/node_modules/@safe-global/safe-contracts/build/artifacts/contracts")
        .join(path);
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let code = alloy::hex::decode(artifact["bytecode"].as_str().unwrap()).unwrap();
    let tx = TransactionRequest::default().with_deploy_code(code);
    let receipt = app
        .admin
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "{path} deploys");
    receipt.contract_address.unwrap()
}

impl SafeKit {
    async fn deploy(app: &TestApp) -> Self {
        Self {
            singleton: deploy_artifact(app, "Safe.sol/Safe.json").await,
            factory: deploy_artifact(app, "proxies/SafeProxyFactory.sol/SafeProxyFactory.json")
                .await,
            handler: deploy_artifact(
                app,
                "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
            )
            .await,
        }
    }

    /// The factory call that creates a 1-of-1 Safe of `owner`.
    fn create_call(
        &self,
        owner: Address,
        salt: u64,
    ) -> ISafeProxyFactory::createProxyWithNonceCall {
        let initializer = ISafe::setupCall {
            owners: vec![owner],
            threshold: U256::from(1),
            to: Address::ZERO,
            data: Bytes::new(),
            fallbackHandler: self.handler,
            paymentToken: Address::ZERO,
            payment: U256::ZERO,
            paymentReceiver: Address::ZERO,
        }
        .abi_encode();
        ISafeProxyFactory::createProxyWithNonceCall {
            singleton: self.singleton,
            initializer: initializer.into(),
            saltNonce: U256::from(salt),
        }
    }

    /// The address the Safe of `owner` has, or will have once created.
    async fn address(&self, app: &TestApp, owner: Address, salt: u64) -> Address {
        let call = self.create_call(owner, salt);
        let factory = ISafeProxyFactory::new(self.factory, &app.admin);
        factory
            .createProxyWithNonce(call.singleton, call.initializer, call.saltNonce)
            .call()
            .await
            .unwrap()
    }

    async fn create(&self, app: &TestApp, owner: Address, salt: u64) -> Address {
        let safe = self.address(app, owner, salt).await;
        let call = self.create_call(owner, salt);
        let factory = ISafeProxyFactory::new(self.factory, &app.admin);
        mined(
            factory
                .createProxyWithNonce(call.singleton, call.initializer, call.saltNonce)
                .send()
                .await,
        )
        .await;
        assert_eq!(
            ISafe::new(safe, &app.admin)
                .getOwners()
                .call()
                .await
                .unwrap(),
            vec![owner]
        );
        safe
    }
}

/// An owner's signature of `hash` for `safe`, as Safe apps ask for it (EIP-712 SafeMessage).
fn safe_signature(owner: &PrivateKeySigner, safe: Address, hash: B256) -> Vec<u8> {
    let domain = eip712_domain! { chain_id: 31337, verifying_contract: safe, };
    let digest = SafeMessage {
        message: hash.to_vec().into(),
    }
    .eip712_signing_hash(&domain);
    owner.sign_hash_sync(&digest).unwrap().as_bytes().to_vec()
}

async fn login_as(
    app: &TestApp,
    account: Address,
    sign: impl Fn(B256) -> Vec<u8>,
) -> reqwest::Response {
    let msg = app.siwe(account).await;
    let sig = sign(eip191_hash_message(&msg));
    app.login_with(&msg, &format!("0x{}", alloy::hex::encode(sig)))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_safe_signs_in_by_eip1271_and_watches_with_its_ticket() {
    let app = spawn_app().await;
    let kit = SafeKit::deploy(&app).await;
    let owner = PrivateKeySigner::random();
    let safe = kit.create(&app, owner.address(), 1).await;

    let r = login_as(&app, safe, |h| safe_signature(&owner, safe, h)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["address"], safe.to_string(), "the Safe, EIP-55");
    let session = body["token"].as_str().unwrap().to_string();

    // Signed by someone who does not own it, or by the owner for another Safe: refused.
    let intruder = PrivateKeySigner::random();
    let r = login_as(&app, safe, |h| safe_signature(&intruder, safe, h)).await;
    assert_problem(r, 401, "signature_invalid").await;
    let r = login_as(&app, safe, |h| {
        safe_signature(&owner, Address::repeat_byte(7), h)
    })
    .await;
    assert_problem(r, 401, "signature_invalid").await;
    // The owner's plain personal_sign is the owner's, not the Safe's.
    let msg = app.siwe(safe).await;
    let r = app.login_with(&msg, &sign(&owner, &msg).await).await;
    assert_problem(r, 401, "signature_invalid").await;

    // The Safe holds the ticket, so the Safe's session is let in.
    let token_id = app.mint_pass(safe).await;
    let event = app.live_event(app.pass_gate()).await;
    let r = app.join(&event, &session).await;
    assert_eq!(r.status(), 200);
    let joined: Value = r.json().await.unwrap();
    assert_eq!(joined["ticket"]["token_id"], token_id.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_safe_not_yet_deployed_signs_in_by_eip6492() {
    let app = spawn_app().await;
    let kit = SafeKit::deploy(&app).await;
    let owner = PrivateKeySigner::random();
    let safe = kit.address(&app, owner.address(), 42).await;
    let wrap = |inner: Vec<u8>| {
        let call = kit.create_call(owner.address(), 42).abi_encode();
        let mut sig = (kit.factory, Bytes::from(call), Bytes::from(inner)).abi_encode_params();
        sig.extend_from_slice(&EIP6492_SUFFIX);
        sig
    };

    let r = login_as(&app, safe, |h| wrap(safe_signature(&owner, safe, h))).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The check simulated the deployment; nothing was deployed.
    assert!(app.admin.get_code_at(safe).await.unwrap().is_empty());

    let intruder = PrivateKeySigner::random();
    let r = login_as(&app, safe, |h| wrap(safe_signature(&intruder, safe, h))).await;
    assert_problem(r, 401, "signature_invalid").await;
    // A wrapper whose factory call makes a different account proves nothing about this one.
    let other = kit.address(&app, intruder.address(), 42).await;
    let r = login_as(&app, other, |h| wrap(safe_signature(&owner, other, h))).await;
    assert_problem(r, 401, "signature_invalid").await;
    // Garbage before the marker is refused, not a server error.
    let r = login_as(&app, safe, |_| {
        let mut s = vec![1, 2, 3];
        s.extend_from_slice(&EIP6492_SUFFIX);
        s
    })
    .await;
    assert_problem(r, 401, "signature_invalid").await;

    // Once deployed, the same kind of wrapped signature is checked against the live Safe.
    kit.create(&app, owner.address(), 42).await;
    let r = login_as(&app, safe, |h| wrap(safe_signature(&owner, safe, h))).await;
    assert_eq!(r.status(), 200);
}
