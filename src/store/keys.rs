//! Token signing keys, shared by every node through the database.

use super::Db;

/// The newest signing key: (kid, PKCS#8 PEM).
pub async fn newest(db: &Db) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, private_pem FROM signing_key ORDER BY created_at DESC, kid DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await
}

/// Stores a key unless one with its kid exists.
pub async fn insert(db: &Db, kid: &str, pem: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_key (kid, private_pem, created_at) VALUES (?, ?, ?) ON CONFLICT (kid) DO NOTHING",
    )
    .bind(kid)
    .bind(pem)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}
