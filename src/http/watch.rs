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
use alloy::primitives::Address;

use crate::error::{ApiError, ApiResult};
use crate::gate::admit::{Refusal, Request};
use crate::model::{Event, PoapMode};
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
    let ttl = Duration::try_from(state.settings.stream_token_ttl).unwrap_or(Duration::minutes(5));
    let exp = (now + ttl).unix_timestamp().min(session.claims.exp);
    let wallet = session.address.to_string();
    let request = Request {
        wallet: session.address,
        wallet_text: &wallet,
        session_id: &session.claims.sid,
        now: to_ms(now),
        lease_until: lease_until(&state, to_ms(now)),
        expires_at: exp * 1000,
    };
    let admission = state
        .admitter
        .admit(&event, request)
        .await
        .map_err(|r| refusal(r, session.address, &event))?;
    let claims = StreamClaims {
        iss: state.tokens.issuer().to_string(),
        aud: STREAM_AUDIENCE.into(),
        sub: wallet,
        sid: session.claims.sid.clone(),
        gid: admission.grant_id,
        evt: event.id.clone(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp,
    };
    let token = state.tokens.sign_stream(&claims);
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
        "ticket": admission.ticket,
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// When a seat taken or renewed at `now` (ms) lapses without another heartbeat.
fn lease_until(state: &AppState, now: i64) -> i64 {
    now + state.settings.seat_lease.as_millis() as i64
}

fn refusal(r: Refusal, wallet: Address, event: &Event) -> ApiError {
    match r {
        Refusal::NotHolder(reasons) => ApiError::new(
            StatusCode::FORBIDDEN,
            "not_holder",
            "Not a ticket holder",
            format!(
                "{wallet} holds no token that satisfies this event's gate: {}",
                reasons.join("; ")
            ),
        ),
        Refusal::InUse(ticket) => ApiError::new(
            StatusCode::FORBIDDEN,
            "ticket_in_use",
            "Ticket in use",
            format!(
                "token {} of {} already admits {} live session(s) to this screening",
                ticket.token_id.map(|t| t.to_string()).unwrap_or_default(),
                ticket.contract,
                event.spec.max_sessions_per_ticket
            ),
        ),
        Refusal::ChainUnavailable => ApiError::chain_unavailable(),
        Refusal::Db(e) => e.into(),
    }
}

async fn heartbeat(
    State(state): State<AppState>,
    token: StreamToken,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let claims = token.authorize(&state, &id)?;
    let event = load(&state, &id).await?;
    if !store::grants::renew(&state.db, &claims.gid, lease_until(&state, now_ms())).await? {
        return Err(ApiError::forbidden("the stream token has been revoked"));
    }
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
        .map(|c| Claim::present(c, &event, super::poap::vouchers(&state)));
    let eligible = event.spec.poap.mode != PoapMode::Off
        && watched as u64 >= event.spec.poap.min_watch_seconds;
    Ok(Json(
        json!({ "watched_seconds": watched, "eligible": eligible, "claim": claim }),
    ))
}
