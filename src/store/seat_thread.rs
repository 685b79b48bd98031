//! Seats joins on SQLite from a thread with a connection of its own (rusqlite).
//!
//! Through sqlx, every statement is a message to its connection's thread and every row and
//! result a message back, each a wake-up of one thread or the other: under a crowd of joins
//! those hand-offs cost more than SQLite's own work (perf, `make bench` join, warm: 59% of the
//! sqlx thread's CPU, besides the waiting task's). Here one thread runs a whole batch from
//! `BEGIN` to `COMMIT`, and a join costs one message each way. Written by hand: no crate runs
//! a batch of statements on a thread of its own and answers each caller.

use std::path::Path;
use std::sync::LazyLock;

use rusqlite::{Connection, OpenFlags, types::Null};
use tokio::sync::{mpsc, oneshot};

use super::script::{Arg, Script};

/// The rows a join's statements returned, in order: `(what, id)` pairs.
pub type Rows = Vec<(String, String)>;

/// One join's parameters and where its rows go.
type Request = (Vec<Arg>, oneshot::Sender<Result<Rows, sqlx::Error>>);

/// One statement of a join.
#[derive(Debug)]
pub struct Step {
    /// The statement, its parameters made positional.
    pub script: Script,
    /// The numbers `N` of the parameters `$N` without which it changes nothing and returns no
    /// row: it is skipped when any of them is NULL or 0, rather than run to find that out.
    pub needs: &'static [usize],
}

/// The statements of one join, in order.
pub(super) type Statements = LazyLock<Vec<Step>>;

/// The handle of the seat thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct SeatThread {
    tx: mpsc::Sender<Request>,
}

impl SeatThread {
    /// Starts the thread that runs `statements` for each join, batches of at most `max` joins
    /// in one transaction, on the SQLite file at `path`.
    pub fn spawn(
        path: &Path,
        statements: &'static Statements,
        max: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(4 * max);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("marquee-seats".into())
            .spawn(move || run(&path, statements, max, rx))?;
        Ok(Self { tx })
    }

    /// Runs the statements for `args` with whatever joins arrive with it; its rows, after the
    /// commit.
    pub async fn call(&self, args: Vec<Arg>) -> Result<Rows, sqlx::Error> {
        super::batch::ask(&self.tx, args).await
    }
}

/// The thread: gathers what is waiting, writes it in one transaction, answers each join.
fn run(path: &Path, statements: &Statements, max: usize, mut rx: mpsc::Receiver<Request>) {
    // Kept between batches: its page cache and prepared statements stay valid.
    let mut kept: Option<Connection> = None;
    let mut batch = Vec::with_capacity(max);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let (args, replies): (Vec<Vec<Arg>>, Vec<_>) = batch.drain(..).unzip();
        let outcome = match &kept {
            Some(conn) => write(conn, statements, &args),
            None => open(path).and_then(|conn| write(kept.insert(conn), statements, &args)),
        };
        match outcome {
            Ok(rows) => {
                for (reply, rows) in replies.into_iter().zip(rows) {
                    let _ = reply.send(Ok(rows));
                }
            }
            Err(e) => {
                // Whatever it had begun is rolled back as it closes; the next batch opens
                // another.
                kept = None;
                tracing::warn!(error = %e, "seating joins failed");
                for reply in replies {
                    let failed = format!("seating joins failed: {e}");
                    let _ = reply.send(Err(sqlx::Error::Protocol(failed)));
                }
            }
        }
    }
}

/// Opens the database file as [`super::connect`] configured its pool.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints are run by the connection that commits: this one, mostly.
    conn.pragma_update(None, "wal_autocheckpoint", super::WAL_AUTOCHECKPOINT)?;
    Ok(conn)
}

/// Runs `statements` once per item of `batch` in one transaction; each item's rows.
fn write(
    conn: &Connection,
    statements: &Statements,
    batch: &[Vec<Arg>],
) -> rusqlite::Result<Vec<Rows>> {
    // On failure the caller drops the connection, which rolls back what was begun.
    conn.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
    let rows = batch
        .iter()
        .map(|args| run_one(conn, statements, args))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    conn.prepare_cached("COMMIT")?.raw_execute()?;
    Ok(rows)
}

/// Runs `statements` with `args`; the rows they return, in order.
fn run_one(conn: &Connection, statements: &Statements, args: &[Arg]) -> rusqlite::Result<Rows> {
    let mut out = Vec::new();
    let absent = |n: &usize| matches!(args[n - 1], Arg::Null | Arg::Int(0));
    for Step { script, needs } in statements.iter() {
        if needs.iter().any(absent) {
            continue;
        }
        let mut stmt = conn.prepare_cached(script.sql())?;
        for (i, n) in script.order().iter().enumerate() {
            match &args[n - 1] {
                Arg::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Text(s) => stmt.raw_bind_parameter(i + 1, s.as_str())?,
                Arg::Null => stmt.raw_bind_parameter(i + 1, Null)?,
            }
        }
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            out.push((row.get(0)?, row.get(1)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Db, connect};

    /// Each join puts `$1` into `seat` and `$2` into `badge`; both answer with a row.
    static STATEMENTS: Statements = LazyLock::new(|| {
        let step = |sql, needs| Step {
            script: Script::new(sql),
            needs,
        };
        vec![
            step(
                "INSERT INTO seat (id) VALUES ($1) RETURNING 'seated', id",
                &[],
            ),
            step(
                "INSERT INTO badge (id) VALUES ($2) RETURNING 'badge', id",
                &[2],
            ),
        ]
    });

    async fn setup() -> (tempfile::TempDir, Db, SeatThread) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let db = connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let Db::Sqlite(pool) = &db else {
            unreachable!("an SQLite file")
        };
        sqlx::raw_sql(
            "CREATE TABLE seat (id TEXT PRIMARY KEY); CREATE TABLE badge (id TEXT PRIMARY KEY)",
        )
        .execute(pool)
        .await
        .unwrap();
        let thread = SeatThread::spawn(&path, &STATEMENTS, 8).unwrap();
        (dir, db, thread)
    }

    async fn ids(db: &Db, table: &str) -> Vec<String> {
        let Db::Sqlite(pool) = db else {
            unreachable!("an SQLite file")
        };
        sqlx::query_scalar(&format!("SELECT id FROM {table} ORDER BY id"))
            .fetch_all(pool)
            .await
            .unwrap()
    }

    fn args(seat: &str, badge: &str) -> Vec<Arg> {
        vec![Arg::text(seat), Arg::text(badge)]
    }

    #[tokio::test]
    async fn concurrent_joins_each_get_their_own_rows_once_committed() {
        let (_dir, db, thread) = setup().await;
        let calls = (0..40).map(|i| {
            let thread = thread.clone();
            async move {
                (
                    i,
                    thread
                        .call(args(&format!("s{i:02}"), &format!("b{i:02}")))
                        .await,
                )
            }
        });
        for (i, rows) in futures_util::future::join_all(calls).await {
            let want = [
                ("seated", format!("s{i:02}")),
                ("badge", format!("b{i:02}")),
            ];
            let want: Vec<_> = want
                .into_iter()
                .map(|(w, id)| (w.to_string(), id))
                .collect();
            assert_eq!(rows.unwrap(), want);
        }
        // Answered means committed: another connection sees every row.
        assert_eq!(ids(&db, "seat").await.len(), 40);
        assert_eq!(ids(&db, "badge").await.len(), 40);
    }

    #[tokio::test]
    async fn a_failed_join_writes_nothing_and_the_next_one_is_seated() {
        let (_dir, db, thread) = setup().await;
        thread.call(args("a", "taken")).await.unwrap();
        // The second statement fails: the first one's row goes too.
        let failed = thread.call(args("b", "taken")).await.unwrap_err();
        assert!(failed.to_string().contains("UNIQUE"), "{failed}");
        assert_eq!(ids(&db, "seat").await, ["a"]);
        // The thread goes on, on a new connection.
        thread.call(args("c", "free")).await.unwrap();
        assert_eq!(ids(&db, "seat").await, ["a", "c"]);
        assert_eq!(ids(&db, "badge").await, ["free", "taken"]);
    }

    #[tokio::test]
    async fn a_statement_lacking_a_parameter_it_needs_is_skipped() {
        let (_dir, db, thread) = setup().await;
        let mut without_badge = args("d", "");
        without_badge[1] = Arg::Null;
        // Run, it would have stored a NULL id (SQLite's text keys allow one).
        let rows = thread.call(without_badge).await.unwrap();
        assert_eq!(rows, [("seated".to_string(), "d".to_string())]);
        assert!(ids(&db, "badge").await.is_empty());
    }
}
