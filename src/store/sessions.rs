//! Sessions ended before their expiry. A login writes nothing here; logout does.

use super::{Db, with_pool};

/// Records session `session_id` (valid until `expires_at`) as revoked at `now` (idempotent).
pub async fn revoke(
    db: &Db,
    session_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "INSERT INTO revoked_session (session_id, expires_at, revoked_at) VALUES ($1, $2, $3) \
         ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session_id)
    .bind(expires_at)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Sessions revoked at or after `since` that have not expired by `now`: (id, revoked_at).
pub async fn revoked_since(
    db: &Db,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT session_id, revoked_at, expires_at FROM revoked_session \
         WHERE revoked_at >= $1 AND expires_at > $2",
    )
    .bind(since)
    .bind(now)
    .fetch_all(p)
    .await)
}

/// Forgets revocations of sessions that expired before `now`: their tokens are refused anyway.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "DELETE FROM revoked_session WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|done| done.rows_affected()))
}
