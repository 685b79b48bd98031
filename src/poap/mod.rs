//! Attendance tokens: claims (who may have one, recorded once) and the minter that puts them on chain.

pub mod claims;
pub mod minter;

pub use claims::{Claim, ClaimError};
pub use minter::{Minter, MinterHandle};
