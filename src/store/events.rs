//! Events: stored as the validated spec (JSON) beside the columns that queries need.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::model::{Event, EventSpec};
use crate::time_util::to_ms;

use super::{Db, with_pool};

/// How long a node answers from its copy of an event before reading it again: another node's
/// change reaches it within this (and the time that read takes).
pub const CACHE_TTL_MS: i64 = 1_000;

/// Events read lately, so that joins, heartbeats and stream requests do not each read the
/// database; this node's own changes drop its copy at once.
///
/// An old copy is still answered while one read in the background replaces it, and kept when
/// that read fails: no viewer's request waits on the database once an event has been read,
/// and a screening plays on through a database outage (nothing can change an event then).
#[derive(Debug, Default)]
pub struct Cache {
    entries: RwLock<HashMap<String, Entry>>,
    /// Counts [`Cache::forget`]s: a read that began before one may predate the change, and is
    /// not kept.
    forgets: AtomicU64,
}

/// A copy of one event.
#[derive(Debug)]
struct Entry {
    event: Arc<Event>,
    /// When it was read (Unix ms).
    read_at: i64,
    /// Whether a read to replace it is under way.
    refreshing: bool,
}

impl Cache {
    /// Event `id`, as stored at most [`CACHE_TTL_MS`] before `now` (ms) or, while a read
    /// replaces it in the background, the copy before. Only an event not read before waits on
    /// the database.
    pub async fn get(
        self: &Arc<Self>,
        db: &Db,
        id: &str,
        now: i64,
    ) -> Result<Option<Arc<Event>>, sqlx::Error> {
        if let Ok(entries) = self.entries.read()
            && let Some(copy) = entries.get(id)
        {
            let event = Arc::clone(&copy.event);
            let stale = now - copy.read_at >= CACHE_TTL_MS && !copy.refreshing;
            drop(entries);
            if stale {
                self.refresh(db, id, now);
            }
            return Ok(Some(event));
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let event = get(db, id).await?.map(Arc::new);
        self.keep(id, event.clone(), now, forgets);
        Ok(event)
    }

    /// Drops the copy of event `id`, changed or deleted by this node.
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            self.forgets.fetch_add(1, Ordering::AcqRel);
            entries.remove(id);
        }
    }

    /// Reads event `id` again in the background, unless another read already does.
    fn refresh(self: &Arc<Self>, db: &Db, id: &str, now: i64) {
        {
            let Ok(mut entries) = self.entries.write() else {
                return;
            };
            match entries.get_mut(id) {
                Some(copy) if !copy.refreshing && now - copy.read_at >= CACHE_TTL_MS => {
                    copy.refreshing = true;
                }
                _ => return,
            }
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let (cache, db, id) = (Arc::clone(self), db.clone(), id.to_string());
        tokio::spawn(async move {
            match get(&db, &id).await {
                Ok(event) => cache.keep(&id, event.map(Arc::new), now, forgets),
                Err(e) => {
                    tracing::warn!(error = %e, event = %id, "reading an event again failed; its copy stays");
                    if let Ok(mut entries) = cache.entries.write()
                        && let Some(copy) = entries.get_mut(&id)
                    {
                        // The next try comes a TTL later, not with the next request.
                        copy.read_at = now;
                        copy.refreshing = false;
                    }
                }
            }
        });
    }

    /// Keeps `event` as read from `now` (ms), unless this node changed an event since.
    fn keep(&self, id: &str, event: Option<Arc<Event>>, now: i64, forgets: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if self.forgets.load(Ordering::Acquire) != forgets {
            // Another read, after the change, is due: the next request of this event starts it.
            if let Some(copy) = entries.get_mut(id) {
                copy.refreshing = false;
            }
            return;
        }
        match event {
            Some(event) => entries.insert(
                id.to_string(),
                Entry {
                    event,
                    read_at: now,
                    refreshing: false,
                },
            ),
            None => entries.remove(id),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_util::now_ms;
    use serde_json::json;

    fn event(title: &str) -> Event {
        let spec = serde_json::from_value(json!({
            "title": title, "starts_at": "2026-01-01T20:00:00Z", "ends_at": "2026-01-01T22:00:00Z",
            "stream": { "source": "demo" },
            "gate": { "any": [{ "type": "erc20", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "min_balance": "1" }] }
        }))
        .unwrap();
        Event {
            id: "ev".into(),
            organizer: alloy::primitives::Address::ZERO,
            spec,
        }
    }

    /// The title of the cache's answer for `ev`.
    async fn title(cache: &Arc<Cache>, db: &Db, now: i64) -> String {
        cache
            .get(db, "ev", now)
            .await
            .unwrap()
            .unwrap()
            .spec
            .title
            .clone()
    }

    /// The cache's copy of `ev` once a read under way has ended.
    async fn settled(cache: &Arc<Cache>, db: &Db, now: i64) -> Arc<Event> {
        loop {
            let refreshing = cache.entries.read().unwrap()["ev"].refreshing;
            if !refreshing {
                return cache.get(db, "ev", now).await.unwrap().unwrap();
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_old_copy_is_answered_while_it_is_read_again_and_kept_when_that_fails() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let db = super::super::connect(&url).await.unwrap();
        let (first, second) = (event("First"), event("Second"));
        insert(&db, &first, 0).await.unwrap();
        let cache = Arc::new(Cache::default());
        let t = now_ms();
        assert_eq!(title(&cache, &db, t).await, "First");

        // Changed by another node: this one answers its copy until the TTL has passed, then
        // answers it once more while the read it started replaces it.
        assert!(replace(&db, &first, &second).await.unwrap());
        let later = t + CACHE_TTL_MS;
        assert_eq!(title(&cache, &db, later - 1).await, "First");
        assert_eq!(title(&cache, &db, later).await, "First");
        assert_eq!(settled(&cache, &db, later).await.spec.title, "Second");

        // The database gone: the copy stays, however old.
        with_pool!(&db, |p| p.close().await);
        let much_later = now_ms() + 10 * CACHE_TTL_MS;
        assert_eq!(title(&cache, &db, much_later).await, "Second");
        assert_eq!(settled(&cache, &db, much_later).await.spec.title, "Second");
        // An event never read cannot be answered.
        assert!(cache.get(&db, "other", much_later).await.is_err());

        // This node's own change is seen at once.
        cache.forget("ev");
        assert!(cache.get(&db, "ev", much_later).await.is_err());
    }
}
