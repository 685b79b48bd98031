//! Events.

use sqlx::Row;

use super::Db;

/// A stored event row: (id, organizer, body JSON).
pub type EventRow = (String, String, String);

/// Inserts an event.
pub async fn insert(
    db: &Db,
    id: &str,
    organizer: &str,
    starts_at: i64,
    ends_at: i64,
    body: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO event (event_id, organizer, starts_at, ends_at, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(organizer)
    .bind(starts_at)
    .bind(ends_at)
    .bind(body)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// One event.
pub async fn get(db: &Db, id: &str) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as("SELECT event_id, organizer, body FROM event WHERE event_id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Events in order of start, at most `limit`.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, organizer, body FROM event ORDER BY starts_at, event_id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Whether the database answers.
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").fetch_one(db).await.map(|r| {
        let _: i64 = r.get(0);
    })
}
