//! The database of one test: an SQLite file in a temporary folder or, when
//! `MARQUEE_TEST_POSTGRES` names a PostgreSQL server (`postgres://user@host:port/db`), a
//! database of its own on that server, created for the test and dropped after it, so that
//! tests running at once never meet.

use rand_core::RngCore;
use sqlx::Connection;

/// The variable naming the PostgreSQL server the suite runs against.
pub const POSTGRES_VAR: &str = "MARQUEE_TEST_POSTGRES";

pub struct TestDb {
    /// What the app is given as `MARQUEE_DATABASE_URL`.
    pub url: String,
    /// The server's URL (its own database) and the name of ours on it, to drop.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh, empty database of the suite's kind.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let Ok(server) = std::env::var(POSTGRES_VAR) else {
            let url = format!("sqlite://{}", dir.path().join("marquee.db").display());
            return Self {
                url,
                postgres: None,
                _dir: dir,
            };
        };
        let name = format!("marquee_test_{:016x}", rand_core::OsRng.next_u64());
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_VAR}={server}: cannot connect: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path(&name);
        Self {
            url: url.to_string(),
            postgres: Some((server, name)),
            _dir: dir,
        }
    }

    /// Cuts the app off this database, as an outage would: on PostgreSQL the server ends the
    /// app's connections and refuses new ones (until [`TestDb::restore`]); an SQLite file
    /// cannot be taken from a process that has it open, so the app's pool (`app`) is closed.
    pub async fn cut(&self, app: &marquee::store::Db) {
        let Some((server, name)) = &self.postgres else {
            let marquee::store::Db::Sqlite(pool) = app else {
                unreachable!("an SQLite suite")
            };
            // Marks the pool closed at once, so that every later query fails. Not awaited: that
            // waits for every connection to come back, and a batch writer keeps its own.
            drop(pool.close());
            return;
        };
        let mut admin = allow_connections(server, name, false).await;
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Ends a [`TestDb::cut`] on PostgreSQL; false on SQLite, where the app's pool stays closed.
    pub async fn restore(&self) -> bool {
        let Some((server, name)) = &self.postgres else {
            return false;
        };
        allow_connections(server, name, true).await;
        true
    }
}

/// Lets database `name` on `server` be connected to, or not; the server's connection that did.
async fn allow_connections(server: &str, name: &str, allow: bool) -> sqlx::PgConnection {
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime that could be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await?;
                // FORCE ends the connections of nodes the test left running or killed.
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.url);
        }
    }
}
