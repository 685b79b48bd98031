//! Request extractors: JSON bodies with problem+json rejections, and who is calling
//! (session, organizer, stream token).

use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::auth::tokens::{SessionClaims, StreamClaims};
use crate::error::ApiError;

/// Cookie that carries the session token.
pub const SESSION_COOKIE: &str = "marquee_session";
/// Cookie that carries a stream token.
pub const STREAM_COOKIE: &str = "marquee_stream";

/// A JSON body whose rejections are problem+json naming the field.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(AppJson(v))
    }
}

/// A signed-in wallet.
#[derive(Debug, Clone)]
pub struct Session {
    /// The wallet.
    pub address: Address,
    /// The session's claims.
    pub claims: Arc<SessionClaims>,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, from_cookie) = match bearer(parts) {
            Some(t) => (t, false),
            None => (
                cookie(parts, SESSION_COOKIE)
                    .ok_or_else(|| ApiError::unauthenticated("sign in first: no session token"))?,
                true,
            ),
        };
        if from_cookie {
            cookie_use(parts).check(state)?;
        }
        let claims = state
            .tokens
            .verify_session(&token)
            .ok_or_else(|| ApiError::unauthenticated("the session token is invalid or expired"))?;
        if state.revocations.is_revoked(&claims.sid) {
            return Err(ApiError::unauthenticated("the session has ended"));
        }
        let address = claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthenticated("the session token is invalid"))?;
        Ok(Session { address, claims })
    }
}

/// A signed-in organizer.
#[derive(Debug, Clone)]
pub struct Organizer(pub Session);

impl FromRequestParts<AppState> for Organizer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = Session::from_request_parts(parts, state).await?;
        if !state.settings.is_organizer(session.address) {
            return Err(ApiError::forbidden(format!(
                "{} is not an organizer",
                session.address
            )));
        }
        Ok(Organizer(session))
    }
}

/// How a request that authenticates by cookie was sent: a cookie rides along on cross-site
/// requests too, so only our own pages may use it to change anything.
#[derive(Debug, Clone)]
struct CookieUse {
    /// Whether the method changes state (anything but GET, HEAD, OPTIONS).
    acts: bool,
    /// The requesting page's origin, from `Origin` or else `Referer`.
    origin: Option<String>,
}

fn cookie_use(parts: &Parts) -> CookieUse {
    let header_str = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header_str(header::ORIGIN)
        .filter(|o| *o != "null")
        .map(str::to_string)
        .or_else(|| {
            let referer = url::Url::parse(header_str(header::REFERER)?).ok()?;
            Some(referer.origin().ascii_serialization())
        });
    CookieUse {
        acts: !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS),
        origin,
    }
}

impl CookieUse {
    fn check(&self, state: &AppState) -> Result<(), ApiError> {
        if !self.acts {
            return Ok(());
        }
        match &self.origin {
            Some(o) if *o == state.settings.origin() => Ok(()),
            Some(o) => Err(ApiError::forbidden(format!(
                "cross-origin request refused: {o} may not act with this site's cookie"
            ))),
            None => Err(ApiError::forbidden(
                "a request that changes something with the session cookie must carry an Origin header",
            )),
        }
    }
}

/// A stream token as presented (`?token=`, Bearer or cookie), not yet checked.
#[derive(Debug, Clone)]
pub struct StreamToken {
    token: String,
    /// Set when the token came from the cookie.
    cookie: Option<CookieUse>,
}

impl<S: Send + Sync> FromRequestParts<S> for StreamToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(token) = query_token(parts).or_else(|| bearer(parts)) {
            return Ok(StreamToken {
                token,
                cookie: None,
            });
        }
        let token = cookie(parts, STREAM_COOKIE)
            .ok_or_else(|| ApiError::unauthenticated("a stream token is required: call join"))?;
        Ok(StreamToken {
            token,
            cookie: Some(cookie_use(parts)),
        })
    }
}

impl StreamToken {
    /// The token as presented.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// Checks the token for `event_id`: 401 when invalid, 403 when for another event, revoked,
    /// or sent by cookie from another site.
    pub fn authorize(
        &self,
        state: &AppState,
        event_id: &str,
    ) -> Result<Arc<StreamClaims>, ApiError> {
        if let Some(c) = &self.cookie {
            c.check(state)?;
        }
        let claims = state
            .tokens
            .verify_stream(&self.token)
            .ok_or_else(|| ApiError::unauthenticated("the stream token is invalid or expired"))?;
        if claims.evt != event_id {
            return Err(ApiError::forbidden("the stream token is for another event"));
        }
        if state.revocations.any_revoked(&[&claims.sid, &claims.gid]) {
            return Err(ApiError::forbidden("the stream token has been revoked"));
        }
        Ok(claims)
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn query_token(parts: &Parts) -> Option<String> {
    let q = parts.uri.query()?;
    // Every segment request carries one: a query with nothing escaped (a token's characters
    // never need it) is split as it is rather than decoded byte by byte.
    let token = if memchr::memchr2(b'%', b'+', q.as_bytes()).is_some() {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    } else {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_owned)
    };
    token.filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for `token` (HttpOnly, SameSite=Lax, Secure on https).
pub fn set_cookie(
    state: &AppState,
    name: &str,
    token: &str,
    path: &str,
    max_age_secs: i64,
) -> String {
    let secure = if state.settings.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={token}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::query_token;

    fn token_of(uri: &str) -> Option<String> {
        let (parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        query_token(&parts)
    }

    #[test]
    fn the_query_token_is_read_alike_escaped_or_not() {
        let cases = [
            ("/s?token=abc.def-_", Some("abc.def-_")),
            ("/s?a=1&token=abc&token=xyz", Some("abc")),
            ("/s?token=a=b", Some("a=b")),
            ("/s?token=a%2Eb", Some("a.b")),
            ("/s?x=%20&token=a+b", Some("a b")),
            ("/s?tok%65n=abc", Some("abc")),
            ("/s?token=", None),
            ("/s?token", None),
            ("/s?tokens=abc", None),
            ("/s", None),
        ];
        for (uri, want) in cases {
            assert_eq!(token_of(uri).as_deref(), want, "{uri}");
        }
    }
}
