//! Who is calling: Sign-In with Ethereum, session and stream tokens, and their revocation.

pub mod keys;
pub mod nonce;
pub mod revocation;
pub mod signature;
pub mod siwe;
pub mod tokens;

use rand_core::{OsRng, RngCore};

/// 128 random bits from the OS CSPRNG as 32 hex characters (session and event ids).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    alloy::hex::encode(bytes)
}

/// A grant id: the time (Unix ms, 48 bits) then 80 random bits, as 32 hex characters. Ids made
/// later sort later, so a join's insert lands at the end of the id index, on a page already
/// in memory, rather than on a random one.
pub fn ordered_id(now_ms: i64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    OsRng.fill_bytes(&mut bytes[6..]);
    alloy::hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_ids_sort_by_time_and_differ_within_a_millisecond() {
        let (a, b, c) = (
            ordered_id(1_700_000_000_000),
            ordered_id(1_700_000_000_000),
            ordered_id(1_700_000_000_001),
        );
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert!(a.starts_with("018bcfe56800"));
    }
}
