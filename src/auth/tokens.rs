//! Session and stream tokens: EdDSA (Ed25519) JWTs with a `kid`, algorithm, issuer and
//! audience pinned. The signing key lives in the database so every node shares it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::{self, Db};
use crate::time_util::now_ms;

/// Audience of session tokens.
pub const SESSION_AUDIENCE: &str = "marquee-session";
/// Audience of stream tokens.
pub const STREAM_AUDIENCE: &str = "marquee-stream";
/// Clock leeway when checking `exp`/`nbf`, in seconds.
const LEEWAY_SECS: u64 = 5;

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// Issuer: the public origin.
    pub iss: String,
    /// Audience: [`SESSION_AUDIENCE`].
    pub aud: String,
    /// The wallet (EIP-55).
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Issued at (s).
    pub iat: i64,
    /// Not before (s).
    pub nbf: i64,
    /// Expiry (s).
    pub exp: i64,
}

/// Claims of a stream token: one event, one session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamClaims {
    /// Issuer: the public origin.
    pub iss: String,
    /// Audience: [`STREAM_AUDIENCE`].
    pub aud: String,
    /// The wallet (EIP-55).
    pub sub: String,
    /// The session it was issued to.
    pub sid: String,
    /// The event it opens.
    pub evt: String,
    /// Issued at (s).
    pub iat: i64,
    /// Not before (s).
    pub nbf: i64,
    /// Expiry (s).
    pub exp: i64,
}

/// The token signer and verifier of this process.
pub struct TokenKeys {
    kid: String,
    issuer: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TokenKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Key setup failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored key unreadable.
    #[error("stored signing key {0} is unreadable")]
    Corrupt(String),
}

impl TokenKeys {
    /// Loads the newest signing key, creating one on first start.
    pub async fn load_or_create(db: &Db, issuer: &str) -> Result<Self, KeyError> {
        if store::keys::newest(db).await?.is_none() {
            let key = SigningKey::generate(&mut rand_core::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| KeyError::Corrupt("new".into()))?;
            // Two nodes starting at once may both insert; the newest row wins for both.
            store::keys::insert(db, &kid_of(&key), &pem, now_ms()).await?;
        }
        let (kid, pem) = store::keys::newest(db)
            .await?
            .ok_or_else(|| KeyError::Corrupt("missing".into()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::Corrupt(kid.clone()))?;
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let encoding =
            EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| KeyError::Corrupt(kid.clone()))?;
        let decoding =
            DecodingKey::from_ed_components(&x).map_err(|_| KeyError::Corrupt(kid.clone()))?;
        let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig" });
        Ok(Self {
            kid,
            issuer: issuer.to_string(),
            encoding,
            decoding,
            jwk,
        })
    }

    /// The issuer these tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS document of the verifying keys.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Signs `claims`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("Ed25519 signing does not fail")
    }

    /// Verifies `token` for `audience`; `None` for anything that is not a valid, current token.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, audience: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[audience]);
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<T>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }
}

fn kid_of(key: &SigningKey) -> String {
    alloy::hex::encode(&key.verifying_key().as_bytes()[..8])
}
