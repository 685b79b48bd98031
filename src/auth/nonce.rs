//! Sign-in nonces that cost no write to issue: 128 random bits from the OS CSPRNG and an
//! expiry, MAC-signed with the shared nonce key. A login proves the nonce is ours and current
//! by the MAC; the database only records that it was used (see `store::nonces`).
//!
//! Written by hand: the format is ours (hex, so it is a valid EIP-4361 nonce of 80
//! alphanumerics); the primitives are the `hmac` and `sha2` crates.

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

const RANDOM: usize = 16;
const EXPIRY: usize = 8;
const TAG: usize = 16;

/// A nonce issued by this service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    /// The text that goes into the message.
    pub text: String,
    /// When it stops being accepted (Unix ms).
    pub expires_at: i64,
}

/// Issues a nonce valid until `expires_at` (Unix ms), signed with `key`.
pub fn issue(key: &[u8; 32], expires_at: i64) -> Nonce {
    let mut raw = [0u8; RANDOM + EXPIRY + TAG];
    OsRng.fill_bytes(&mut raw[..RANDOM]);
    raw[RANDOM..RANDOM + EXPIRY].copy_from_slice(&expires_at.to_be_bytes());
    let tag = mac(key, &raw[..RANDOM + EXPIRY]);
    raw[RANDOM + EXPIRY..].copy_from_slice(&tag[..TAG]);
    Nonce {
        text: alloy::hex::encode(raw),
        expires_at,
    }
}

/// The expiry of `text` if one of `keys` signed it and it is unexpired at `now` (Unix ms).
pub fn check(keys: &[[u8; 32]], text: &str, now: i64) -> Option<i64> {
    let raw: [u8; RANDOM + EXPIRY + TAG] = alloy::hex::decode(text).ok()?.try_into().ok()?;
    let (body, tag) = raw.split_at(RANDOM + EXPIRY);
    let signed = keys.iter().any(|key| {
        let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(body);
        // Constant-time comparison of the truncated tag.
        m.verify_truncated_left(tag).is_ok()
    });
    let expires_at = i64::from_be_bytes(body[RANDOM..].try_into().ok()?);
    (signed && expires_at > now).then_some(expires_at)
}

fn mac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_unexpired_nonces_pass() {
        let key = [7u8; 32];
        let n = issue(&key, 2_000);
        assert_eq!(n.text.len(), 80);
        assert!(n.text.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(check(&[key], &n.text, 1_000), Some(2_000));
        assert_eq!(check(&[key], &n.text, 2_000), None, "expired");
        assert_eq!(check(&[[8u8; 32]], &n.text, 1_000), None, "another key");
        assert_eq!(
            check(&[[8u8; 32], key], &n.text, 1_000),
            Some(2_000),
            "an older key"
        );
        let mut forged = n.text.clone().into_bytes();
        // Push the expiry out: the tag no longer matches.
        forged[RANDOM * 2] = b'f';
        assert_eq!(
            check(&[key], std::str::from_utf8(&forged).unwrap(), 1_000),
            None
        );
        assert_eq!(check(&[key], "deadbeef", 1_000), None);
        assert_ne!(issue(&key, 2_000).text, n.text, "random part");
    }
}
