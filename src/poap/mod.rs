//! Attendance tokens: claims (who may have one, recorded once), how tokens are named on chain,
//! and the minter that puts them there.

pub mod claims;
pub mod ids;
pub mod minter;
pub mod voucher;

pub use claims::{Claim, ClaimError};
pub use minter::{Minter, MinterHandle};
