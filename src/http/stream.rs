//! `GET /stream/{id}/{path}`: the gated HLS of an event's folder.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;

use super::AppState;
use super::events::load;
use super::extract::StreamToken;
use crate::error::{ApiError, ApiResult};
use crate::stream::files::{self, PathError};
use crate::stream::playlist;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/stream/{id}/{*path}", get(serve))
}

async fn serve(
    State(state): State<AppState>,
    token: StreamToken,
    Path((id, path)): Path<(String, String)>,
) -> ApiResult<Response> {
    token.authorize(&state, &id)?;
    let event = load(&state, &id).await?;
    if !event.spec.is_open(OffsetDateTime::now_utc()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "event_not_open",
            "Event not open",
            "the screening is not open",
        ));
    }
    let file = files::resolve(&state.settings.media_root, &event.spec.stream.source, &path)
        .await
        .map_err(|e| match e {
            PathError::Forbidden => {
                ApiError::forbidden(format!("path {path:?} is outside the event's media"))
            }
            PathError::NotFound => ApiError::not_found(format!("no media {path:?}")),
        })?;
    let content_type = files::content_type(&path);
    if files::is_playlist(&path) {
        let text = tokio::fs::read_to_string(&file)
            .await
            .map_err(|_| ApiError::not_found(format!("no playlist {path:?}")))?;
        let body = playlist::rewrite(&text, token.as_str());
        return Ok((
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response());
    }
    let bytes = tokio::fs::read(&file)
        .await
        .map_err(|_| ApiError::not_found(format!("no media {path:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        bytes,
    )
        .into_response())
}
