//! Media files of a folder source: paths confined to the event's folder, content types by kind.

use std::path::{Component, Path, PathBuf};

/// Why a media path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path tries to leave the folder or is malformed.
    Forbidden,
    /// Nothing there.
    NotFound,
}

/// The file that `path` names inside `root/source`, refusing anything that would leave that
/// folder (`..`, absolute paths, symlinks pointing out).
pub async fn resolve(root: &Path, source: &str, path: &str) -> Result<PathBuf, PathError> {
    check_relative(path)?;
    let rel = Path::new(path);
    let base = tokio::fs::canonicalize(root.join(source))
        .await
        .map_err(|_| PathError::NotFound)?;
    let full = tokio::fs::canonicalize(base.join(rel))
        .await
        .map_err(|_| PathError::NotFound)?;
    if !full.starts_with(&base) {
        return Err(PathError::Forbidden);
    }
    Ok(full)
}

/// Refuses a path that is empty, absolute, or steps up (`..`), or holds a backslash or NUL.
pub fn check_relative(path: &str) -> Result<(), PathError> {
    let clean = !path.is_empty()
        && !path.contains('\\')
        && !path.contains('\0')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if clean {
        Ok(())
    } else {
        Err(PathError::Forbidden)
    }
}

/// Whether `path` is a playlist.
pub fn is_playlist(path: &str) -> bool {
    path.ends_with(".m3u8")
}

/// Whether `path` names a segment, init section or subtitle file (what an edge may serve), by
/// extension: not a playlist, not a key or anything else unknown.
pub fn is_media(path: &str) -> bool {
    !matches!(
        content_type(path),
        "application/vnd.apple.mpegurl" | "application/octet-stream"
    )
}

/// The content type of a media file, by extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "vtt" | "webvtt" => "text/vtt",
        _ => "application/octet-stream",
    }
}
