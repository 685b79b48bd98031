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

/// Creates the claim of (event, address) with `status` unless it exists, and while the event
/// has fewer than `cap` claims; returns the claim and whether this call created it, or `None`
/// when the cap is reached. One statement counts and inserts, and the unique constraint makes
/// concurrent calls agree.
pub async fn create(
    db: &Db,
    event_id: &str,
    address: &str,
    status: &str,
    now: i64,
    cap: Option<i64>,
) -> Result<Option<(ClaimRow, bool)>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO claim (event_id, address, status, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?4 \
         WHERE ?5 IS NULL OR (SELECT count(*) FROM claim WHERE event_id = ?1) < ?5 \
         ON CONFLICT (event_id, address) DO NOTHING",
    )
    .bind(event_id)
    .bind(address)
    .bind(status)
    .bind(now)
    .bind(cap)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    Ok(get(db, event_id, address).await?.map(|row| (row, inserted)))
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

/// The claim of `address` at the event named on chain by `event_prefix` (the first 96 bits of
/// its id).
pub async fn by_chain_event(
    db: &Db,
    event_prefix: &str,
    address: &str,
) -> Result<Option<ClaimRow>, sqlx::Error> {
    let (low, high) = id_range(event_prefix);
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE event_id BETWEEN ? AND ? AND address = ? LIMIT 1"
    ))
    .bind(low)
    .bind(high)
    .bind(address)
    .fetch_optional(db)
    .await
}

/// The event ids (32 lowercase hex digits) that start with `prefix`, as a range the claim
/// index can seek, where a pattern would read every row.
fn id_range(prefix: &str) -> (String, String) {
    (format!("{prefix:0<32}"), format!("{prefix:f<32}"))
}

/// Pending claims that no job carries yet, oldest first, at most `limit`.
pub async fn unbatched(db: &Db, limit: i64) -> Result<Vec<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE status = 'pending' AND job_id IS NULL \
         ORDER BY claim_id LIMIT ?"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The pending claims a job carries.
pub async fn of_job(db: &Db, job_id: i64) -> Result<Vec<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE job_id = ? AND status = 'pending' ORDER BY claim_id"
    ))
    .bind(job_id)
    .fetch_all(db)
    .await
}

/// Unties pending claims from their job, so that a new job carries them.
pub async fn release(db: &Db, claim_ids: &[i64], now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for id in claim_ids {
        sqlx::query(
            "UPDATE claim SET job_id = NULL, updated_at = ? WHERE claim_id = ? AND status = 'pending'",
        )
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

/// Whether any voucher is out (handed to an attendee, its mint not yet seen).
pub async fn vouchers_out(db: &Db) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM claim WHERE status = 'voucher')")
        .fetch_one(db)
        .await
}

/// Events with vouchers out, for the minter to create on chain.
pub async fn voucher_events(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT event_id FROM claim WHERE status = 'voucher'")
        .fetch_all(db)
        .await
}

/// Marks minted the voucher claim of `address` at the event named on chain by `event_prefix`.
pub async fn mark_redeemed(
    db: &Db,
    event_prefix: &str,
    address: &str,
    token_id: &str,
    tx_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (low, high) = id_range(event_prefix);
    sqlx::query(
        "UPDATE claim SET status = 'minted', token_id = ?, tx_hash = ?, updated_at = ? \
         WHERE event_id BETWEEN ? AND ? AND address = ? AND status = 'voucher'",
    )
    .bind(token_id)
    .bind(tx_hash)
    .bind(now)
    .bind(low)
    .bind(high)
    .bind(address)
    .execute(db)
    .await?;
    Ok(())
}
