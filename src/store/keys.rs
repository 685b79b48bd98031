//! Token keys of every purpose, shared by every node through the database.

use super::{Db, with_pool};

/// A stored key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Key id, as JWT headers name it.
    pub kid: String,
    /// `session`, `stream` or `nonce`.
    pub purpose: String,
    /// Key material (PKCS#8 PEM or hex); never logged.
    pub secret: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When it stops verifying (Unix ms); `None` while it is the newest.
    pub retires_at: Option<i64>,
}

/// Keys that still verify at `now`, newest first.
pub async fn current(db: &Db, now: i64) -> Result<Vec<KeyRow>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT kid, purpose, secret, created_at, retires_at FROM token_key \
         WHERE retires_at IS NULL OR retires_at > $1 ORDER BY created_at DESC, kid DESC",
    )
    .bind(now)
    .fetch_all(p)
    .await)
}

/// Stores `key` and retires every other unretired key of its purpose at `retire_at`, in one
/// transaction, so a purpose always has exactly one newest key once this commits (a rotation
/// racing another fails on the index of newest keys, and commits nothing).
pub async fn replace(db: &Db, key: &KeyRow, retire_at: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| {
        let mut tx = p.begin().await?;
        sqlx::query(
            "UPDATE token_key SET retires_at = $1 \
             WHERE purpose = $2 AND retires_at IS NULL AND kid <> $3",
        )
        .bind(retire_at)
        .bind(&key.purpose)
        .bind(&key.kid)
        .execute(&mut *tx)
        .await?;
        sqlx::query(INSERT)
            .bind(&key.kid)
            .bind(&key.purpose)
            .bind(&key.secret)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Stores `key` as the newest key of its purpose (first start), unless its purpose has one:
/// of nodes starting together on an empty database, one creates each purpose's key.
pub async fn insert_first(db: &Db, key: &KeyRow) -> Result<(), sqlx::Error> {
    let sql = format!("{INSERT} ON CONFLICT DO NOTHING");
    with_pool!(db, |p| sqlx::query(&sql)
        .bind(&key.kid)
        .bind(&key.purpose)
        .bind(&key.secret)
        .bind(key.created_at)
        .execute(p)
        .await
        .map(|_| ()))
}

const INSERT: &str = "INSERT INTO token_key (kid, purpose, secret, created_at, retires_at) \
     VALUES ($1, $2, $3, $4, NULL)";
