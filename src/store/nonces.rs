//! Sign-in nonces already used. Issuing one writes nothing (it is MAC-signed); a login records
//! it here, and the primary key makes that record the single point where it is consumed.
//!
//! Logins arriving together are recorded together: one task gathers what is waiting and
//! writes it as one multi-row statement, so under load a login costs a fraction of a commit
//! rather than a commit and two thread hand-offs. A login is answered only after the commit
//! that recorded its nonce.

use std::collections::HashSet;
use std::fmt::Write as _;

use rand_core::RngCore;

use super::batch::{Batch, Batcher};
use super::{Conn, Db, with_conn, with_pool};

/// Most nonces written by one statement (SQLite allows 32766 bound values, PostgreSQL 65535).
const BATCH: usize = 512;

/// Records used nonces in batches; cheap to clone.
pub type Ledger = Batcher<UsedNonces>;

impl Ledger {
    /// Records `nonce` (valid until `expires_at`) as used; true when this call is the one that
    /// used it, so of concurrent logins with the same nonce exactly one gets true.
    pub async fn consume(&self, nonce: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
        self.call((nonce.to_string(), expires_at)).await
    }
}

/// The batches of the [`Ledger`]: each item a nonce and its expiry, each answer whether it
/// was this item that used the nonce.
#[derive(Debug)]
pub enum UsedNonces {}

impl Batch for UsedNonces {
    type Item = (String, i64);
    type Out = bool;
    const NAME: &'static str = "recording used nonces";
    const MAX: usize = BATCH;

    async fn run(conn: &mut Conn, items: &[(String, i64)]) -> Result<Vec<bool>, sqlx::Error> {
        let items: Vec<(&str, i64)> = items.iter().map(|(n, e)| (n.as_str(), *e)).collect();
        consume_all(conn, &items).await
    }
}

/// Records every nonce of `items`; for each item, whether it was the one that used its nonce
/// (the first of duplicates within the batch wins, nothing already stored does).
///
/// The usual batch holds no nonce used before: one statement writes it and answers with a
/// count, not a row per nonce. Only when the count falls short (a replay) is a second statement
/// needed, to find which rows carry this batch's random tag.
pub async fn consume_all(conn: &mut Conn, items: &[(&str, i64)]) -> Result<Vec<bool>, sqlx::Error> {
    let mut seen = HashSet::with_capacity(items.len());
    let first: Vec<bool> = items.iter().map(|(n, _)| seen.insert(*n)).collect();
    let unique: Vec<(&str, i64)> = items
        .iter()
        .zip(&first)
        .filter_map(|(item, first)| first.then_some(*item))
        .collect();
    let batch = i64::from_ne_bytes(rand_core::OsRng.next_u64().to_ne_bytes());
    let mut sql = String::from("INSERT INTO used_nonce (nonce, expires_at, batch) VALUES ");
    // Every row's tag is the same parameter, bound once.
    for i in 0..unique.len() {
        let sep = if i == 0 { "" } else { ", " };
        write!(sql, "{sep}(${}, ${}, $1)", 2 * i + 2, 2 * i + 3).expect("to a string");
    }
    sql.push_str(" ON CONFLICT (nonce) DO NOTHING");
    let written = with_conn!(conn, |c| {
        let mut q = sqlx::query(&sql).bind(batch);
        for (nonce, expires_at) in &unique {
            q = q.bind(*nonce).bind(*expires_at);
        }
        q.execute(c).await?.rows_affected()
    });
    let ours: HashSet<String> = if written == unique.len() as u64 {
        unique.iter().map(|(n, _)| (*n).to_string()).collect()
    } else {
        let mut sql = String::from("SELECT nonce FROM used_nonce WHERE batch = $1 AND nonce IN (");
        for i in 0..unique.len() {
            let sep = if i == 0 { "" } else { ", " };
            write!(sql, "{sep}${}", i + 2).expect("to a string");
        }
        sql.push(')');
        let found: Vec<String> = with_conn!(conn, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(batch);
            for (nonce, _) in &unique {
                q = q.bind(*nonce);
            }
            q.fetch_all(c).await?
        });
        found.into_iter().collect()
    };
    Ok(items
        .iter()
        .zip(first)
        .map(|((n, _), first)| first && ours.contains(*n))
        .collect())
}

/// Forgets used nonces that expired before `now`: they are refused by their expiry anyway.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "DELETE FROM used_nonce WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|done| done.rows_affected()))
}
