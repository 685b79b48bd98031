//! Origin sources: an event whose `stream.source` is an http(s) playlist URL is proxied.
//! Playlists are fetched whole (they are small), rewritten like a folder's, and shared by all
//! viewers of an event for a second, so a full room costs the origin one request per playlist
//! per second; segments are passed through as streaming bodies, never buffered whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use super::files::{self, PathError};
use super::playlist::Template;
use super::premiere::MediaPlaylist;

/// How long a fetched playlist is shared: about a live playlist's refresh.
const PLAYLIST_TTL: Duration = Duration::from_secs(1);
/// The largest playlist accepted from an origin.
const MAX_PLAYLIST: usize = 1 << 20;
/// A whole playlist must arrive within this.
const PLAYLIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `source` names an origin (an http(s) playlist URL) rather than a folder.
pub fn is_origin(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Why the origin gave nothing to send.
#[derive(Debug)]
pub enum OriginError {
    /// The origin has no such file.
    NotFound,
    /// The origin failed, timed out, or answered with something unusable.
    Unavailable(String),
}

/// A playlist from an origin, parsed.
#[derive(Debug)]
pub struct Fetched {
    /// For rewriting.
    pub template: Template,
    /// A media playlist's segments, for premieres.
    pub segments: Option<MediaPlaylist>,
}

/// The HTTP client of origin sources and the playlists fetched lately.
#[derive(Debug)]
pub struct Origins {
    http: reqwest::Client,
    playlists: Mutex<HashMap<String, (Instant, Arc<Fetched>)>>,
}

impl Default for Origins {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A segment may take long in all, but never stall this long between bytes.
            .read_timeout(Duration::from_secs(15))
            .build()
            .expect("the HTTP client builds");
        Self {
            http,
            playlists: Mutex::default(),
        }
    }
}

/// The origin URL of `path` (with the viewer's `query` less the token) of the source
/// playlist `source`: `index.m3u8` is the source itself, anything else lies beside it.
pub fn upstream(source: &str, path: &str, query: Option<&str>) -> Result<Url, PathError> {
    let source = Url::parse(source).map_err(|_| PathError::NotFound)?;
    let mut url = if path == "index.m3u8" {
        source
    } else {
        files::check_relative(path)?;
        source.join(path).map_err(|_| PathError::Forbidden)?
    };
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    Ok(url)
}

impl Origins {
    /// The playlist at `url`, rewritten for the event whose stream paths start with `ours`.
    pub async fn playlist(
        &self,
        source: &str,
        url: Url,
        ours: &str,
    ) -> Result<Arc<Fetched>, OriginError> {
        let key = format!("{ours}\0{url}");
        if let Some((at, f)) = self.lock().get(&key)
            && at.elapsed() < PLAYLIST_TTL
        {
            return Ok(f.clone());
        }
        let text = tokio::time::timeout(PLAYLIST_TIMEOUT, self.fetch_text(url))
            .await
            .map_err(|_| OriginError::Unavailable("the origin timed out".into()))??;
        let base = Url::parse(source)
            .and_then(|s| s.join("./"))
            .map_err(|_| OriginError::NotFound)?;
        let fetched = Arc::new(Fetched {
            template: Template::parse_rebased(&text, Some((base.as_str(), ours))),
            segments: MediaPlaylist::parse(&text),
        });
        let mut held = self.lock();
        held.retain(|_, (at, _)| at.elapsed() < PLAYLIST_TTL);
        held.insert(key, (Instant::now(), fetched.clone()));
        Ok(fetched)
    }

    /// Whether `path` is a segment that a premiere `elapsed_ms` in has not reached: one of the
    /// entry playlist's, or of a variant's. Playlists come from the shared one-second copies.
    pub async fn is_early(
        &self,
        source: &str,
        ours: &str,
        path: &str,
        elapsed_ms: i64,
    ) -> Result<bool, OriginError> {
        let entry = upstream(source, "index.m3u8", None).map_err(|_| OriginError::NotFound)?;
        let index = self.playlist(source, entry, ours).await?;
        if let Some(film) = &index.segments {
            return Ok(film.is_early(path, elapsed_ms));
        }
        for variant in index.template.playlists() {
            let (Some(rel), Ok(url)) = (
                super::premiere::within_variant(variant, path),
                upstream(source, variant, None),
            ) else {
                continue;
            };
            let f = self.playlist(source, url, ours).await?;
            if f.segments
                .as_ref()
                .is_some_and(|m| m.is_early(rel, elapsed_ms))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn fetch_text(&self, url: Url) -> Result<String, OriginError> {
        let mut r = self.media(url, None).await?;
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(unavailable)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_PLAYLIST {
                return Err(OriginError::Unavailable(
                    "the origin's playlist is over 1 MiB".into(),
                ));
            }
        }
        String::from_utf8(body)
            .map_err(|_| OriginError::Unavailable("the origin's playlist is not UTF-8".into()))
    }

    /// A media file at `url`, the byte `range` asked for passed on; the body is not read yet.
    pub async fn media(
        &self,
        url: Url,
        range: Option<&axum::http::HeaderValue>,
    ) -> Result<reqwest::Response, OriginError> {
        let mut req = self.http.get(url);
        if let Some(r) = range {
            req = req.header(reqwest::header::RANGE, r.as_bytes());
        }
        let r = req.send().await.map_err(unavailable)?;
        match r.status().as_u16() {
            200..=299 | 416 => Ok(r),
            404 | 410 => Err(OriginError::NotFound),
            s => Err(OriginError::Unavailable(format!("the origin answered {s}"))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Fetched>)>> {
        self.playlists.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unavailable(e: reqwest::Error) -> OriginError {
    // Without the URL: an origin's signed query must not reach a viewer.
    let what = if e.is_timeout() {
        "the origin timed out"
    } else if e.is_connect() {
        "the origin could not be reached"
    } else {
        "the origin's answer broke off"
    };
    OriginError::Unavailable(what.into())
}

#[cfg(test)]
mod tests {
    use super::upstream;

    #[test]
    fn paths_map_beside_the_source_playlist_and_never_out_of_its_folder() {
        let src = "https://cdn.example/films/one/master.m3u8?sig=1";
        assert_eq!(
            upstream(src, "index.m3u8", Some("token=T"))
                .unwrap()
                .as_str(),
            src
        );
        assert_eq!(
            upstream(src, "low/seg1.ts", Some("token=T&part=2"))
                .unwrap()
                .as_str(),
            "https://cdn.example/films/one/low/seg1.ts?part=2"
        );
        for bad in ["../two/x.ts", "/etc/passwd", "a/../../x", "", "x\\y"] {
            assert!(upstream(src, bad, None).is_err(), "{bad}");
        }
    }
}
