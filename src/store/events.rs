//! Events: stored as the validated spec (JSON) beside the columns that queries need.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::model::{Event, EventSpec};
use crate::time_util::to_ms;

use super::{Db, with_pool};

/// How long a node answers from its copy of an event before reading it again: another node's
/// change reaches it within this.
const CACHE_TTL_MS: i64 = 1_000;

/// Events read lately, so that joins, heartbeats and stream requests do not each read the
/// database; this node's own changes drop its copy at once.
#[derive(Debug, Default)]
pub struct Cache {
    entries: RwLock<HashMap<String, (Arc<Event>, i64)>>,
}

impl Cache {
    /// Event `id` as stored at most [`CACHE_TTL_MS`] before `now` (ms).
    pub async fn get(
        &self,
        db: &Db,
        id: &str,
        now: i64,
    ) -> Result<Option<Arc<Event>>, sqlx::Error> {
        if let Ok(entries) = self.entries.read()
            && let Some((event, at)) = entries.get(id)
            && now - at < CACHE_TTL_MS
        {
            return Ok(Some(Arc::clone(event)));
        }
        let event = get(db, id).await?.map(Arc::new);
        if let Ok(mut entries) = self.entries.write() {
            match &event {
                Some(e) => entries.insert(id.to_string(), (Arc::clone(e), now)),
                None => entries.remove(id),
            };
        }
        Ok(event)
    }

    /// Drops the copy of event `id`, changed or deleted by this node.
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(id);
        }
    }
}

/// Inserts `event`, created at `now` (Unix ms).
pub async fn insert(db: &Db, event: &Event, now: i64) -> Result<(), sqlx::Error> {
    let body = serde_json::to_string(&event.spec).map_err(|e| sqlx::Error::Encode(e.into()))?;
    with_pool!(db, |p| sqlx::query(
        "INSERT INTO event (event_id, organizer, starts_at, ends_at, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.id)
    .bind(event.organizer.to_string())
    .bind(to_ms(event.spec.starts_at))
    .bind(to_ms(event.spec.ends_at))
    .bind(body)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Replaces `old` by `new` if the stored event is still `old`; false when it changed meanwhile.
pub async fn replace(db: &Db, old: &Event, new: &Event) -> Result<bool, sqlx::Error> {
    let encode =
        |e: &Event| serde_json::to_string(&e.spec).map_err(|e| sqlx::Error::Encode(e.into()));
    let done = with_pool!(db, |p| sqlx::query(
        "UPDATE event SET starts_at = $1, ends_at = $2, body = $3 \
         WHERE event_id = $4 AND body = $5",
    )
    .bind(to_ms(new.spec.starts_at))
    .bind(to_ms(new.spec.ends_at))
    .bind(encode(new)?)
    .bind(&old.id)
    .bind(encode(old)?)
    .execute(p)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}

/// What [`delete_unclaimed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The event and its attendance are gone.
    Yes,
    /// There was no such event.
    Gone,
    /// Kept: this many attendance tokens were claimed.
    Claimed(i64),
}

/// Deletes event `id` and its attendance, unless any attendance token was claimed for it (one
/// statement, so that a claim arriving meanwhile is never deleted with it).
pub async fn delete_unclaimed(db: &Db, id: &str) -> Result<Deleted, sqlx::Error> {
    let done = with_pool!(db, |p| sqlx::query(
        "DELETE FROM event WHERE event_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM claim WHERE event_id = $1)",
    )
    .bind(id)
    .execute(p)
    .await
    .map(|done| done.rows_affected()))?;
    if done == 1 {
        return Ok(Deleted::Yes);
    }
    let claimed: i64 = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT count(*) FROM claim WHERE event_id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await)?;
    Ok(if claimed > 0 {
        Deleted::Claimed(claimed)
    } else {
        Deleted::Gone
    })
}

/// One event.
pub async fn get(db: &Db, id: &str) -> Result<Option<Event>, sqlx::Error> {
    let row: Option<(String, String, String)> = with_pool!(db, |p| sqlx::query_as(
        "SELECT event_id, organizer, body FROM event WHERE event_id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(to_event).transpose()
}

/// Events that have live grants (whose tickets' transfers matter).
pub async fn with_live_grants(db: &Db, now: i64) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = with_pool!(db, |p| sqlx::query_as(
        "SELECT event_id, organizer, body FROM event WHERE event_id IN \
           (SELECT event_id FROM grant_ WHERE revoked_at IS NULL AND expires_at > $1)",
    )
    .bind(now)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(to_event).collect()
}

/// Events that have not ended by `now`.
pub async fn not_ended(db: &Db, now: i64) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = with_pool!(db, |p| sqlx::query_as(
        "SELECT event_id, organizer, body FROM event WHERE ends_at > $1"
    )
    .bind(now)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(to_event).collect()
}

/// Events in order of start, at most `limit`.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = with_pool!(db, |p| sqlx::query_as(
        "SELECT event_id, organizer, body FROM event ORDER BY starts_at, event_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(to_event).collect()
}

fn to_event((id, organizer, body): (String, String, String)) -> Result<Event, sqlx::Error> {
    let spec: EventSpec = serde_json::from_str(&body).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let organizer = organizer
        .parse()
        .map_err(|e: alloy::primitives::hex::FromHexError| sqlx::Error::Decode(e.into()))?;
    Ok(Event {
        id,
        organizer,
        spec,
    })
}
