//! Watching: join (gate check, stream token), heartbeats, and the viewer's attendance.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::AppState;
use super::events::load;
use super::extract::{STREAM_COOKIE, Session, StreamToken, set_cookie};
use crate::auth::tokens::{STREAM_AUDIENCE, StreamClaims};
use crate::chain::ReadError;
use crate::error::{ApiError, ApiResult};
use crate::gate::Verdict;
use crate::model::PoapMode;
use crate::poap::Claim;
use crate::store;
use crate::time_util::rfc3339;
use crate::time_util::{now_ms, to_ms};

/// Most watch time one heartbeat credits: a gap longer than this (a closed laptop) is not watching.
const HEARTBEAT_CAP_MS: i64 = 60_000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/{id}/join", post(join))
        .route("/api/v1/events/{id}/heartbeat", post(heartbeat))
        .route("/api/v1/events/{id}/attendance/me", get(attendance_me))
}

async fn join(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let event = load(&state, &id).await?;
    let now = OffsetDateTime::now_utc();
    if !event.spec.is_open(now) {
        let detail = if now < event.spec.doors() {
            format!("doors open at {}", rfc3339(event.spec.doors()))
        } else {
            format!("the screening ended at {}", rfc3339(event.spec.ends_at))
        };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "event_not_open",
            "Event not open",
            detail,
        ));
    }
    let ticket = match state.gates.check(&event.spec.gate, session.address).await {
        Ok(Verdict::Admitted(t)) => t,
        Ok(Verdict::Refused(reasons)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_holder",
                "Not a ticket holder",
                format!(
                    "{} holds no token that satisfies this event's gate: {}",
                    session.address,
                    reasons.join("; ")
                ),
            ));
        }
        Err(ReadError::Unavailable | ReadError::Reverted) => {
            return Err(ApiError::chain_unavailable());
        }
    };
    let ttl = Duration::try_from(state.settings.stream_token_ttl).unwrap_or(Duration::minutes(5));
    let exp = (now + ttl).unix_timestamp().min(session.claims.exp);
    let claims = StreamClaims {
        iss: state.tokens.issuer().to_string(),
        aud: STREAM_AUDIENCE.into(),
        sub: session.address.to_string(),
        sid: session.claims.sid.clone(),
        evt: event.id.clone(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp,
    };
    let token = state.tokens.sign_stream(&claims);
    store::attendance::joined(
        &state.db,
        &event.id,
        &session.address.to_string(),
        to_ms(now),
    )
    .await?;
    let path = format!("/stream/{}/", event.id);
    let cookie = set_cookie(
        &state,
        STREAM_COOKIE,
        &token,
        &path,
        exp - now.unix_timestamp(),
    );
    let body = json!({
        "stream_token": token,
        "playlist_url": format!("{}{path}index.m3u8?token={token}", state.settings.origin()),
        "expires_at": crate::time_util::rfc3339_ms(exp * 1000),
        "ticket": ticket,
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

async fn heartbeat(
    State(state): State<AppState>,
    token: StreamToken,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let claims = token.authorize(&state, &id)?;
    let event = load(&state, &id).await?;
    let watched_ms = store::attendance::beat(
        &state.db,
        &id,
        &claims.sub,
        now_ms(),
        to_ms(event.spec.starts_at),
        to_ms(event.spec.ends_at),
        HEARTBEAT_CAP_MS,
    )
    .await?;
    Ok(Json(json!({ "watched_seconds": watched_ms / 1000 })))
}

async fn attendance_me(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let event = load(&state, &id).await?;
    let address = session.address.to_string();
    let watched = store::attendance::watched_ms(&state.db, &id, &address).await? / 1000;
    let claim: Option<Claim> = store::claims::get(&state.db, &id, &address)
        .await?
        .map(Into::into);
    let eligible = event.spec.poap.mode != PoapMode::Off
        && watched as u64 >= event.spec.poap.min_watch_seconds;
    Ok(Json(
        json!({ "watched_seconds": watched, "eligible": eligible, "claim": claim }),
    ))
}
