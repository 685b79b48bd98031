//! Session and stream tokens: JWTs with a `kid` whose key fixes the algorithm (EdDSA for
//! sessions, HS256 for stream tokens), with issuer, audience and times checked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::{KeyRing, Purpose};

/// Audience of session tokens.
pub const SESSION_AUDIENCE: &str = "marquee-session";
/// Audience of stream tokens.
pub const STREAM_AUDIENCE: &str = "marquee-stream";
/// Clock leeway when checking `exp`/`nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

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
    /// The grant (seat) it holds: revoked when the ticket leaves or the seat is taken over.
    pub gid: String,
    /// The event it opens.
    pub evt: String,
    /// Issued at (s).
    pub iat: i64,
    /// Not before (s).
    pub nbf: i64,
    /// Expiry (s).
    pub exp: i64,
}

/// Claims that carry their times.
pub trait Claims: DeserializeOwned {
    /// Issued at, not before, expiry (s).
    fn times(&self) -> (i64, i64, i64);
}

impl Claims for SessionClaims {
    fn times(&self) -> (i64, i64, i64) {
        (self.iat, self.nbf, self.exp)
    }
}

impl Claims for StreamClaims {
    fn times(&self) -> (i64, i64, i64) {
        (self.iat, self.nbf, self.exp)
    }
}

/// A JWS compact serialization signed with Ed25519. Written here because `jsonwebtoken` takes
/// the key as PKCS#8 and rebuilds it, public half included, for every token it signs: that
/// doubled the cost of a login's signature. Verification stays with `jsonwebtoken`.
fn compact_eddsa<T: Serialize>(header: &Header, claims: &T, key: &SigningKey) -> String {
    let part = |v: Vec<u8>| URL_SAFE_NO_PAD.encode(v);
    let mut token = part(serde_json::to_vec(header).expect("a header serializes"));
    token.push('.');
    token.push_str(&part(serde_json::to_vec(claims).expect("claims serialize")));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    token
}

/// Most tokens of one purpose remembered as verified (a few hundred bytes each).
const VERIFIED_TOKENS: usize = 16_384;

/// Tokens already verified, recognised by their whole text, with their claims (shared, so that
/// a request answered from here copies no strings). A session token comes with every request of
/// its wallet, and checking its Ed25519 signature costs about as much as the rest of a join; a
/// stream token comes with every segment request, where its HMAC check and JSON claims were the
/// most of Marquee's own work. Only the times are checked again; revocation is checked apart, on
/// every request, as before.
///
/// Keyed by the token's signature, the last of its three parts, which differs for every token
/// signed: hashing that rather than the whole text (several hundred bytes) saves a few percent
/// of a segment request's instructions. The whole text is compared before a hit counts.
#[derive(Debug)]
struct Verified<C>(RwLock<HashMap<Box<str>, Remembered<C>>>);

/// A remembered token's whole text and its claims.
type Remembered<C> = (Box<str>, Arc<C>);

/// The signature part of a compact JWT (the whole text when there are no dots).
fn signature_part(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(_, s)| s)
}

impl<C> Default for Verified<C> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<C: Claims> Verified<C> {
    fn get(&self, token: &str) -> Option<Arc<C>> {
        let map = self.0.read().ok()?;
        let (text, claims) = map.get(signature_part(token))?;
        (**text == *token).then(|| claims.clone())
    }

    fn put(&self, token: &str, claims: &Arc<C>, now: i64) {
        let Ok(mut map) = self.0.write() else { return };
        if map.len() >= VERIFIED_TOKENS {
            map.retain(|_, (_, c)| now <= c.times().2);
            if map.len() >= VERIFIED_TOKENS {
                map.clear();
            }
        }
        map.insert(signature_part(token).into(), (token.into(), claims.clone()));
    }
}

/// Signs and verifies this service's tokens with the shared key ring.
#[derive(Debug, Clone)]
pub struct Tokens {
    ring: Arc<KeyRing>,
    issuer: String,
    sessions: Arc<Verified<SessionClaims>>,
    streams: Arc<Verified<StreamClaims>>,
}

impl Tokens {
    /// Tokens named as issued by `issuer`, signed with `ring`.
    pub fn new(ring: Arc<KeyRing>, issuer: String) -> Self {
        Self {
            ring,
            issuer,
            sessions: Arc::default(),
            streams: Arc::default(),
        }
    }

    /// The issuer these tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key ring.
    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Signs a session token (EdDSA).
    pub fn sign_session(&self, claims: &SessionClaims) -> String {
        self.sign(Purpose::Session, claims)
    }

    /// Signs a stream token (HS256 with the stream key).
    pub fn sign_stream(&self, claims: &StreamClaims) -> String {
        self.sign(Purpose::Stream, claims)
    }

    /// The claims of a valid, current session token.
    pub fn verify_session(&self, token: &str) -> Option<Arc<SessionClaims>> {
        self.remembered(&self.sessions, token, Purpose::Session, SESSION_AUDIENCE)
    }

    /// The claims of a valid, current stream token.
    pub fn verify_stream(&self, token: &str) -> Option<Arc<StreamClaims>> {
        self.remembered(&self.streams, token, Purpose::Stream, STREAM_AUDIENCE)
    }

    /// [`Tokens::verify`], answered from `verified` for a token it already passed.
    fn remembered<C: Claims>(
        &self,
        verified: &Verified<C>,
        token: &str,
        purpose: Purpose,
        audience: &str,
    ) -> Option<Arc<C>> {
        let now = crate::time_util::now_ms() / 1000;
        if let Some(claims) = verified.get(token) {
            let (iat, nbf, exp) = claims.times();
            return current(iat, nbf, exp, now).then_some(claims);
        }
        let claims = Arc::new(self.verify::<C>(token, purpose, audience)?);
        verified.put(token, &claims, now);
        Some(claims)
    }

    fn sign<T: Serialize>(&self, purpose: Purpose, claims: &T) -> String {
        let ring = self.ring.current();
        if purpose == Purpose::Stream {
            let (kid, key) = &ring.stream;
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.clone());
            return jsonwebtoken::encode(&header, claims, key)
                .expect("signing with a loaded key does not fail");
        }
        let (kid, key) = &ring.session;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        compact_eddsa(&header, claims, key)
    }

    /// The key named by the token's `kid` decides the algorithm and the purpose, so neither
    /// `alg: none`, nor HS256 keyed with a public key, nor a token of another purpose passes.
    fn verify<T: Claims>(&self, token: &str, purpose: Purpose, audience: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let ring = self.ring.current();
        let verifier = ring.verifiers.get(header.kid.as_deref()?)?;
        if verifier.purpose != purpose || header.alg != verifier.alg {
            return None;
        }
        let mut v = Validation::new(verifier.alg);
        v.set_audience(&[audience]);
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<T>(token, &verifier.key, &v)
            .ok()?
            .claims;
        // The library requires `iat` but does not look at it: a token from the future is forged
        // or from a node whose clock is wrong.
        (claims.times().0 <= crate::time_util::now_ms() / 1000 + LEEWAY_SECS as i64)
            .then_some(claims)
    }
}

/// Whether a token issued at `iat`, valid from `nbf` until `exp`, is current at `now` (all in
/// seconds), with the leeway `jsonwebtoken` is given.
fn current(iat: i64, nbf: i64, exp: i64, now: i64) -> bool {
    let leeway = LEEWAY_SECS as i64;
    iat <= now + leeway && nbf <= now + leeway && now <= exp + leeway
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_is_found_only_by_its_whole_text() {
        let claims = Arc::new(SessionClaims {
            iss: "i".into(),
            aud: SESSION_AUDIENCE.into(),
            sub: "0x1".into(),
            sid: "s".into(),
            iat: 0,
            nbf: 0,
            exp: 100,
        });
        let verified = Verified::<SessionClaims>::default();
        verified.put("head.body.sig", &claims, 0);
        assert_eq!(verified.get("head.body.sig"), Some(claims));
        // Same signature part, other header or claims: not the token that was verified.
        assert_eq!(verified.get("head.other.sig"), None);
        assert_eq!(verified.get("other.body.sig"), None);
        assert_eq!(verified.get("sig"), None);
        assert_eq!(verified.get("head.body.si"), None);
    }

    #[test]
    fn a_remembered_token_is_current_only_within_its_times() {
        let l = LEEWAY_SECS as i64;
        assert!(current(100, 100, 200, 150));
        assert!(current(100, 100, 200, 200 + l), "expiry, with leeway");
        assert!(!current(100, 100, 200, 201 + l), "expired");
        assert!(current(100, 100, 200, 100 - l), "not before, with leeway");
        assert!(!current(100, 100, 200, 99 - l), "not yet valid");
        assert!(!current(200, 100, 300, 199 - l), "issued in the future");
    }
}
