//! The key ring: every node's keys for session tokens (Ed25519), stream tokens (HMAC) and
//! sign-in nonces (HMAC), kept in the database so that nodes share them, reloaded in the
//! background so that `marquee keys rotate` on any node reaches every node.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::keys::KeyRow;
use crate::store::{self, Db};
use crate::time_util::now_ms;

/// How often the database is asked for new or retired keys.
const RELOAD: Duration = Duration::from_secs(1);
/// Stream keys are replaced this often without anyone asking.
const STREAM_KEY_MAX_AGE_MS: i64 = 24 * 3600 * 1000;
/// Clock leeway added to a retired key's last use.
const RETIRE_LEEWAY_MS: i64 = 60_000;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Session tokens: Ed25519, public keys in the JWKS.
    Session,
    /// Stream tokens: HMAC-SHA256, so a segment request costs microseconds.
    Stream,
    /// Sign-in nonces: HMAC-SHA256 over the nonce's random part and expiry.
    Nonce,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 3] = [Purpose::Session, Purpose::Stream, Purpose::Nonce];

    fn as_str(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::Stream => "stream",
            Purpose::Nonce => "nonce",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// How long tokens of each purpose live: a replaced key verifies that much longer.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Session tokens.
    pub session: Duration,
    /// Stream tokens.
    pub stream: Duration,
    /// Sign-in nonces.
    pub nonce: Duration,
}

impl Lifetimes {
    fn of(&self, purpose: Purpose) -> i64 {
        let d = match purpose {
            Purpose::Session => self.session,
            Purpose::Stream => self.stream,
            Purpose::Nonce => self.nonce,
        };
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2) + RETIRE_LEEWAY_MS
    }
}

/// A key that verifies tokens.
pub(crate) struct Verifier {
    pub(crate) purpose: Purpose,
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

/// One consistent set of keys.
pub(crate) struct Ring {
    kids: Vec<String>,
    /// The signing key is kept expanded: rebuilding it per token costs a scalar multiplication.
    pub(crate) session: (String, SigningKey),
    pub(crate) stream: (String, EncodingKey),
    /// Nonce keys, newest first.
    pub(crate) nonce: Vec<[u8; 32]>,
    pub(crate) verifiers: HashMap<String, Verifier>,
    jwks: Value,
}

/// Key setup failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored key is unreadable.
    #[error("stored key {0} is unreadable")]
    Corrupt(String),
}

/// The key ring of this process, swapped whole when the stored keys change.
pub struct KeyRing {
    ring: RwLock<Arc<Ring>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("kids", &self.current().kids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the stored keys, creating on first start whichever purpose has none.
    pub async fn load_or_create(db: &Db) -> Result<Self, KeyError> {
        let rows = store::keys::current(db, now_ms()).await?;
        for purpose in Purpose::ALL {
            if !rows.iter().any(|r| r.purpose == purpose.as_str()) {
                store::keys::insert_first(db, &new_key(purpose)?).await?;
            }
        }
        let ring = build(store::keys::current(db, now_ms()).await?)?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    /// The current keys (no I/O).
    pub(crate) fn current(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Issues a sign-in nonce valid until `expires_at` (Unix ms).
    pub fn issue_nonce(&self, expires_at: i64) -> super::nonce::Nonce {
        super::nonce::issue(&self.current().nonce[0], expires_at)
    }

    /// The expiry of a nonce this service issued, if it is unexpired at `now` (Unix ms).
    pub fn check_nonce(&self, text: &str, now: i64) -> Option<i64> {
        super::nonce::check(&self.current().nonce, text, now)
    }

    /// The JWKS document of the keys that verify session tokens.
    pub fn jwks(&self) -> Value {
        self.current().jwks.clone()
    }

    /// Re-reads the stored keys, replacing the stream key when it is old; then keeps doing so
    /// in the background.
    pub fn follow(self: &Arc<Self>, db: Db, lifetimes: Lifetimes) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD).await;
                if let Err(e) = me.reload(&db, lifetimes).await {
                    tracing::warn!(error = %e, "could not reload token keys");
                }
            }
        });
    }

    async fn reload(&self, db: &Db, lifetimes: Lifetimes) -> Result<(), KeyError> {
        let now = now_ms();
        let mut rows = store::keys::current(db, now).await?;
        let stream_is_old = rows
            .iter()
            .find(|r| r.purpose == Purpose::Stream.as_str())
            .is_none_or(|r| now - r.created_at > STREAM_KEY_MAX_AGE_MS);
        if stream_is_old {
            rotate_purpose(db, Purpose::Stream, lifetimes).await?;
            rows = store::keys::current(db, now).await?;
        }
        let kids: Vec<&str> = rows.iter().map(|r| r.kid.as_str()).collect();
        if kids != self.current().kids {
            let ring = Arc::new(build(rows)?);
            if let Ok(mut slot) = self.ring.write() {
                *slot = ring;
            }
        }
        Ok(())
    }
}

/// Replaces the key of every purpose; the replaced ones verify until their last token expires.
/// Returns the new key ids.
pub async fn rotate(db: &Db, lifetimes: Lifetimes) -> Result<Value, KeyError> {
    let mut out = serde_json::Map::new();
    for purpose in Purpose::ALL {
        let kid = rotate_purpose(db, purpose, lifetimes).await?;
        out.insert(purpose.as_str().into(), Value::String(kid));
    }
    Ok(Value::Object(out))
}

async fn rotate_purpose(
    db: &Db,
    purpose: Purpose,
    lifetimes: Lifetimes,
) -> Result<String, KeyError> {
    let key = new_key(purpose)?;
    store::keys::replace(db, &key, key.created_at + lifetimes.of(purpose)).await?;
    Ok(key.kid)
}

fn new_key(purpose: Purpose) -> Result<KeyRow, KeyError> {
    let (kid, secret) = match purpose {
        Purpose::Session => {
            let key = SigningKey::generate(&mut OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| KeyError::Corrupt("new".into()))?;
            (
                alloy::hex::encode(&key.verifying_key().as_bytes()[..8]),
                pem.to_string(),
            )
        }
        Purpose::Stream | Purpose::Nonce => {
            let mut secret = [0u8; 32];
            OsRng.fill_bytes(&mut secret);
            let prefix = if purpose == Purpose::Stream { "s" } else { "n" };
            (
                format!("{prefix}{}", super::random_id()),
                alloy::hex::encode(secret),
            )
        }
    };
    Ok(KeyRow {
        kid,
        purpose: purpose.as_str().into(),
        secret,
        created_at: now_ms(),
        retires_at: None,
    })
}

/// Builds a ring from stored rows, newest first.
fn build(rows: Vec<KeyRow>) -> Result<Ring, KeyError> {
    let mut session = None;
    let mut stream = None;
    let mut nonce = Vec::new();
    let mut verifiers = HashMap::new();
    let mut jwks = Vec::new();
    let kids = rows.iter().map(|r| r.kid.clone()).collect();
    for row in rows {
        let Some(purpose) = Purpose::parse(&row.purpose) else {
            continue;
        };
        let corrupt = || KeyError::Corrupt(row.kid.clone());
        match purpose {
            Purpose::Session => {
                let key = SigningKey::from_pkcs8_pem(&row.secret).map_err(|_| corrupt())?;
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
                let decoding = DecodingKey::from_ed_components(&x).map_err(|_| corrupt())?;
                jwks.push(
                    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": row.kid,
                                  "alg": "EdDSA", "use": "sig" }),
                );
                if row.retires_at.is_none() && session.is_none() {
                    session = Some((row.kid.clone(), key));
                }
                verifiers.insert(
                    row.kid,
                    Verifier {
                        purpose,
                        alg: Algorithm::EdDSA,
                        key: decoding,
                    },
                );
            }
            Purpose::Stream => {
                let secret = hex32(&row.secret).ok_or_else(corrupt)?;
                if row.retires_at.is_none() && stream.is_none() {
                    stream = Some((row.kid.clone(), EncodingKey::from_secret(&secret)));
                }
                verifiers.insert(
                    row.kid,
                    Verifier {
                        purpose,
                        alg: Algorithm::HS256,
                        key: DecodingKey::from_secret(&secret),
                    },
                );
            }
            Purpose::Nonce => nonce.push(hex32(&row.secret).ok_or_else(corrupt)?),
        }
    }
    let missing = |p: &str| KeyError::Corrupt(format!("no current {p} key"));
    if nonce.is_empty() {
        return Err(missing("nonce"));
    }
    Ok(Ring {
        kids,
        session: session.ok_or_else(|| missing("session"))?,
        stream: stream.ok_or_else(|| missing("stream"))?,
        nonce,
        verifiers,
        jwks: json!({ "keys": jwks }),
    })
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    alloy::hex::decode(s).ok()?.try_into().ok()
}
