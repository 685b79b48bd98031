//! Sign-In with Ethereum: nonce, login, logout, me, and the JWKS.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::AppState;
use super::extract::{AppJson, SESSION_COOKIE, Session, set_cookie};
use crate::auth::signature::{self, SignatureError};
use crate::auth::siwe::{self, LoginError, LoginRules};
use crate::auth::tokens::{SESSION_AUDIENCE, SessionClaims};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::store;
use crate::time_util::{now_ms, rfc3339_ms, to_ms};

/// Longest signature accepted: an EIP-6492 wrapper carries a factory call, but not a big one.
const MAX_SIGNATURE_BYTES: usize = 8 * 1024;

pub(super) fn router(settings: &Settings) -> Router<AppState> {
    let sign_in = Router::new()
        .route("/api/v1/auth/nonce", post(nonce))
        .route("/api/v1/auth/login", post(login));
    super::limits::sign_in(sign_in, settings)
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn nonce(State(state): State<AppState>) -> Response {
    let ttl = i64::try_from(state.settings.nonce_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let nonce = state.tokens.ring().issue_nonce(now_ms() + ttl);
    let body = json!({ "nonce": nonce.text, "expires_at": rfc3339_ms(nonce.expires_at) });
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Deserialize)]
struct LoginBody {
    message: String,
    signature: String,
}

async fn login(
    State(state): State<AppState>,
    AppJson(body): AppJson<LoginBody>,
) -> ApiResult<Response> {
    let now = OffsetDateTime::now_utc();
    let rules = LoginRules {
        domain: &state.settings.domain,
        public_url: &state.settings.public_url,
        chain_id: state.settings.chain_id,
    };
    let verified = siwe::check(&body.message, rules, now).map_err(login_error)?;
    let nonce_expires = state
        .tokens
        .ring()
        .check_nonce(&verified.nonce, to_ms(now))
        .ok_or_else(nonce_invalid)?;
    let sig = decode_signature(&body.signature)?;
    signature::verify(&state.chain, verified.address, verified.hash, &sig)
        .await
        .map_err(|e| match e {
            SignatureError::Invalid(detail) => signature_invalid(detail),
            SignatureError::ChainUnavailable => ApiError::chain_unavailable(),
        })?;
    // Consumed last, so that a bad signature does not burn the wallet's nonce.
    if !state.nonces.consume(&verified.nonce, nonce_expires).await? {
        return Err(nonce_invalid());
    }
    let ttl = Duration::try_from(state.settings.session_ttl).unwrap_or(Duration::DAY);
    let expires = verified.expires_at.map_or(now + ttl, |e| e.min(now + ttl));
    let sid = crate::auth::random_id();
    let address = verified.address.to_string();
    let claims = SessionClaims {
        iss: state.tokens.issuer().to_string(),
        aud: SESSION_AUDIENCE.into(),
        sub: address.clone(),
        sid,
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: expires.unix_timestamp(),
    };
    let token = state.tokens.sign_session(&claims);
    let cookie = set_cookie(
        &state,
        SESSION_COOKIE,
        &token,
        "/",
        (expires - now).whole_seconds(),
    );
    let body = json!({
        "token": token, "token_type": "Bearer", "address": address,
        "expires_at": rfc3339_ms(to_ms(expires)),
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

fn nonce_invalid() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "nonce_invalid",
        "Nonce invalid",
        "the nonce was not issued by this service, has expired or was already used",
    )
}

fn signature_invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "signature_invalid",
        "Signature invalid",
        detail,
    )
}

fn decode_signature(text: &str) -> Result<Vec<u8>, ApiError> {
    let text = text.trim();
    if text.len() > 2 + 2 * MAX_SIGNATURE_BYTES {
        return Err(signature_invalid("signature: longer than any wallet makes"));
    }
    alloy::hex::decode(text).map_err(|_| signature_invalid("signature: not hex"))
}

fn login_error(e: LoginError) -> ApiError {
    let (status, code, title) = match &e {
        LoginError::InvalidMessage(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_message",
            "Invalid sign-in message",
        ),
        LoginError::DomainMismatch(_) => (
            StatusCode::UNAUTHORIZED,
            "domain_mismatch",
            "Domain mismatch",
        ),
        LoginError::ChainMismatch(_) => {
            (StatusCode::UNAUTHORIZED, "chain_mismatch", "Chain mismatch")
        }
        LoginError::Expired(_) => (
            StatusCode::UNAUTHORIZED,
            "message_expired",
            "Message expired",
        ),
    };
    ApiError::new(status, code, title, e.to_string())
}

async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<Response> {
    let sid = &session.claims.sid;
    store::sessions::revoke(&state.db, sid, session.claims.exp * 1000, now_ms()).await?;
    state
        .revocations
        .insert_until(session.claims.sid.clone(), session.claims.exp * 1000);
    let clear = set_cookie(&state, SESSION_COOKIE, "", "/", 0);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

async fn me(State(state): State<AppState>, session: Session) -> Json<serde_json::Value> {
    Json(json!({
        "address": session.address.to_string(),
        "organizer": state.settings.is_organizer(session.address),
        "expires_at": rfc3339_ms(session.claims.exp * 1000),
    }))
}

async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.tokens.ring().jwks())
}
