//! `GET /stream/{id}/{path}`: the gated HLS of an event's folder.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::AppState;
use super::events::load;
use super::extract::StreamToken;
use crate::error::{ApiError, ApiResult};
use crate::stream::files::PathError;
use crate::stream::media::MediaFile;
use crate::time_util::to_ms;

/// Segments are the same bytes for every viewer and never change under one name.
const SEGMENT_CACHE: HeaderValue = HeaderValue::from_static("private, max-age=300");

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/stream/{id}/{*path}", get(serve))
}

async fn serve(
    State(state): State<AppState>,
    token: StreamToken,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    token.authorize(&state, &id)?;
    let event = load(&state, &id).await?;
    let now = OffsetDateTime::now_utc();
    if !event.spec.is_open(now) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "event_not_open",
            "Event not open",
            "the screening is not open",
        ));
    }
    let file = state
        .media
        .get(&event.spec.stream.source, &path)
        .await
        .map_err(|e| match e {
            PathError::Forbidden => {
                ApiError::forbidden(format!("path {path:?} is outside the event's media"))
            }
            PathError::NotFound => ApiError::not_found(format!("no media {path:?}")),
        })?;
    if let Some(template) = &file.playlist {
        let starts = to_ms(event.spec.starts_at);
        let live = match &file.segments {
            Some(film) if event.spec.stream.premiere => film.window(to_ms(now) - starts, starts),
            _ => None,
        };
        let body = live.as_ref().unwrap_or(template).render(token.as_str());
        return Ok((
            [
                (header::CONTENT_TYPE, file.content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response());
    }
    send(&file, &headers).await
}

/// A media file, whole or the one byte range asked for (several ranges get the whole file,
/// which RFC 9110 allows).
async fn send(file: &MediaFile, request: &HeaderMap) -> ApiResult<Response> {
    if request.get(header::IF_NONE_MATCH) == Some(&file.etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, file.etag.clone());
        return Ok(r);
    }
    let range = match request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| http_range_header::parse_range_header(v).map(|r| r.validate(file.len)))
    {
        // A Range header that does not parse is ignored, as RFC 9110 says.
        None | Some(Err(_)) => None,
        Some(Ok(Ok(ranges))) if ranges.len() == 1 => Some(ranges[0].clone()),
        Some(Ok(Ok(_))) => None,
        Some(Ok(Err(_))) => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "Range not satisfiable",
                format!("the file has {} bytes", file.len),
            )
            .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", file.len)).expect("ascii"),
            );
            return Ok(r);
        }
    };
    let (start, end) = range
        .as_ref()
        .map_or((0, file.len), |r| (*r.start(), *r.end() + 1));
    let body = match &file.bytes {
        Some(b) => Body::from(b.slice(start as usize..end as usize)),
        None => {
            let mut f = tokio::fs::File::open(&file.path)
                .await
                .map_err(|_| ApiError::not_found("the media file is gone"))?;
            f.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|_| ApiError::not_found("the media file is gone"))?;
            Body::from_stream(tokio_util::io::ReaderStream::new(f.take(end - start)))
        }
    };
    let mut r = Response::new(body);
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(header::CACHE_CONTROL, SEGMENT_CACHE);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, file.etag.clone());
    h.insert(header::LAST_MODIFIED, file.last_modified.clone());
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if range.is_some() {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, file.len))
                .expect("ascii"),
        );
    }
    Ok(r)
}
