//! Claim rules: open from the end of the screening until `claim_until`, for wallets that
//! watched long enough, one per (event, wallet) whatever the concurrency.

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{Event, PoapMode};
use crate::store::claims::ClaimRow;
use crate::store::{self, Db};
use crate::time_util::to_ms;

/// A claim as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// `pending`, `minted` or `recorded`.
    pub status: String,
    /// The minted token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The mint transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
}

impl From<ClaimRow> for Claim {
    fn from(r: ClaimRow) -> Self {
        // A tx hash on a pending claim is in flight, not final: show it only once minted.
        let minted = r.status == "minted";
        Claim {
            status: r.status,
            token_id: r.token_id,
            tx_hash: r.tx_hash.filter(|_| minted),
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

/// Records the claim (or finds the existing one); true when this call created it.
pub async fn record(
    db: &Db,
    event: &Event,
    address: &str,
    now: OffsetDateTime,
) -> Result<(Claim, bool), sqlx::Error> {
    let status = match event.spec.poap.mode {
        PoapMode::Mint => "pending",
        _ => "recorded",
    };
    let (row, created) = store::claims::create(db, &event.id, address, status, to_ms(now)).await?;
    Ok((row.into(), created))
}
