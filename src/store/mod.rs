//! The database: every SQL statement of Marquee lives in this module's children.

pub mod attendance;
pub mod batch;
pub mod claims;
pub mod events;
pub mod grants;
pub mod jobs;
pub mod keys;
pub mod nonces;
pub mod script;
pub mod sessions;
pub mod stats;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// The shared connection pool.
pub type Db = SqlitePool;

/// Opens (creating if needed) the database at `url` and applies the migrations.
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // WAL lets readers go on while one writer commits; NORMAL is durable in WAL mode
        // against a killed process (only an OS crash can lose the last commits).
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Whether the database answers.
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(db).await.map(|_| ())
}

/// Whether a sqlx error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
