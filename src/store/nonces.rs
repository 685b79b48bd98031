//! Sign-in nonces already used. Issuing one writes nothing (it is MAC-signed); a login records
//! it here, and the primary key makes that record the single point where it is consumed.

use super::Db;

/// Records `nonce` as used; true when this call is the one that used it. One statement, so of
/// concurrent logins with the same nonce exactly one gets true.
pub async fn consume(db: &Db, nonce: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO used_nonce (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets used nonces that expired before `now`: they are refused by their expiry anyway.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM used_nonce WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
