//! Admission to a screening: the gate read, a seat on the ticket, and a last look at the
//! transfers the follower saw while the join was under way.

use std::sync::Arc;

use alloy::primitives::Address;

use super::eval::{GateChecker, Ticket, Verdict};
use super::follow::Follower;
use crate::auth::ordered_id;
use crate::auth::revocation::Revocations;
use crate::chain::ReadError;
use crate::model::{Event, SeatConflict};
use crate::store::Db;
use crate::store::grants::{self, NewGrant, Seater, Seating, Seats};

/// How many times a join reads the gate again when its ticket moved while it was seated.
const ATTEMPTS: usize = 3;

/// Admits viewers.
#[derive(Clone)]
pub struct Admitter {
    db: Db,
    seater: Seater,
    gates: GateChecker,
    follower: Arc<Follower>,
    revocations: Arc<Revocations>,
}

/// Who asks to watch, and how long the grant may last.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The viewer's wallet.
    pub wallet: Address,
    /// The wallet as the database keeps it (checksummed): written once per join, as each
    /// checksum is a hash.
    pub wallet_text: &'a str,
    /// Their session.
    pub session_id: &'a str,
    /// Now (ms).
    pub now: i64,
    /// When the seat lapses without a heartbeat (ms).
    pub lease_until: i64,
    /// When the stream token expires (ms).
    pub expires_at: i64,
}

/// A viewer let in.
#[derive(Debug, Clone)]
pub struct Admission {
    /// What admitted them.
    pub ticket: Ticket,
    /// The grant their stream token carries.
    pub grant_id: String,
}

/// Why a viewer was not let in.
#[derive(Debug)]
pub enum Refusal {
    /// The gate refuses them, for these reasons.
    NotHolder(Vec<String>),
    /// Their ticket's seats are all taken.
    InUse(Ticket),
    /// The chain could not answer, or is not being followed.
    ChainUnavailable,
    /// The database failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Db(e)
    }
}

impl From<ReadError> for Refusal {
    fn from(_: ReadError) -> Self {
        Refusal::ChainUnavailable
    }
}

impl Admitter {
    /// An admitter over these parts.
    pub fn new(
        db: Db,
        seater: Seater,
        gates: GateChecker,
        follower: Arc<Follower>,
        revocations: Arc<Revocations>,
    ) -> Self {
        Self {
            seater,
            db,
            gates,
            follower,
            revocations,
        }
    }

    /// The chain follower.
    pub fn follower(&self) -> &Follower {
        &self.follower
    }

    /// Reads `event`'s gate for the viewer and seats them on the ticket that admits them.
    pub async fn admit(&self, event: &Event, req: Request<'_>) -> Result<Admission, Refusal> {
        if !self.follower.is_fresh() {
            return Err(Refusal::ChainUnavailable);
        }
        let gate = &event.spec.gate;
        let contracts = gate.contracts();
        self.follower.watch(&contracts);
        for _ in 0..ATTEMPTS {
            let (ticket, block) = match self.gates.check(gate, req.wallet).await? {
                (Verdict::Admitted(t), block) => (t, block),
                (Verdict::Refused(reasons), _) => return Err(Refusal::NotHolder(reasons)),
            };
            let holder = ticket.vault.unwrap_or(req.wallet);
            let grant_id = self.seat(event, &req, &ticket, holder, block).await?;
            match self.follower.moved_since(block, holder, &contracts) {
                Some(false) => return Ok(Admission { ticket, grant_id }),
                // A token of the gate left the holder after the block read: read again.
                _ => {
                    grants::revoke(&self.db, &grant_id, req.now, "ticket transferred").await?;
                    self.revocations.insert(grant_id);
                }
            }
        }
        Err(Refusal::ChainUnavailable)
    }

    async fn seat(
        &self,
        event: &Event,
        req: &Request<'_>,
        ticket: &Ticket,
        holder: Address,
        block: u64,
    ) -> Result<String, Refusal> {
        // One ERC-721 token is one seat; fungible tickets have no identity to hold a seat by.
        let seats = (ticket.kind == "erc721").then_some(Seats {
            max: event.spec.max_sessions_per_ticket,
            takeover: event.spec.seat_conflict == SeatConflict::Takeover,
        });
        let holder_text = if holder == req.wallet {
            req.wallet_text.to_string()
        } else {
            holder.to_string()
        };
        let new = NewGrant {
            grant_id: &ordered_id(req.now),
            event_id: &event.id,
            session_id: req.session_id,
            wallet: req.wallet_text,
            holder: &holder_text,
            kind: ticket.kind,
            contract: &ticket.contract.to_string(),
            token_id: &ticket.token_id.map(|t| t.to_string()).unwrap_or_default(),
            block,
            lease_until: req.lease_until,
            expires_at: req.expires_at,
        };
        let Seating { grant_id, cut } = self.seater.acquire(&new, seats, req.now).await?;
        for id in cut {
            self.revocations.insert(id);
        }
        grant_id.ok_or_else(|| Refusal::InUse(ticket.clone()))
    }
}
