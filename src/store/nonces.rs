//! Sign-in nonces already used. Issuing one writes nothing (it is MAC-signed); a login records
//! it here, and the primary key makes that record the single point where it is consumed.
//!
//! Logins arriving together are recorded together: one task gathers what is waiting and
//! writes it as one multi-row statement, so under load a login costs a fraction of a commit
//! rather than a commit and two thread hand-offs. A login is answered only after the commit
//! that recorded its nonce.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use super::Db;

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
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let items: Vec<(&str, i64)> =
                    batch.iter().map(|(n, e, _)| (n.as_str(), *e)).collect();
                match consume_all(&db, &items).await {
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

/// Records every nonce of `items` in one statement; for each item, whether it was the one that
/// used its nonce (the first of duplicates within the batch wins, nothing already stored does).
pub async fn consume_all(db: &Db, items: &[(&str, i64)]) -> Result<Vec<bool>, sqlx::Error> {
    let mut sql = String::from("INSERT INTO used_nonce (nonce, expires_at) VALUES ");
    for i in 0..items.len() {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push_str(" ON CONFLICT (nonce) DO NOTHING RETURNING nonce");
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for (nonce, expires_at) in items {
        q = q.bind(*nonce).bind(*expires_at);
    }
    let mut inserted: HashSet<String> = q.fetch_all(db).await?.into_iter().collect();
    Ok(items.iter().map(|(n, _)| inserted.remove(*n)).collect())
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
