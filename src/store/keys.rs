//! Token keys of every purpose, shared by every node through the database.

use super::Db;

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
    sqlx::query_as(
        "SELECT kid, purpose, secret, created_at, retires_at FROM token_key \
         WHERE retires_at IS NULL OR retires_at > ? ORDER BY created_at DESC, kid DESC",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

/// Stores `key` and retires every other unretired key of its purpose at `retire_at`, in one
/// transaction, so a purpose always has exactly one newest key once this commits.
pub async fn replace(db: &Db, key: &KeyRow, retire_at: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE token_key SET retires_at = ? WHERE purpose = ? AND retires_at IS NULL AND kid <> ?",
    )
    .bind(retire_at)
    .bind(&key.purpose)
    .bind(&key.kid)
    .execute(&mut *tx)
    .await?;
    insert(&mut *tx, key).await?;
    tx.commit().await
}

/// Stores `key` as an additional newest key of its purpose (first start), unless its kid exists.
pub async fn insert<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    key: &KeyRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO token_key (kid, purpose, secret, created_at, retires_at) VALUES (?, ?, ?, ?, NULL) \
         ON CONFLICT (kid) DO NOTHING",
    )
    .bind(&key.kid)
    .bind(&key.purpose)
    .bind(&key.secret)
    .bind(key.created_at)
    .execute(db)
    .await?;
    Ok(())
}
