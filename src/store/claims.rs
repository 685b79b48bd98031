//! Attendance token claims and the minter's work queue.

use super::Db;

/// A claim row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimRow {
    /// Row id.
    pub claim_id: i64,
    /// Event.
    pub event_id: String,
    /// Claimant (EIP-55).
    pub address: String,
    /// `pending`, `minted` or `recorded`.
    pub status: String,
    /// Token id (decimal), once known.
    pub token_id: Option<String>,
    /// Mint transaction, once sent.
    pub tx_hash: Option<String>,
}

const COLUMNS: &str = "claim_id, event_id, address, status, token_id, tx_hash";

/// Creates the claim of (event, address) with `status` unless it exists; returns the claim
/// and whether this call created it. The unique constraint makes concurrent calls agree.
pub async fn create(
    db: &Db,
    event_id: &str,
    address: &str,
    status: &str,
    now: i64,
) -> Result<(ClaimRow, bool), sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO claim (event_id, address, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (event_id, address) DO NOTHING",
    )
    .bind(event_id)
    .bind(address)
    .bind(status)
    .bind(now)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    let row = get(db, event_id, address)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((row, inserted))
}

/// The claim of (event, address).
pub async fn get(db: &Db, event_id: &str, address: &str) -> Result<Option<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE event_id = ? AND address = ?"
    ))
    .bind(event_id)
    .bind(address)
    .fetch_optional(db)
    .await
}

/// The claim that holds token `token_id`.
pub async fn by_token(db: &Db, token_id: &str) -> Result<Option<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM claim WHERE token_id = ?"))
        .bind(token_id)
        .fetch_optional(db)
        .await
}

/// Pending claims, oldest first, at most `limit`.
pub async fn pending(db: &Db, limit: i64) -> Result<Vec<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE status = 'pending' ORDER BY claim_id LIMIT ?"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Records that a mint transaction for these claims was sent (before waiting for it).
pub async fn mark_sent(
    db: &Db,
    claim_ids: &[i64],
    tx_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for id in claim_ids {
        sqlx::query("UPDATE claim SET tx_hash = ?, updated_at = ? WHERE claim_id = ? AND status = 'pending'")
            .bind(tx_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Forgets a sent transaction that never made it on chain, so the claims are sent again.
pub async fn clear_sent(db: &Db, claim_ids: &[i64], now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for id in claim_ids {
        sqlx::query("UPDATE claim SET tx_hash = NULL, updated_at = ? WHERE claim_id = ? AND status = 'pending'")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Marks a claim minted as token `token_id` by `tx_hash`.
pub async fn mark_minted(
    db: &Db,
    claim_id: i64,
    token_id: &str,
    tx_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE claim SET status = 'minted', token_id = ?, tx_hash = ?, updated_at = ? WHERE claim_id = ?",
    )
    .bind(token_id)
    .bind(tx_hash)
    .bind(now)
    .bind(claim_id)
    .execute(db)
    .await?;
    Ok(())
}
