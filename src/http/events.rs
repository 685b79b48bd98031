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
use crate::time_util::now_ms;

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
    store::events::insert(&state.db, &event, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let events = store::events::list(&state.db, LIST_LIMIT).await?;
    Ok(Json(json!({ "events": events })))
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Event>> {
    load(&state, &id).await.map(Json)
}

/// The event `id`, or 404.
pub(super) async fn load(state: &AppState, id: &str) -> ApiResult<Event> {
    store::events::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))
}
