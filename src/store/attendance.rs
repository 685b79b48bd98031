//! Watch time per (event, wallet).

use super::Db;

/// Credits a heartbeat at `now` and returns the watched milliseconds. The credit is the part
/// of (last beat, now] inside [window_start, window_end], capped at `cap_ms`, computed in one
/// statement so that concurrent beats (tabs, devices) never credit the same time twice.
pub async fn beat(
    db: &Db,
    event_id: &str,
    address: &str,
    now: i64,
    window_start: i64,
    window_end: i64,
    cap_ms: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO attendance (event_id, address, watched_ms, last_beat_at, joined_at) \
         VALUES (?1, ?2, 0, ?3, ?3) \
         ON CONFLICT (event_id, address) DO UPDATE SET \
           watched_ms = attendance.watched_ms + CASE WHEN attendance.last_beat_at IS NULL THEN 0 ELSE \
             MAX(0, MIN(?6, MIN(?3, ?5) - MAX(attendance.last_beat_at, ?4))) END, \
           last_beat_at = MAX(COALESCE(attendance.last_beat_at, 0), ?3) \
         RETURNING watched_ms",
    )
    .bind(event_id)
    .bind(address)
    .bind(now)
    .bind(window_start)
    .bind(window_end)
    .bind(cap_ms)
    .fetch_one(db)
    .await
}

/// Watched milliseconds of `address` at `event_id` (0 when never seen).
pub async fn watched_ms(db: &Db, event_id: &str, address: &str) -> Result<i64, sqlx::Error> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT watched_ms FROM attendance WHERE event_id = ? AND address = ?")
            .bind(event_id)
            .bind(address)
            .fetch_optional(db)
            .await?;
    Ok(v.unwrap_or(0))
}
