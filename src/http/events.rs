//! Events: organizers create them; anyone lists and reads them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{AppJson, Organizer};
use crate::error::{ApiError, ApiResult};
use crate::model::{Capabilities, Event, EventSpec};
use crate::store;
use crate::time_util::{now_ms, to_ms};

/// Most events one listing returns.
const LIST_LIMIT: i64 = 500;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(create).get(list))
        .route("/api/v1/events/{id}", get(read))
}

async fn create(
    State(state): State<AppState>,
    Organizer(session): Organizer,
    AppJson(spec): AppJson<EventSpec>,
) -> ApiResult<(StatusCode, Json<Event>)> {
    let caps = Capabilities {
        media_root: &state.settings.media_root,
        can_mint: state.minter.is_some(),
    };
    let spec = spec.normalize(caps).map_err(ApiError::invalid_request)?;
    let event = Event {
        id: crate::auth::random_id(),
        organizer: session.address,
        spec,
    };
    let body = serde_json::to_string(&event.spec).map_err(|_| ApiError::internal())?;
    store::events::insert(
        &state.db,
        &event.id,
        &event.organizer.to_string(),
        to_ms(event.spec.starts_at),
        to_ms(event.spec.ends_at),
        &body,
        now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(event)))
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = store::events::list(&state.db, LIST_LIMIT).await?;
    let events: Vec<Event> = rows.into_iter().filter_map(|r| to_event(r).ok()).collect();
    Ok(Json(json!({ "events": events })))
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Event>> {
    load(&state, &id).await.map(Json)
}

/// The event `id`, or 404.
pub(super) async fn load(state: &AppState, id: &str) -> ApiResult<Event> {
    let row = store::events::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    to_event(row)
}

fn to_event((id, organizer, body): store::events::EventRow) -> ApiResult<Event> {
    let spec: EventSpec = serde_json::from_str(&body).map_err(|e| {
        tracing::error!(error = %e, id, "stored event unreadable");
        ApiError::internal()
    })?;
    let organizer = organizer.parse().map_err(|_| ApiError::internal())?;
    Ok(Event {
        id,
        organizer,
        spec,
    })
}
