//! Revoked sessions and stream grants, held in memory for the hot path and followed from the
//! database so that a logout or a revocation on any node takes effect on every node within a
//! second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::store::{self, Db};
use crate::time_util::now_ms;

/// How often the database is asked for new revocations.
const POLL: Duration = Duration::from_millis(500);
/// Overlap of successive polls, so that nodes' clock differences lose no revocation.
const OVERLAP_MS: i64 = 5_000;
/// Tokens are accepted this long past their expiry (clock leeway), so revocations are kept
/// as long past it.
const LEEWAY_MS: i64 = crate::auth::tokens::LEEWAY_SECS as i64 * 1000;

/// The set of revoked session and grant ids (both random, so one set holds both), each kept
/// until no token that names it can still be valid.
#[derive(Debug)]
pub struct Revocations {
    /// Id → when the last token naming it expires (Unix ms).
    revoked: RwLock<HashMap<String, i64>>,
    /// How long a grant revoked now matters when its expiry is not at hand: the stream-token
    /// lifetime (the database's exact expiry replaces it within a poll when longer).
    grant_keep_ms: i64,
}

impl Revocations {
    /// Revocations of grants whose expiry is not given kept for `grant_keep`.
    pub fn new(grant_keep: Duration) -> Self {
        Self {
            revoked: RwLock::default(),
            grant_keep_ms: i64::try_from(grant_keep.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Whether session or grant `id` is revoked (no I/O).
    pub fn is_revoked(&self, id: &str) -> bool {
        self.any_revoked(&[id])
    }

    /// Whether any of `ids` is revoked, under one lock (a stream token's session and grant).
    pub fn any_revoked(&self, ids: &[&str]) -> bool {
        self.revoked
            .read()
            .map(|s| ids.iter().any(|id| s.contains_key(*id)))
            .unwrap_or(true)
    }

    /// Adds a grant revoked now, kept for the stream-token lifetime.
    pub fn insert(&self, id: String) {
        self.insert_until(id, now_ms().saturating_add(self.grant_keep_ms));
    }

    /// Adds a session or grant whose last token expires at `until_ms`, unless that has passed.
    pub fn insert_until(&self, id: String, until_ms: i64) {
        let until = until_ms.saturating_add(LEEWAY_MS);
        if until <= now_ms() {
            return;
        }
        if let Ok(mut s) = self.revoked.write() {
            let kept = s.entry(id).or_insert(until);
            *kept = (*kept).max(until);
        }
    }

    /// Forgets revocations whose tokens have all expired: those are refused anyway.
    pub fn prune(&self, now_ms: i64) {
        if let Ok(mut s) = self.revoked.write() {
            s.retain(|_, until| *until > now_ms);
        }
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.revoked.read().map_or(0, |s| s.len())
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads every current revocation, then follows new ones in the background.
    pub async fn follow(self: &Arc<Self>, db: Db) -> Result<(), sqlx::Error> {
        let mut watermark = self.refresh(&db, 0).await?;
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                me.prune(now_ms());
                match me.refresh(&db, watermark - OVERLAP_MS).await {
                    Ok(w) => watermark = watermark.max(w),
                    Err(e) => tracing::warn!(error = %e, "could not follow revocations"),
                }
            }
        });
        Ok(())
    }

    async fn refresh(&self, db: &Db, since: i64) -> Result<i64, sqlx::Error> {
        let now = now_ms();
        let mut rows = store::sessions::revoked_since(db, since.max(0), now).await?;
        rows.extend(store::grants::revoked_since(db, since.max(0), now).await?);
        let mut max = since;
        for (id, revoked_at, expires_at) in rows {
            max = max.max(revoked_at);
            self.insert_until(id, expires_at);
        }
        Ok(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_are_kept_while_a_token_could_live_and_forgotten_after() {
        let r = Revocations::new(Duration::from_secs(60));
        let now = now_ms();
        r.insert("grant".into());
        r.insert_until("session".into(), now + 10_000);
        r.insert_until("expired".into(), now - LEEWAY_MS - 1);
        assert!(r.is_revoked("grant") && r.is_revoked("session"));
        assert!(
            !r.is_revoked("expired"),
            "a revocation no token needs is not taken in"
        );
        assert!(r.any_revoked(&["nope", "session"]) && !r.any_revoked(&["nope"]));

        // A later expiry (the database's exact one) extends; an earlier one never shortens.
        r.insert_until("session".into(), now + 100_000);
        r.insert_until("session".into(), now + 1_000);
        r.prune(now + 90_000);
        assert!(!r.is_revoked("grant") && r.is_revoked("session"));
        assert_eq!(r.len(), 1);
        r.prune(now + 100_000 + LEEWAY_MS + 1);
        assert!(r.is_empty() && !r.is_revoked("session"));
    }
}
