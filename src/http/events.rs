//! Events: organizers create, update and delete their own; anyone lists and reads them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{AppJson, Organizer, Session};
use crate::error::{ApiError, ApiResult};
use crate::model::{Capabilities, Event, EventSpec, PoapMode};
use crate::store;
use crate::time_util::now_ms;

/// Most events one listing returns.
const LIST_LIMIT: i64 = 500;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(create).get(list))
        .route(
            "/api/v1/events/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v1/events/{id}/stats", get(stats))
        .route("/api/v1/events/{id}/attendees", get(attendees))
}

fn capabilities(state: &AppState) -> Capabilities<'_> {
    Capabilities {
        media_root: &state.settings.media_root,
        can_mint: state.minter.is_some(),
    }
}

async fn create(
    State(state): State<AppState>,
    Organizer(session): Organizer,
    AppJson(spec): AppJson<EventSpec>,
) -> ApiResult<(StatusCode, Json<Event>)> {
    let spec = spec
        .normalize(capabilities(&state))
        .map_err(ApiError::invalid_request)?;
    let event = Event {
        id: crate::auth::random_id(),
        organizer: session.address,
        spec,
    };
    store::events::insert(&state.db, &event, now_ms()).await?;
    changed(&state, &event.id);
    Ok((StatusCode::CREATED, Json(event)))
}

/// A JSON merge patch (RFC 7396) of the event's fields, validated whole like a new event.
async fn update(
    State(state): State<AppState>,
    Organizer(session): Organizer,
    Path(id): Path<String>,
    AppJson(patch): AppJson<Value>,
) -> ApiResult<Json<Event>> {
    let event = owned(&state, &id, &session).await?;
    if !patch.is_object() {
        return Err(ApiError::invalid_request(
            "body: a JSON object of the fields to change",
        ));
    }
    let mut body = serde_json::to_value(&event.spec).map_err(|_| ApiError::internal())?;
    crate::model::merge_patch(&mut body, patch);
    let spec: EventSpec = serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid_request(format!("{}: {}", e.path(), e.inner())))?;
    let spec = spec
        .normalize(capabilities(&state))
        .map_err(ApiError::invalid_request)?;
    let updated = Event {
        spec,
        ..event.clone()
    };
    // Compare-and-swap on the stored body, so that two concurrent patches cannot both win.
    if !store::events::replace(&state.db, &event, &updated).await? {
        return Err(ApiError::conflict(
            "the event changed meanwhile; read it again and retry",
        ));
    }
    changed(&state, &id);
    Ok(Json(updated))
}

/// Deletes an event with its attendance, unless attendance tokens were claimed: their
/// metadata is served from the event, so such an event stays.
async fn remove(
    State(state): State<AppState>,
    Organizer(session): Organizer,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    owned(&state, &id, &session).await?;
    match store::events::delete_unclaimed(&state.db, &id).await? {
        store::events::Deleted::Yes => {
            changed(&state, &id);
            Ok(StatusCode::NO_CONTENT)
        }
        store::events::Deleted::Gone => Err(not_found(&id)),
        store::events::Deleted::Claimed(n) => Err(ApiError::conflict(format!(
            "{n} attendance token(s) were claimed for this event; it stays so that their metadata does"
        ))),
    }
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let events = store::events::list(&state.db, LIST_LIMIT).await?;
    Ok(Json(json!({ "events": events })))
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Event>> {
    let event = load(&state, &id).await?;
    Ok(Json(Event::clone(&event)))
}

/// The owner's view of an event's audience: live viewers, joins, watch time, claims.
async fn stats(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<Json<store::stats::EventStats>> {
    let event = owned(&state, &id, &session).await?;
    let poap = &event.spec.poap;
    let min_watch_ms = (poap.mode != PoapMode::Off).then_some(poap.min_watch_seconds as i64 * 1000);
    Ok(Json(
        store::stats::event(&state.db, &id, now_ms(), min_watch_ms).await?,
    ))
}

/// One attendee in the organizer's export.
#[derive(Debug, serde::Serialize)]
struct Attendee {
    address: String,
    watched_seconds: i64,
    claimed_at: Option<String>,
    status: Option<String>,
    token_id: Option<String>,
    tx_hash: Option<String>,
}

/// The owner's attendee export, in every POAP mode: JSON, or CSV when asked for with
/// `Accept: text/csv`.
async fn attendees(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    owned(&state, &id, &session).await?;
    let rows: Vec<Attendee> = store::attendance::attendees(&state.db, &id)
        .await?
        .into_iter()
        .map(|r| Attendee {
            address: r.address,
            watched_seconds: r.watched_ms / 1000,
            claimed_at: r.claimed_at.map(crate::time_util::rfc3339_ms),
            status: r.status,
            token_id: r.token_id,
            tx_hash: r.tx_hash,
        })
        .collect();
    let wants_csv = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(rows).into_response());
    }
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"attendees-{id}.csv\""),
            ),
        ],
        csv(&rows),
    )
        .into_response())
}

/// The attendees as CSV. Every field is an address, a number, a hex hash, a timestamp or a
/// status word: none can hold a comma, a quote or a line break, so no CSV crate is needed.
fn csv(rows: &[Attendee]) -> String {
    let mut out = String::from("address,watched_seconds,claimed_at,status,token_id,tx_hash\n");
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            r.address,
            r.watched_seconds,
            opt(&r.claimed_at),
            opt(&r.status),
            opt(&r.token_id),
            opt(&r.tx_hash)
        ));
    }
    out
}

/// The event `id`, or 404 (as read within the last second).
pub(super) async fn load(state: &AppState, id: &str) -> ApiResult<Arc<Event>> {
    state
        .events
        .get(&state.db, id, now_ms())
        .await?
        .ok_or_else(|| not_found(id))
}

/// The event `id` as stored now, if `session` owns it: 404 when there is none, 403 when
/// another owns it.
async fn owned(state: &AppState, id: &str, session: &Session) -> ApiResult<Event> {
    let event = store::events::get(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if event.organizer != session.address {
        return Err(ApiError::forbidden(format!(
            "event {id:?} belongs to {}, not to {}",
            event.organizer, session.address
        )));
    }
    Ok(event)
}

/// After event `id` was created, changed or deleted: this node's copy goes, and the chain
/// follower reads again which collections the gates need indexed.
fn changed(state: &AppState, id: &str) {
    state.events.forget(id);
    state.admitter.follower().gates_changed();
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no event {id:?}"))
}
