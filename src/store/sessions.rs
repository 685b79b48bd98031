//! Sessions and their revocation.

use super::Db;

/// Records a new session.
pub async fn insert(
    db: &Db,
    session_id: &str,
    address: &str,
    created_at: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO session (session_id, address, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(session_id)
    .bind(address)
    .bind(created_at)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a session revoked at `now` (idempotent).
pub async fn revoke(db: &Db, session_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE session SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(session_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Sessions revoked at or after `since` that have not expired by `now`: (id, revoked_at).
pub async fn revoked_since(
    db: &Db,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, revoked_at FROM session \
         WHERE revoked_at IS NOT NULL AND revoked_at >= ? AND expires_at > ?",
    )
    .bind(since)
    .bind(now)
    .fetch_all(db)
    .await
}
