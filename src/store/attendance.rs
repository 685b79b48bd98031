//! Watch time per (event, wallet).

use std::sync::LazyLock;

use super::{Db, with_pool};

/// A heartbeat's credit: $1 event, $2 address, $3 now, $4 window start, $5 window end, $6 cap.
const BEAT: &str = "INSERT INTO attendance \
     (event_id, address, watched_ms, last_beat_at, joined_at) \
     VALUES ($1, $2, 0, $3, $3) \
     ON CONFLICT (event_id, address) DO UPDATE SET \
       watched_ms = attendance.watched_ms + CASE WHEN attendance.last_beat_at IS NULL THEN 0 ELSE \
         GREATEST(0, LEAST($6, LEAST($3, $5) - GREATEST(attendance.last_beat_at, $4))) END, \
       last_beat_at = GREATEST(COALESCE(attendance.last_beat_at, 0), $3) \
     RETURNING watched_ms";

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
    // The same arithmetic, in SQLite's names for the two-argument max and min.
    static SQLITE_BEAT: LazyLock<String> =
        LazyLock::new(|| BEAT.replace("GREATEST", "MAX").replace("LEAST", "MIN"));
    let sql = match db {
        Db::Sqlite(_) => SQLITE_BEAT.as_str(),
        Db::Postgres(_) => BEAT,
    };
    with_pool!(db, |p| sqlx::query_scalar(sql)
        .bind(event_id)
        .bind(address)
        .bind(now)
        .bind(window_start)
        .bind(window_end)
        .bind(cap_ms)
        .fetch_one(p)
        .await)
}

/// Watched milliseconds of `address` at `event_id` (0 when never seen).
pub async fn watched_ms(db: &Db, event_id: &str, address: &str) -> Result<i64, sqlx::Error> {
    let v: Option<i64> = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT watched_ms FROM attendance WHERE event_id = $1 AND address = $2",
    )
    .bind(event_id)
    .bind(address)
    .fetch_optional(p)
    .await)?;
    Ok(v.unwrap_or(0))
}

/// One attendee of an event as the organizer exports them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendeeRow {
    /// Wallet (EIP-55).
    pub address: String,
    /// Credited watch time.
    pub watched_ms: i64,
    /// When they claimed (ms), if they did.
    pub claimed_at: Option<i64>,
    /// Claim status, if they claimed.
    pub status: Option<String>,
    /// Minted token id.
    pub token_id: Option<String>,
    /// Mint transaction.
    pub tx_hash: Option<String>,
}

/// Everyone who watched or claimed at `event_id`, by address.
pub async fn attendees(db: &Db, event_id: &str) -> Result<Vec<AttendeeRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT a.address, a.watched_ms, c.created_at AS claimed_at, c.status, c.token_id, \
                CASE WHEN c.status = 'minted' THEN c.tx_hash END AS tx_hash \
         FROM attendance a LEFT JOIN claim c ON c.event_id = a.event_id AND c.address = a.address \
         WHERE a.event_id = $1 \
         UNION ALL \
         SELECT c.address, 0, c.created_at, c.status, c.token_id, \
                CASE WHEN c.status = 'minted' THEN c.tx_hash END \
         FROM claim c WHERE c.event_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM attendance a WHERE a.event_id = c.event_id AND a.address = c.address) \
         ORDER BY 1",
    )
    .bind(event_id)
    .fetch_all(p)
    .await)
}
