//! Token gates: the organizer's rules (`rules`) and their evaluation against the chain (`eval`).

pub mod admit;
pub mod cache;
pub mod delegation;
pub mod eval;
pub mod follow;
pub mod index;
pub mod probe;
pub mod rules;

pub use eval::{GateChecker, Ticket, Verdict};
pub use rules::{Condition, Dec, Gate, Rule};
