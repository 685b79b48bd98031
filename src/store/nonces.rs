//! Sign-in nonces: issued, then consumed at most once.

use super::Db;

/// Stores a freshly issued nonce valid until `expires_at` (Unix ms).
pub async fn insert(db: &Db, nonce: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO nonce (nonce, expires_at) VALUES (?, ?)")
        .bind(nonce)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// Consumes `nonce` if it was issued and is unexpired at `now`; true when this call consumed
/// it. One statement, so of concurrent consumers exactly one wins.
pub async fn consume(db: &Db, nonce: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM nonce WHERE nonce = ? AND expires_at > ?")
        .bind(nonce)
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Drops nonces that expired before `now`.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM nonce WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
