//! Leases on work that one node at a time does: whoever holds an unexpired lease does it.

use super::{Db, with_pool};

/// Takes or renews lease `name` for `holder` until `until` (ms), if it is free, expired at
/// `now`, or already `holder`'s; true when `holder` holds it now. One statement, so two nodes
/// asking at once never both get it.
pub async fn hold(
    db: &Db,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let held: Option<String> = with_pool!(db, |p| sqlx::query_scalar(
        "INSERT INTO lease (name, holder, expires_at) VALUES ($1, $2, $4) \
         ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $4 \
         WHERE lease.holder = $2 OR lease.expires_at <= $3 \
         RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(now)
    .bind(until)
    .fetch_optional(p)
    .await)?;
    Ok(held.is_some())
}
