//! The database: every SQL statement of Marquee lives in this module's children.
//!
//! Two databases are spoken: SQLite (embedded, the default) and PostgreSQL (several nodes).
//! Statements are written once where both dialects read them alike, with `$N` parameters,
//! which both accept; [`with_pool!`] compiles such code once per driver. Where the dialects
//! differ, the code matches on the [`Db`] variant.

pub mod attendance;
pub mod batch;
pub mod claims;
pub mod events;
pub mod grants;
pub mod jobs;
pub mod keys;
pub mod lease;
pub mod nonces;
pub mod script;
pub mod seat_thread;
pub mod sessions;
pub mod stats;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The shared connection pool, of whichever database the URL named.
#[derive(Debug, Clone)]
pub enum Db {
    /// An SQLite file: one node.
    Sqlite(SqlitePool),
    /// A PostgreSQL server: any number of nodes.
    Postgres(PgPool),
}

/// One connection taken from the pool, of either database.
#[derive(Debug)]
pub enum Conn {
    /// SQLite.
    Sqlite(PoolConnection<Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<Postgres>),
}

/// Evaluates `$body` with `$pool` bound to the pool `$db` (a [`Db`]) holds: the same code,
/// type-checked and compiled once per driver. Written like a closure, so that rustfmt lays the
/// body out.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// [`with_pool!`] for a [`Conn`]: `$conn` is bound to the driver's connection (`&mut`).
macro_rules! with_conn {
    ($c:expr, |$conn:ident| $body:expr) => {
        match $c {
            $crate::store::Conn::Sqlite($conn) => {
                let $conn = &mut **$conn;
                $body
            }
            $crate::store::Conn::Postgres($conn) => {
                let $conn = &mut **$conn;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

impl Db {
    /// A connection of its own, for work that keeps one.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Db::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }
}

impl Conn {
    /// Has the pool close this connection rather than reuse it (it failed mid-transaction).
    pub fn close_on_drop(&mut self) {
        match self {
            Conn::Sqlite(c) => c.close_on_drop(),
            Conn::Postgres(c) => c.close_on_drop(),
        }
    }
}

/// How long an SQLite connection waits for another's write to end.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pages written to SQLite's WAL before a commit checkpoints it (see [`connect`]).
const WAL_AUTOCHECKPOINT: &str = "8192";

/// Opens the database at `url` (`sqlite://…`, created if missing, or `postgres://…`) and
/// applies the migrations of its dialect.
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await?;
        // The migrator holds an advisory lock: nodes starting together migrate once.
        POSTGRES_MIGRATIONS.run(&pool).await?;
        grants::define_seat_function(&pool).await?;
        return Ok(Db::Postgres(pool));
    }
    // Everything, seats included, must outlive the process; and the seat thread opens the
    // database by its file name.
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(sqlx::Error::Configuration(
            "database_url: an in-memory SQLite database is lost when the process stops; name a file"
                .into(),
        ));
    }
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // WAL lets readers go on while one writer commits; NORMAL is durable in WAL mode
        // against a killed process (only an OS crash can lose the last commits).
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // A checkpoint copies each page changed since the last one once, however often it
        // changed: under a crowd of joins the same few pages change in every commit, and the
        // default (every 1,000 pages, 4 MB) copies them ten times as often as this (32 MB).
        // `make bench`, cold joins: server CPU per join -6%.
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await?;
    SQLITE_MIGRATIONS.run(&pool).await?;
    Ok(Db::Sqlite(pool))
}

/// Whether the database answers.
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()))
}

/// Whether a sqlx error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A 64-bit key for PostgreSQL's advisory locks, from the parts of what is locked.
pub(crate) fn lock_key(parts: &[&str]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn an_in_memory_database_is_refused_by_name() {
        for url in ["sqlite::memory:", "sqlite://seats?mode=memory"] {
            let refused = super::connect(url).await.unwrap_err();
            assert!(refused.to_string().contains("database_url"), "{refused}");
        }
    }
}
