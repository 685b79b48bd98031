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
