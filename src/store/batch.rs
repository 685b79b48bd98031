//! Group commit: requests that arrive together are written by one task in one go, on a
//! connection it keeps, and each is answered only after the write that carries it. Under load
//! a request then costs a fraction of a commit and of the hand-offs to SQLite's thread (or of
//! the round trips to PostgreSQL).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{Conn, Db};

/// The work of one kind of batch.
pub trait Batch: 'static {
    /// One request.
    type Item: Send + 'static;
    /// Its answer.
    type Out: Send + 'static;
    /// What failures are reported as.
    const NAME: &'static str;
    /// Most requests written together.
    const MAX: usize;

    /// Writes `items`, answering each in order; an error fails them all. A connection that
    /// failed is closed (rolling back whatever it had begun), and the next batch takes another.
    fn run(
        conn: &mut Conn,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Out>, sqlx::Error>> + Send;
}

type Request<B> = (
    <B as Batch>::Item,
    oneshot::Sender<Result<<B as Batch>::Out, sqlx::Error>>,
);

/// The handle of a batching task; cheap to clone.
pub struct Batcher<B: Batch> {
    tx: mpsc::Sender<Request<B>>,
}

impl<B: Batch> Clone for Batcher<B> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<B: Batch> std::fmt::Debug for Batcher<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("name", &B::NAME).finish()
    }
}

impl<B: Batch> Batcher<B> {
    /// Starts the task that writes batches of `B` to `db`.
    pub fn spawn(db: Db) -> Self {
        let (tx, mut rx) = mpsc::channel::<Request<B>>(4 * B::MAX);
        tokio::spawn(async move {
            // Kept between batches: its page cache stays valid, where connections taken in
            // turn from the pool would each re-read what the last batch changed.
            let mut kept: Option<Conn> = None;
            let mut batch = Vec::with_capacity(B::MAX);
            while rx.recv_many(&mut batch, B::MAX).await > 0 {
                let (items, replies): (Vec<B::Item>, Vec<_>) = batch.drain(..).unzip();
                let outcome = match &mut kept {
                    Some(conn) => B::run(conn, &items).await,
                    None => match db.acquire().await {
                        Ok(conn) => B::run(kept.insert(conn), &items).await,
                        Err(e) => Err(e),
                    },
                };
                match outcome {
                    Ok(outs) => {
                        for (reply, out) in replies.into_iter().zip(outs) {
                            let _ = reply.send(Ok(out));
                        }
                    }
                    Err(e) => {
                        if let Some(mut conn) = kept.take() {
                            conn.close_on_drop();
                        }
                        for reply in replies {
                            let failed = format!("{} failed: {e}", B::NAME);
                            let _ = reply.send(Err(sqlx::Error::Protocol(failed)));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Has `item` written with whatever arrives with it, and its answer.
    pub async fn call(&self, item: B::Item) -> Result<B::Out, sqlx::Error> {
        ask(&self.tx, item).await
    }
}

/// Sends `item` to the writer behind `tx` with a place for its answer, and waits for it; a
/// writer that has stopped answers as a closed pool.
pub(super) async fn ask<I, O>(
    tx: &mpsc::Sender<(I, oneshot::Sender<Result<O, sqlx::Error>>)>,
    item: I,
) -> Result<O, sqlx::Error> {
    let (reply, answer) = oneshot::channel();
    tx.send((item, reply))
        .await
        .map_err(|_| sqlx::Error::PoolClosed)?;
    answer.await.map_err(|_| sqlx::Error::PoolClosed)?
}
