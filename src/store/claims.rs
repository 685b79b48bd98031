//! Attendance token claims and the minter's work queue.

use super::{Db, lock_key, with_pool};

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

/// Inserts a claim unless the event's cap is reached: $1 event, $2 address, $3 status,
/// $4 now, $5 cap (NULL: none).
const CREATE: &str = "INSERT INTO claim (event_id, address, status, created_at, updated_at) \
     SELECT $1, $2, $3, $4, $4 \
     WHERE $5 IS NULL OR (SELECT count(*) FROM claim WHERE event_id = $1) < $5 \
     ON CONFLICT (event_id, address) DO NOTHING";

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
    macro_rules! insert {
        ($executor:expr) => {
            sqlx::query(CREATE)
                .bind(event_id)
                .bind(address)
                .bind(status)
                .bind(now)
                .bind(cap)
                .execute($executor)
                .await
                .map(|done| done.rows_affected())
        };
    }
    let inserted = match db {
        // Under PostgreSQL's read committed, concurrent claims would each count without the
        // others' uncommitted rows and all pass a cap of one left: the event's lock makes
        // them count in turn. SQLite's single writer already does.
        Db::Postgres(p) if cap.is_some() => {
            let mut tx = p.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key(&["claim", event_id]))
                .execute(&mut *tx)
                .await?;
            let n = insert!(&mut *tx)?;
            tx.commit().await?;
            n
        }
        _ => with_pool!(db, |p| insert!(p))?,
    } == 1;
    Ok(get(db, event_id, address).await?.map(|row| (row, inserted)))
}

/// The claim of (event, address).
pub async fn get(db: &Db, event_id: &str, address: &str) -> Result<Option<ClaimRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE event_id = $1 AND address = $2"
    ))
    .bind(event_id)
    .bind(address)
    .fetch_optional(p)
    .await)
}

/// The claim of `address` at the event named on chain by `event_prefix` (the first 96 bits of
/// its id).
pub async fn by_chain_event(
    db: &Db,
    event_prefix: &str,
    address: &str,
) -> Result<Option<ClaimRow>, sqlx::Error> {
    let (low, high) = id_range(event_prefix);
    with_pool!(db, |p| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE event_id BETWEEN $1 AND $2 AND address = $3 LIMIT 1"
    ))
    .bind(low)
    .bind(high)
    .bind(address)
    .fetch_optional(p)
    .await)
}

/// The event ids (32 lowercase hex digits) that start with `prefix`, as a range the claim
/// index can seek, where a pattern would read every row.
fn id_range(prefix: &str) -> (String, String) {
    (format!("{prefix:0<32}"), format!("{prefix:f<32}"))
}

/// Pending claims that no job carries yet, oldest first, at most `limit`.
pub async fn unbatched(db: &Db, limit: i64) -> Result<Vec<ClaimRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE status = 'pending' AND job_id IS NULL \
         ORDER BY claim_id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(p)
    .await)
}

/// The pending claims a job carries.
pub async fn of_job(db: &Db, job_id: i64) -> Result<Vec<ClaimRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claim WHERE job_id = $1 AND status = 'pending' ORDER BY claim_id"
    ))
    .bind(job_id)
    .fetch_all(p)
    .await)
}

/// Unties pending claims from their job, so that a new job carries them.
pub async fn release(db: &Db, claim_ids: &[i64], now: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| {
        let mut tx = p.begin().await?;
        for id in claim_ids {
            sqlx::query(
                "UPDATE claim SET job_id = NULL, updated_at = $1 \
                 WHERE claim_id = $2 AND status = 'pending'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}

/// Marks a claim minted as token `token_id` by `tx_hash`.
pub async fn mark_minted(
    db: &Db,
    claim_id: i64,
    token_id: &str,
    tx_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "UPDATE claim SET status = 'minted', token_id = $1, tx_hash = $2, updated_at = $3 \
         WHERE claim_id = $4",
    )
    .bind(token_id)
    .bind(tx_hash)
    .bind(now)
    .bind(claim_id)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Whether any voucher is out (handed to an attendee, its mint not yet seen).
pub async fn vouchers_out(db: &Db) -> Result<bool, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM claim WHERE status = 'voucher')"
    )
    .fetch_one(p)
    .await)
}

/// Events with vouchers out, for the minter to create on chain.
pub async fn voucher_events(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM claim WHERE status = 'voucher'"
    )
    .fetch_all(p)
    .await)
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
    with_pool!(db, |p| sqlx::query(
        "UPDATE claim SET status = 'minted', token_id = $1, tx_hash = $2, updated_at = $3 \
         WHERE event_id BETWEEN $4 AND $5 AND address = $6 AND status = 'voucher'",
    )
    .bind(token_id)
    .bind(tx_hash)
    .bind(now)
    .bind(low)
    .bind(high)
    .bind(address)
    .execute(p)
    .await
    .map(|_| ()))
}
