//! Revoked sessions and stream grants, held in memory for the hot path and followed from the
//! database so that a logout or a revocation on any node takes effect on every node within a
//! second.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::store::{self, Db};
use crate::time_util::now_ms;

/// How often the database is asked for new revocations.
const POLL: Duration = Duration::from_millis(500);
/// Overlap of successive polls, so that nodes' clock differences lose no revocation.
const OVERLAP_MS: i64 = 5_000;

/// The set of revoked session and grant ids (both random, so one set holds both).
#[derive(Debug, Default)]
pub struct Revocations {
    revoked: RwLock<HashSet<String>>,
}

impl Revocations {
    /// Whether session or grant `id` is revoked (no I/O).
    pub fn is_revoked(&self, id: &str) -> bool {
        self.any_revoked(&[id])
    }

    /// Whether any of `ids` is revoked, under one lock (a stream token's session and grant).
    pub fn any_revoked(&self, ids: &[&str]) -> bool {
        self.revoked
            .read()
            .map(|s| ids.iter().any(|id| s.contains(*id)))
            .unwrap_or(true)
    }

    /// Adds a revoked session or grant.
    pub fn insert(&self, id: String) {
        if let Ok(mut s) = self.revoked.write() {
            s.insert(id);
        }
    }

    /// Loads every current revocation, then follows new ones in the background.
    pub async fn follow(self: &Arc<Self>, db: Db) -> Result<(), sqlx::Error> {
        let mut watermark = self.refresh(&db, 0).await?;
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
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
        for (id, at) in rows {
            max = max.max(at);
            self.insert(id);
        }
        Ok(max)
    }
}
