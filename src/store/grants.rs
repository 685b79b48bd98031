//! Stream access granted by joins: seat leases, their renewal, and their revocation.

use super::Db;

/// A grant about to be made by a join.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Fresh id, carried by the stream token.
    pub grant_id: &'a str,
    /// The event watched.
    pub event_id: &'a str,
    /// The session that joined.
    pub session_id: &'a str,
    /// The viewer's wallet.
    pub wallet: &'a str,
    /// Who holds the ticket (the wallet or its vault).
    pub holder: &'a str,
    /// `erc721`, `erc1155` or `erc20`.
    pub kind: &'a str,
    /// The ticket's contract.
    pub contract: &'a str,
    /// The ticket's token id, `""` for ERC-20.
    pub token_id: &'a str,
    /// The block whose state admitted it.
    pub block: u64,
    /// When the seat lapses without a heartbeat (ms).
    pub lease_until: i64,
    /// When its stream token expires (ms).
    pub expires_at: i64,
}

/// How many live sessions a ticket may seat, and what a second device of the same wallet gets.
#[derive(Debug, Clone, Copy)]
pub struct Seats {
    /// Live grants per ticket.
    pub max: u32,
    /// Whether a wallet's new session takes over the seat of its earlier one.
    pub takeover: bool,
}

/// What a join got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seating {
    /// Seated under `grant_id` (a new one, or this session's earlier one renewed); `cut` are
    /// grants revoked to make room or replaced, whose streams must stop.
    Seated {
        /// The grant the stream token carries.
        grant_id: String,
        /// Grants revoked by this join.
        cut: Vec<String>,
    },
    /// Every seat of the ticket is taken by live sessions.
    InUse,
}

/// A live grant, as the chain follower needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveGrant {
    /// Its id.
    pub grant_id: String,
    /// The event.
    pub event_id: String,
    /// The viewer's wallet.
    pub wallet: String,
    /// The ticket's kind.
    pub kind: String,
    /// The ticket's contract.
    pub contract: String,
    /// The ticket's token id (`""` for ERC-20).
    pub token_id: String,
    /// The block whose state admitted it.
    pub block: i64,
}

/// Seats `g`, or renews the same session's grant on the same ticket, in one transaction.
///
/// With `seats`, the ticket admits at most `seats.max` live grants: lapsed leases of other
/// sessions are revoked first; when full, the wallet's own earliest grant is taken over if
/// `seats.takeover`, else the answer is [`Seating::InUse`].
pub async fn acquire(
    db: &Db,
    g: &NewGrant<'_>,
    seats: Option<Seats>,
    now: i64,
) -> Result<Seating, sqlx::Error> {
    let mut tx = db.begin().await?;
    // The first statement writes, so the transaction holds SQLite's write lock before it
    // reads: joins on one ticket queue here instead of both seeing a free seat.
    let renewed: Option<String> = sqlx::query_scalar(
        "UPDATE grant_ SET lease_until = ?1, expires_at = MAX(expires_at, ?2), block = ?3 \
         WHERE session_id = ?4 AND event_id = ?5 AND holder = ?6 AND contract = ?7 \
           AND token_id = ?8 AND revoked_at IS NULL \
         RETURNING grant_id",
    )
    .bind(g.lease_until)
    .bind(g.expires_at)
    .bind(g.block as i64)
    .bind(g.session_id)
    .bind(g.event_id)
    .bind(g.holder)
    .bind(g.contract)
    .bind(g.token_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(grant_id) = renewed {
        tx.commit().await?;
        return Ok(Seating::Seated {
            grant_id,
            cut: Vec::new(),
        });
    }
    // The session now watches on another ticket: its earlier grant gives its seat up.
    let mut cut: Vec<String> = sqlx::query_scalar(
        "UPDATE grant_ SET revoked_at = ?1, reason = 'replaced' \
         WHERE session_id = ?2 AND event_id = ?3 AND revoked_at IS NULL RETURNING grant_id",
    )
    .bind(now)
    .bind(g.session_id)
    .bind(g.event_id)
    .fetch_all(&mut *tx)
    .await?;
    if let Some(seats) = seats {
        cut.extend(
            sqlx::query_scalar::<_, String>(
                "UPDATE grant_ SET revoked_at = ?1, reason = 'lease lapsed' \
                 WHERE event_id = ?2 AND contract = ?3 AND token_id = ?4 AND revoked_at IS NULL \
                   AND (lease_until <= ?1 OR expires_at <= ?1) \
                 RETURNING grant_id",
            )
            .bind(now)
            .bind(g.event_id)
            .bind(g.contract)
            .bind(g.token_id)
            .fetch_all(&mut *tx)
            .await?,
        );
        let live: Vec<(String, String)> = sqlx::query_as(
            "SELECT grant_id, wallet FROM grant_ \
             WHERE event_id = ? AND contract = ? AND token_id = ? AND revoked_at IS NULL \
             ORDER BY created_at",
        )
        .bind(g.event_id)
        .bind(g.contract)
        .bind(g.token_id)
        .fetch_all(&mut *tx)
        .await?;
        if live.len() >= seats.max as usize {
            let own = live.iter().find(|(_, wallet)| wallet == g.wallet);
            match own {
                Some((id, _)) if seats.takeover && live.len() == seats.max as usize => {
                    revoke(&mut *tx, id, now, "taken over").await?;
                    cut.push(id.clone());
                }
                _ => return Ok(Seating::InUse),
            }
        }
    }
    sqlx::query(
        "INSERT INTO grant_ (grant_id, event_id, session_id, wallet, holder, kind, contract, \
           token_id, block, created_at, lease_until, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(g.grant_id)
    .bind(g.event_id)
    .bind(g.session_id)
    .bind(g.wallet)
    .bind(g.holder)
    .bind(g.kind)
    .bind(g.contract)
    .bind(g.token_id)
    .bind(g.block as i64)
    .bind(now)
    .bind(g.lease_until)
    .bind(g.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Seating::Seated {
        grant_id: g.grant_id.to_string(),
        cut,
    })
}

/// Extends the lease of live grant `grant_id` to `until`; false when it is revoked or unknown.
pub async fn renew(db: &Db, grant_id: &str, until: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE grant_ SET lease_until = MAX(lease_until, ?) \
         WHERE grant_id = ? AND revoked_at IS NULL",
    )
    .bind(until)
    .bind(grant_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes grant `grant_id` (if live) for `reason`.
pub async fn revoke<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    grant_id: &str,
    now: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE grant_ SET revoked_at = ?, reason = ? WHERE grant_id = ? AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(grant_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Live grants whose ticket `holder` holds.
pub async fn live_of_holder(
    db: &Db,
    holder: &str,
    now: i64,
) -> Result<Vec<LiveGrant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT grant_id, event_id, wallet, kind, contract, token_id, block FROM grant_ \
         WHERE holder = ? AND revoked_at IS NULL AND expires_at > ?",
    )
    .bind(holder)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Grants revoked at or after `since` whose tokens have not expired by `now`, with when.
pub async fn revoked_since(
    db: &Db,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT grant_id, revoked_at FROM grant_ WHERE revoked_at >= ? AND expires_at > ?",
    )
    .bind(since)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Forgets grants whose stream tokens expired before `now`: they open nothing any more.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM grant_ WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// The last block follower `name` has processed, if it ever ran.
pub async fn cursor(db: &Db, name: &str) -> Result<Option<u64>, sqlx::Error> {
    let block: Option<i64> = sqlx::query_scalar("SELECT block FROM chain_cursor WHERE name = ?")
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(block.map(|b| b as u64))
}

/// Records that follower `name` has processed every block up to `block`.
pub async fn set_cursor(db: &Db, name: &str, block: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO chain_cursor (name, block) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET block = ?2",
    )
    .bind(name)
    .bind(block as i64)
    .execute(db)
    .await?;
    Ok(())
}
