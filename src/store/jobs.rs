//! The minter's outbox: chain jobs (one nonce each) and every signed attempt at them.

use super::{Db, with_pool};

/// A chain job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    /// Row id.
    pub job_id: i64,
    /// `create_event` or `mint_batch`.
    pub kind: String,
    /// The event it works for.
    pub event_id: String,
    /// The minter account (EIP-55).
    pub sender: String,
    /// The account nonce every attempt uses.
    pub nonce: i64,
    /// The contract called.
    pub to_address: String,
    /// Calldata, 0x-hex.
    pub input: String,
    /// Gas limit of every attempt.
    pub gas_limit: i64,
}

/// A signed attempt at a job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    /// Transaction hash, 0x-hex.
    pub tx_hash: String,
    /// EIP-1559 max fee per gas (decimal wei).
    pub max_fee: String,
    /// EIP-1559 priority fee per gas (decimal wei).
    pub priority_fee: String,
    /// The signed transaction (EIP-2718), 0x-hex.
    pub raw: String,
    /// When it was sent (ms).
    pub sent_at: i64,
}

/// What a new job is.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// `create_event` or `mint_batch`.
    pub kind: &'a str,
    /// The event.
    pub event_id: &'a str,
    /// The minter account.
    pub sender: &'a str,
    /// Its nonce.
    pub nonce: i64,
    /// The contract.
    pub to_address: &'a str,
    /// Calldata.
    pub input: &'a str,
    /// Gas limit.
    pub gas_limit: i64,
}

const COLUMNS: &str = "job_id, kind, event_id, sender, nonce, to_address, input, gas_limit";

/// Commits a job and, for a mint, ties `claim_ids` to it, in one transaction: the nonce and
/// the claims it carries are on disk before anything is signed. Fails (and commits nothing)
/// if one of the claims is no longer pending and free.
pub async fn create(
    db: &Db,
    job: &NewJob<'_>,
    claim_ids: &[i64],
    now: i64,
) -> Result<JobRow, sqlx::Error> {
    with_pool!(db, |p| {
        let mut tx = p.begin().await?;
        let row: JobRow = sqlx::query_as(&format!(
            "INSERT INTO chain_job (kind, event_id, sender, nonce, to_address, input, gas_limit, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8) \
             RETURNING {COLUMNS}"
        ))
        .bind(job.kind)
        .bind(job.event_id)
        .bind(job.sender)
        .bind(job.nonce)
        .bind(job.to_address)
        .bind(job.input)
        .bind(job.gas_limit)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for id in claim_ids {
            let tied = sqlx::query(
                "UPDATE claim SET job_id = $1, updated_at = $2 \
                 WHERE claim_id = $3 AND status = 'pending' AND job_id IS NULL",
            )
            .bind(row.job_id)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if tied != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
        }
        tx.commit().await?;
        Ok(row)
    })
}

/// Open jobs of `sender`, lowest nonce first.
pub async fn open(db: &Db, sender: &str) -> Result<Vec<JobRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chain_job WHERE status = 'open' AND sender = $1 ORDER BY nonce"
    ))
    .bind(sender)
    .fetch_all(p)
    .await)
}

/// Whether `event_id` has an open job of `kind`.
pub async fn has_open(db: &Db, kind: &str, event_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT count(*) FROM chain_job WHERE status = 'open' AND kind = $1 AND event_id = $2",
    )
    .bind(kind)
    .bind(event_id)
    .fetch_one(p)
    .await)?;
    Ok(n > 0)
}

/// The highest nonce any job of `sender` took.
pub async fn max_nonce(db: &Db, sender: &str) -> Result<Option<i64>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_scalar(
        "SELECT max(nonce) FROM chain_job WHERE sender = $1"
    )
    .bind(sender)
    .fetch_one(p)
    .await)
}

/// Records a signed attempt before it is sent.
pub async fn record_attempt(db: &Db, job_id: i64, attempt: &Attempt) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "INSERT INTO chain_tx (tx_hash, job_id, max_fee, priority_fee, raw, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&attempt.tx_hash)
    .bind(job_id)
    .bind(&attempt.max_fee)
    .bind(&attempt.priority_fee)
    .bind(&attempt.raw)
    .bind(attempt.sent_at)
    .execute(p)
    .await
    .map(|_| ()))
}

/// The attempts at a job, oldest first (each bump raises the fee: its decimal text is longer,
/// or as long and greater).
pub async fn attempts(db: &Db, job_id: i64) -> Result<Vec<Attempt>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT tx_hash, max_fee, priority_fee, raw, sent_at FROM chain_tx \
         WHERE job_id = $1 ORDER BY sent_at, length(max_fee), max_fee",
    )
    .bind(job_id)
    .fetch_all(p)
    .await)
}

/// Settles a job: `mined` or `failed` by `tx_hash`, or `replaced` (no hash).
pub async fn finish(
    db: &Db,
    job_id: i64,
    status: &str,
    tx_hash: Option<&str>,
    gas_used: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "UPDATE chain_job SET status = $1, tx_hash = $2, gas_used = $3, updated_at = $4 \
         WHERE job_id = $5",
    )
    .bind(status)
    .bind(tx_hash)
    .bind(gas_used)
    .bind(now)
    .bind(job_id)
    .execute(p)
    .await
    .map(|_| ()))
}
