//! Claim rules: open from the end of the screening until `claim_until`, for wallets that
//! watched long enough, one per (event, wallet) whatever the concurrency.

use serde::Serialize;
use time::OffsetDateTime;

use super::ids::chain_event_id;
use super::voucher::{Voucher, Vouchers};
use crate::model::{Event, PoapMode};
use crate::store::claims::ClaimRow;
use crate::store::{self, Db};
use crate::time_util::to_ms;

/// A claim as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// `pending`, `minted`, `recorded` or `voucher`.
    pub status: String,
    /// The minted token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The mint transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    /// The signed voucher, while the claim waits for the attendee to redeem it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher: Option<Voucher>,
}

impl Claim {
    /// The claim `row` of `event`, with its voucher (signed by `vouchers`) if it is one.
    pub fn present(row: ClaimRow, event: &Event, vouchers: Option<&Vouchers>) -> Self {
        let voucher = match (row.status.as_str(), vouchers, chain_event_id(&event.id)) {
            ("voucher", Some(v), Some(chain_event)) => row.address.parse().ok().map(|recipient| {
                let deadline = event.spec.claim_until().unix_timestamp().max(0) as u64;
                // The claim's row id is its nonce: unique, and never reused by the database.
                v.issue(chain_event, recipient, deadline, row.claim_id as u64)
            }),
            _ => None,
        };
        // A tx hash on a claim not yet minted is not final: show it only once minted.
        let minted = row.status == "minted";
        Claim {
            status: row.status,
            token_id: row.token_id,
            tx_hash: row.tx_hash.filter(|_| minted),
            voucher,
        }
    }
}

/// Why a claim is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// Before the end, or the event gives no token.
    NotOpen(String),
    /// After `claim_until`.
    Closed(String),
    /// Watched too little.
    NotEligible(String),
}

/// Whether `address` may claim at `now`, given its watched time.
pub fn check(event: &Event, watched_secs: u64, now: OffsetDateTime) -> Result<(), ClaimError> {
    let poap = &event.spec.poap;
    if poap.mode == PoapMode::Off {
        return Err(ClaimError::NotOpen(
            "this event gives no attendance token".into(),
        ));
    }
    if now < event.spec.ends_at {
        return Err(ClaimError::NotOpen(format!(
            "claims open when the screening ends, at {}",
            crate::time_util::rfc3339(event.spec.ends_at)
        )));
    }
    if now > event.spec.claim_until() {
        return Err(ClaimError::Closed(format!(
            "claims closed at {}",
            crate::time_util::rfc3339(event.spec.claim_until())
        )));
    }
    if watched_secs < poap.min_watch_seconds {
        return Err(ClaimError::NotEligible(format!(
            "watched {watched_secs} s of the {} s needed",
            poap.min_watch_seconds
        )));
    }
    Ok(())
}

/// Records the claim (or finds the existing one); true when this call created it. `None` when
/// the event's `max_supply` claims are all taken.
pub async fn record(
    db: &Db,
    event: &Event,
    address: &str,
    now: OffsetDateTime,
) -> Result<Option<(ClaimRow, bool)>, sqlx::Error> {
    let status = match event.spec.poap.mode {
        PoapMode::Mint => "pending",
        PoapMode::Voucher => "voucher",
        _ => "recorded",
    };
    let cap = event
        .spec
        .poap
        .max_supply
        .map(|n| n.min(i64::MAX as u64) as i64);
    store::claims::create(db, &event.id, address, status, to_ms(now), cap).await
}
