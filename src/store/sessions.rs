//! Sessions ended before their expiry. A login writes nothing here; logout does.

use super::Db;

/// Records session `session_id` (valid until `expires_at`) as revoked at `now` (idempotent).
pub async fn revoke(
    db: &Db,
    session_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revoked_session (session_id, expires_at, revoked_at) VALUES (?, ?, ?) \
         ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session_id)
    .bind(expires_at)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Sessions revoked at or after `since` that have not expired by `now`: (id, revoked_at).
pub async fn revoked_since(
    db: &Db,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, revoked_at, expires_at FROM revoked_session WHERE revoked_at >= ? AND expires_at > ?",
    )
    .bind(since)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Forgets revocations of sessions that expired before `now`: their tokens are refused anyway.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM revoked_session WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
