//! EIP-712 vouchers: the minter's signature that lets an attendee mint their own token with
//! AttendancePOAP's `redeem`, bound to this chain, this contract, one event, one recipient, a
//! deadline and a nonce.

use alloy::primitives::{Address, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct, eip712_domain};
use serde::Serialize;
use serde_json::{Value, json};

use crate::chain::bindings::AttendancePOAP;

sol! {
    /// The voucher as AttendancePOAP's `VOUCHER_TYPEHASH` names it.
    struct Attendance {
        uint256 eventId;
        address recipient;
        uint256 deadline;
        uint256 nonce;
    }
}

/// The EIP-712 domain's name and version, as the contract's constructor sets them.
const NAME: &str = "Marquee Attendance";
const VERSION: &str = "1";

/// Signs vouchers with the minter's key.
pub struct Vouchers {
    signer: PrivateKeySigner,
    domain: Eip712Domain,
    chain_id: u64,
    poap: Address,
}

impl std::fmt::Debug for Vouchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of every output: only who signs, and for which contract.
        f.debug_struct("Vouchers")
            .field("issuer", &self.signer.address())
            .field("poap", &self.poap)
            .finish()
    }
}

/// A signed voucher as the API hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voucher {
    /// The EIP-712 typed data (`eth_signTypedData_v4` shape) that was signed.
    pub typed_data: Value,
    /// The issuer's signature (65 bytes, 0x-hex).
    pub signature: String,
    /// The ready-to-send `redeem` transaction.
    pub tx: RedeemTx,
}

/// A transaction any wallet can send as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedeemTx {
    /// The POAP contract.
    pub to: String,
    /// `redeem(eventId, recipient, deadline, nonce, signature)` calldata.
    pub data: String,
}

impl Vouchers {
    /// Vouchers of `poap` on chain `chain_id`, signed by `signer` (the events' issuer).
    pub fn new(signer: PrivateKeySigner, chain_id: u64, poap: Address) -> Self {
        let domain = eip712_domain! {
            name: NAME,
            version: VERSION,
            chain_id: chain_id,
            verifying_contract: poap,
        };
        Self {
            signer,
            domain,
            chain_id,
            poap,
        }
    }

    /// The voucher for `recipient` of chain event `event`, valid until `deadline` (unix
    /// seconds), with `nonce`.
    pub fn issue(&self, event: U256, recipient: Address, deadline: u64, nonce: u64) -> Voucher {
        let message = Attendance {
            eventId: event,
            recipient,
            deadline: U256::from(deadline),
            nonce: U256::from(nonce),
        };
        let hash = message.eip712_signing_hash(&self.domain);
        // Signing a 32-byte hash with a valid key cannot fail.
        let signature = self
            .signer
            .sign_hash_sync(&hash)
            .map(|s| s.as_bytes())
            .unwrap_or([0; 65]);
        let data = AttendancePOAP::redeemCall {
            eventId: event,
            recipient,
            deadline: message.deadline,
            nonce: message.nonce,
            signature: signature.to_vec().into(),
        }
        .abi_encode();
        let poap = self.poap.to_checksum(None);
        Voucher {
            typed_data: json!({
                "types": {
                    "EIP712Domain": [
                        { "name": "name", "type": "string" },
                        { "name": "version", "type": "string" },
                        { "name": "chainId", "type": "uint256" },
                        { "name": "verifyingContract", "type": "address" },
                    ],
                    "Attendance": [
                        { "name": "eventId", "type": "uint256" },
                        { "name": "recipient", "type": "address" },
                        { "name": "deadline", "type": "uint256" },
                        { "name": "nonce", "type": "uint256" },
                    ],
                },
                "primaryType": "Attendance",
                "domain": {
                    "name": NAME,
                    "version": VERSION,
                    "chainId": self.chain_id,
                    "verifyingContract": poap,
                },
                "message": {
                    "eventId": event.to_string(),
                    "recipient": recipient.to_checksum(None),
                    "deadline": deadline.to_string(),
                    "nonce": nonce.to_string(),
                },
            }),
            signature: alloy::hex::encode_prefixed(signature),
            tx: RedeemTx {
                to: poap,
                data: alloy::hex::encode_prefixed(data),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voucher_is_signed_by_the_issuer_over_its_eip712_hash() {
        let signer = PrivateKeySigner::random();
        let issuer = signer.address();
        let poap = Address::repeat_byte(0x11);
        let vouchers = Vouchers::new(signer, 31337, poap);
        let recipient = Address::repeat_byte(0x22);
        let v = vouchers.issue(U256::from(7), recipient, 1_900_000_000, 42);
        let sig: alloy::primitives::Signature = v.signature.parse().unwrap();
        let hash = Attendance {
            eventId: U256::from(7),
            recipient,
            deadline: U256::from(1_900_000_000u64),
            nonce: U256::from(42),
        }
        .eip712_signing_hash(&vouchers.domain);
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), issuer);
        assert_eq!(v.typed_data["domain"]["chainId"], 31337);
        assert!(v.tx.data.starts_with(&alloy::hex::encode_prefixed(
            AttendancePOAP::redeemCall::SELECTOR
        )));
        assert!(!format!("{vouchers:?}").contains("signer"));
    }
}
