//! Sign-in nonces already used. Issuing one writes nothing (it is MAC-signed); a login records
//! it here, and the primary key makes that record the single point where it is consumed.
//!
//! Logins arriving together are recorded together: one task gathers what is waiting and
//! writes it as one multi-row statement, so under load a login costs a fraction of a commit
//! rather than a commit and two thread hand-offs. A login is answered only after the commit
//! that recorded its nonce.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use rand_core::RngCore;
use sqlx::SqliteConnection;

use super::{Db, Kept};

/// Most nonces written by one statement (SQLite allows 32766 bound values).
const BATCH: usize = 512;

type Request = (String, i64, oneshot::Sender<Result<bool, sqlx::Error>>);

/// Records used nonces in batches; cheap to clone.
#[derive(Clone, Debug)]
pub struct Ledger {
    tx: mpsc::Sender<Request>,
}

impl Ledger {
    /// Starts the task that writes used nonces to `db`.
    pub fn spawn(db: Db) -> Self {
        let (tx, mut rx) = mpsc::channel::<Request>(4 * BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut conn = Kept::new(db);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let items: Vec<(&str, i64)> =
                    batch.iter().map(|(n, e, _)| (n.as_str(), *e)).collect();
                let outcome = record(&mut conn, &items).await;
                match outcome {
                    Ok(won) => {
                        for ((_, _, reply), won) in batch.drain(..).zip(won) {
                            let _ = reply.send(Ok(won));
                        }
                    }
                    Err(e) => {
                        for (_, _, reply) in batch.drain(..) {
                            let _ = reply.send(Err(clone_error(&e)));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Records `nonce` (valid until `expires_at`) as used; true when this call is the one that
    /// used it, so of concurrent logins with the same nonce exactly one gets true.
    pub async fn consume(&self, nonce: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((nonce.to_string(), expires_at, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// [`consume_all`] on the ledger's kept connection; a connection that failed is dropped, and
/// the next batch takes another.
async fn record(conn: &mut Kept, items: &[(&str, i64)]) -> Result<Vec<bool>, sqlx::Error> {
    let done = consume_all(conn.get().await?, items).await;
    if done.is_err() {
        conn.reset();
    }
    done
}

/// Records every nonce of `items`; for each item, whether it was the one that used its nonce
/// (the first of duplicates within the batch wins, nothing already stored does).
///
/// The usual batch holds no nonce used before: one statement writes it and answers with a
/// count, not a row per nonce. Only when the count falls short (a replay) is a second statement
/// needed, to find which rows carry this batch's random tag.
pub async fn consume_all(
    conn: &mut SqliteConnection,
    items: &[(&str, i64)],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut seen = HashSet::with_capacity(items.len());
    let first: Vec<bool> = items.iter().map(|(n, _)| seen.insert(*n)).collect();
    let unique: Vec<(&str, i64)> = items
        .iter()
        .zip(&first)
        .filter_map(|(item, first)| first.then_some(*item))
        .collect();
    let batch = i64::from_ne_bytes(rand_core::OsRng.next_u64().to_ne_bytes());
    let mut sql = String::from("INSERT INTO used_nonce (nonce, expires_at, batch) VALUES ");
    for i in 0..unique.len() {
        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
    }
    sql.push_str(" ON CONFLICT (nonce) DO NOTHING");
    let mut q = sqlx::query(&sql);
    for (nonce, expires_at) in &unique {
        q = q.bind(*nonce).bind(*expires_at).bind(batch);
    }
    let written = q.execute(&mut *conn).await?.rows_affected();
    let ours: HashSet<String> = if written == unique.len() as u64 {
        unique.iter().map(|(n, _)| (*n).to_string()).collect()
    } else {
        let mut sql = String::from("SELECT nonce FROM used_nonce WHERE batch = ? AND nonce IN (");
        for i in 0..unique.len() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
        let mut q = sqlx::query_scalar(&sql).bind(batch);
        for (nonce, _) in &unique {
            q = q.bind(*nonce);
        }
        q.fetch_all(&mut *conn).await?.into_iter().collect()
    };
    Ok(items
        .iter()
        .zip(first)
        .map(|((n, _), first)| first && ours.contains(*n))
        .collect())
}

fn clone_error(e: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("recording used nonces failed: {e}"))
}

/// Forgets used nonces that expired before `now`: they are refused by their expiry anyway.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM used_nonce WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
