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
use crate::auth::siwe::{self, LoginError, LoginRules};
use crate::auth::tokens::{SESSION_AUDIENCE, SessionClaims};
use crate::error::{ApiError, ApiResult};
use crate::store;
use crate::time_util::{now_ms, rfc3339_ms, to_ms};

/// How long an issued nonce may be used.
const NONCE_TTL: Duration = Duration::minutes(5);

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/nonce", post(nonce))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn nonce(State(state): State<AppState>) -> ApiResult<Response> {
    let nonce = signinwithethereum::generate_nonce();
    let expires_at = now_ms() + NONCE_TTL.whole_milliseconds() as i64;
    store::nonces::insert(&state.db, &nonce, expires_at).await?;
    let body = json!({ "nonce": nonce, "expires_at": rfc3339_ms(expires_at) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
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
    let verified = siwe::verify(&body.message, &body.signature, rules, now).map_err(login_error)?;
    if !store::nonces::consume(&state.db, &verified.nonce, to_ms(now)).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "nonce_invalid",
            "Nonce invalid",
            "the nonce was not issued by this service, has expired or was already used",
        ));
    }
    let ttl = Duration::try_from(state.settings.session_ttl).unwrap_or(Duration::DAY);
    let expires = verified.expires_at.map_or(now + ttl, |e| e.min(now + ttl));
    let sid = crate::auth::random_id();
    let address = verified.address.to_string();
    store::sessions::insert(&state.db, &sid, &address, to_ms(now), to_ms(expires)).await?;
    let claims = SessionClaims {
        iss: state.keys.issuer().to_string(),
        aud: SESSION_AUDIENCE.into(),
        sub: address.clone(),
        sid,
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: expires.unix_timestamp(),
    };
    let token = state.keys.sign(&claims);
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
        LoginError::SignatureInvalid(_) => (
            StatusCode::UNAUTHORIZED,
            "signature_invalid",
            "Signature invalid",
        ),
    };
    ApiError::new(status, code, title, e.to_string())
}

async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<Response> {
    store::sessions::revoke(&state.db, &session.claims.sid, now_ms()).await?;
    state.revocations.insert(session.claims.sid);
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
    Json(state.keys.jwks())
}
