//! `GET /stream/{id}/{path}`: the gated HLS of an event's folder.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::AppState;
use super::events::load;
use super::extract::StreamToken;
use crate::error::{ApiError, ApiResult};
use crate::model::Event;
use crate::stream::files::{self, PathError};
use crate::stream::media::MediaFile;
use crate::stream::origin::{self, OriginError};
use crate::stream::playlist::{EdgeTarget, Template};
use crate::stream::premiere::MediaPlaylist;
use crate::time_util::to_ms;

/// Segments are the same bytes for every viewer and never change under one name.
const SEGMENT_CACHE: HeaderValue = HeaderValue::from_static("private, max-age=300");

/// The route, for what [`direct`] does not answer (`HEAD`).
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/stream/{id}/{*path}", get(serve))
}

/// Whether [`direct`] answers `request`: a `GET /stream/{id}/{path}`.
pub(crate) fn is_direct(request: &Request) -> bool {
    request.method() == Method::GET && split(request.uri().path()).is_some()
}

/// Answers a request that [`is_direct`] straight away, ahead of the router and its layers:
/// every segment request of every viewer is one. The path's two parts are percent-decoded as
/// the router's `Path` would.
pub(crate) fn direct(
    state: AppState,
    request: Request,
) -> BoxFuture<'static, Result<Response, Infallible>> {
    Box::pin(async move {
        let (mut parts, _) = request.into_parts();
        let answer = async {
            let token = StreamToken::from_request_parts(&mut parts, &state).await?;
            let (id, path) =
                split(parts.uri.path()).ok_or_else(|| ApiError::not_found("no such resource"))?;
            answer(&state, &token, &decode(id)?, &decode(path)?, &parts).await
        };
        let response = answer.await.into_response();
        if response.status().is_server_error() {
            // What the router's trace layer reports; the path only, as a query holds a token.
            tracing::error!(status = %response.status(), path = parts.uri.path(), "stream request failed");
        }
        Ok(response)
    })
}

/// `/stream/{id}/{path}`'s two parts, as they are sent.
fn split(uri_path: &str) -> Option<(&str, &str)> {
    uri_path
        .strip_prefix("/stream/")?
        .split_once('/')
        .filter(|(id, path)| !id.is_empty() && !path.is_empty())
}

fn decode(part: &str) -> ApiResult<std::borrow::Cow<'_, str>> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map_err(|_| ApiError::invalid_request("the path is not UTF-8 once percent-decoded"))
}

async fn serve(
    State(state): State<AppState>,
    token: StreamToken,
    Path((id, path)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    answer(&state, &token, &id, &path, &parts).await
}

/// The answer to a stream request for file `path` of event `id`.
async fn answer(
    state: &AppState,
    token: &StreamToken,
    id: &str,
    path: &str,
    parts: &Parts,
) -> ApiResult<Response> {
    let (query, headers) = (parts.uri.query(), &parts.headers);
    let claims = token.authorize(state, id)?;
    let event = load(state, id).await?;
    let now = OffsetDateTime::now_utc();
    if !event.spec.is_open(now) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "event_not_open",
            "Event not open",
            "the screening is not open",
        ));
    }
    let source = &event.spec.stream.source;
    if origin::is_origin(source) {
        return from_origin(state, &event, path, query, headers, token, now).await;
    }
    if event.spec.stream.premiere && !files::is_playlist(path) {
        let elapsed = to_ms(now) - to_ms(event.spec.starts_at);
        if state.media.is_early(source, path, elapsed).await {
            return Err(ApiError::not_found(format!(
                "{path:?} is past the premiere's live edge"
            )));
        }
    }
    let file = state
        .media
        .get(source, path)
        .await
        .map_err(|e| path_error(e, path))?;
    if let Some(template) = &file.playlist {
        // The playlist's folder under the media root, which edge links are signed under.
        let folder: String;
        let edge = match &state.settings.edge {
            Some(edge) => {
                folder = match path.rsplit_once('/') {
                    Some((dir, _)) => format!("{source}/{dir}/"),
                    None => format!("{source}/"),
                };
                Some(EdgeTarget {
                    edge,
                    folder: &folder,
                    // A segment link lasts as long as the stream token that asked for it.
                    expires: claims.exp,
                })
            }
            None => None,
        };
        return Ok(playlist(
            template,
            file.segments.as_ref(),
            &event,
            now,
            token,
            edge,
        ));
    }
    send(&file, headers).await
}

fn path_error(e: PathError, path: &str) -> ApiError {
    match e {
        PathError::Forbidden => {
            ApiError::forbidden(format!("path {path:?} is outside the event's media"))
        }
        PathError::NotFound => ApiError::not_found(format!("no media {path:?}")),
    }
}

/// A playlist for this viewer: during a premiere the live window of the moment, else whole.
fn playlist(
    template: &Template,
    film: Option<&MediaPlaylist>,
    event: &Event,
    now: OffsetDateTime,
    token: &StreamToken,
    edge: Option<EdgeTarget<'_>>,
) -> Response {
    let starts = to_ms(event.spec.starts_at);
    let live = match film {
        Some(film) if event.spec.stream.premiere => film.window(to_ms(now) - starts, starts),
        _ => None,
    };
    let body = live
        .as_ref()
        .unwrap_or(template)
        .render(token.as_str(), edge);
    (
        [
            (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A playlist or media file of an origin source: playlists rewritten, media streamed through.
async fn from_origin(
    state: &AppState,
    event: &Event,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    token: &StreamToken,
    now: OffsetDateTime,
) -> ApiResult<Response> {
    let source = &event.spec.stream.source;
    let url = origin::upstream(source, path, query).map_err(|e| path_error(e, path))?;
    let failed = |e: OriginError| match e {
        OriginError::NotFound => ApiError::not_found(format!("the origin has no {path:?}")),
        OriginError::Unavailable(why) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "origin_unavailable",
            "Origin unavailable",
            why,
        ),
    };
    // Where this event's stream paths start: origin URIs are rebased under it.
    let ours = format!("/stream/{}/", event.id);
    if files::is_playlist(path) {
        let f = state
            .origins
            .playlist(source, url, &ours)
            .await
            .map_err(failed)?;
        return Ok(playlist(
            &f.template,
            f.segments.as_ref(),
            event,
            now,
            token,
            None,
        ));
    }
    if event.spec.stream.premiere {
        let elapsed = to_ms(now) - to_ms(event.spec.starts_at);
        if state
            .origins
            .is_early(source, &ours, path, elapsed)
            .await
            .map_err(failed)?
        {
            return Err(ApiError::not_found(format!(
                "{path:?} is past the premiere's live edge"
            )));
        }
    }
    let upstream = state
        .origins
        .media(url, headers.get(header::RANGE))
        .await
        .map_err(failed)?;
    let (status, passed) = (upstream.status(), upstream.headers().clone());
    let mut r = Response::new(Body::from_stream(upstream.bytes_stream()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
    ] {
        if let Some(v) = passed.get(&name) {
            h.insert(name, v.clone());
        }
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(files::content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, SEGMENT_CACHE);
    Ok(r)
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
    if range.is_some() {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, file.len))
                .expect("ascii"),
        );
    } else {
        h.insert(header::CONTENT_LENGTH, file.content_length.clone());
    }
    Ok(r)
}
