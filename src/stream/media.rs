//! The media of folder sources, held in memory. A screening's viewers all ask for the same few
//! segments within seconds of each other, so each file is read from disk once and then sent
//! from memory: a request that hits costs no system call and no copy (the body shares the
//! buffer). Files are re-checked against the disk at most once a second, so a live encoder
//! rewriting its playlist is seen; files too big to hold are streamed from disk instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use bytes::Bytes;

use super::files::{self, PathError};
use super::playlist::Template;
use super::premiere::MediaPlaylist;
use super::zero_copy;

/// How long a held file is trusted before the disk is asked again.
const RECHECK: Duration = Duration::from_secs(1);

thread_local! {
    /// Where a lookup's key is written: a file found held (nearly every request) costs no
    /// allocation for it.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The key of file `path` of `source`, written over `key`: the two apart, as neither holds a
/// NUL.
fn key_of<'k>(key: &'k mut String, source: &str, path: &str) -> &'k str {
    key.clear();
    key.extend([source, "\0", path]);
    key
}

/// One media file, ready to send.
#[derive(Debug)]
pub struct MediaFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// Its size, as the `Content-Length` of a whole-file answer.
    pub content_length: HeaderValue,
    /// Content type, by extension.
    pub content_type: &'static str,
    /// Strong validator: size and modification time.
    pub etag: HeaderValue,
    /// Modification time as an HTTP date.
    pub last_modified: HeaderValue,
    /// The bytes, when held in memory (else stream from `path`).
    pub bytes: Option<Bytes>,
    /// A playlist, parsed for rewriting.
    pub playlist: Option<Template>,
    /// A media playlist's segments and times, for premieres.
    pub segments: Option<MediaPlaylist>,
    modified: SystemTime,
}

struct Slot {
    file: Arc<MediaFile>,
    checked: Instant,
    used: u64,
}

#[derive(Default)]
struct Held {
    files: HashMap<String, Slot>,
    bytes: u64,
    clock: u64,
}

impl Held {
    /// Lets go of the file held as `key`, if any.
    fn remove(&mut self, key: &str) {
        if let Some(gone) = self.files.remove(key) {
            self.bytes -= gone.file.held_size();
        }
    }
}

impl MediaFile {
    /// The bytes it holds in memory.
    fn held_size(&self) -> u64 {
        self.bytes.as_ref().map_or(0, |b| b.len() as u64)
    }
}

/// The media files of folder sources under one root, the recently used ones in memory.
pub struct Library {
    root: PathBuf,
    budget: u64,
    held: Mutex<Held>,
}

/// What [`Library::lookup`] found.
enum Lookup {
    /// The file held, checked lately.
    Fresh(Arc<MediaFile>),
    /// A check is due, of the file held if any.
    Check(Option<Arc<MediaFile>>),
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("root", &self.root)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Library {
    /// Media under `root`, holding at most `budget` bytes in memory.
    pub fn new(root: PathBuf, budget: u64) -> Self {
        Self {
            root,
            budget,
            held: Mutex::default(),
        }
    }

    /// The file `path` of the folder source `source`, confined to that folder.
    pub async fn get(&self, source: &str, path: &str) -> Result<Arc<MediaFile>, PathError> {
        let now = Instant::now();
        let known = match KEY.with_borrow_mut(|key| self.lookup(key_of(key, source, path), now)) {
            Lookup::Fresh(file) => return Ok(file),
            Lookup::Check(known) => known,
        };
        let mut key = String::new();
        key_of(&mut key, source, path);
        match self.check(source, path, known).await {
            Ok(file) => {
                self.keep(key, file.clone(), now);
                Ok(file)
            }
            Err(e) => {
                // Gone, pointed out of the folder or unreadable: refused from now on, not held.
                self.lock().remove(&key);
                Err(e)
            }
        }
    }

    /// The file `path` of `source` as the disk has it now: `known` if unchanged, else read.
    async fn check(
        &self,
        source: &str,
        path: &str,
        known: Option<Arc<MediaFile>>,
    ) -> Result<Arc<MediaFile>, PathError> {
        // Resolved again on every check: a symlink may have been pointed elsewhere.
        let full = files::resolve(&self.root, source, path).await?;
        let meta = tokio::fs::metadata(&full)
            .await
            .map_err(|_| PathError::NotFound)?;
        if !meta.is_file() {
            return Err(PathError::NotFound);
        }
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        Ok(match known {
            Some(f) if f.path == full && f.len == meta.len() && f.modified == modified => f,
            _ => Arc::new(self.load(full, path, meta.len(), modified).await?),
        })
    }

    /// The file held as `key` if checked within [`RECHECK`] of `now`; else what to check,
    /// claimed: the crowd asking while this check is made gets the file held (as it would have
    /// a moment before), not a check each.
    fn lookup(&self, key: &str, now: Instant) -> Lookup {
        let mut held = self.lock();
        held.clock += 1;
        let clock = held.clock;
        match held.files.get_mut(key) {
            Some(slot) if now.duration_since(slot.checked) < RECHECK => {
                slot.used = clock;
                Lookup::Fresh(slot.file.clone())
            }
            Some(slot) => {
                slot.checked = now;
                Lookup::Check(Some(slot.file.clone()))
            }
            None => Lookup::Check(None),
        }
    }

    /// Whether `path` is a segment that a premiere `elapsed_ms` in has not played through yet:
    /// a segment of the source's media playlist, or of a variant its master playlist lists.
    pub async fn is_early(&self, source: &str, path: &str, elapsed_ms: i64) -> bool {
        let Ok(index) = self.get(source, "index.m3u8").await else {
            return false;
        };
        if let Some(film) = &index.segments {
            return film.is_early(path, elapsed_ms);
        }
        let Some(master) = &index.playlist else {
            return false;
        };
        for variant in master.playlists() {
            let Some(rel) = super::premiere::within_variant(variant, path) else {
                continue;
            };
            if let Ok(f) = self.get(source, variant).await
                && f.segments
                    .as_ref()
                    .is_some_and(|m| m.is_early(rel, elapsed_ms))
            {
                return true;
            }
        }
        false
    }

    async fn load(
        &self,
        full: PathBuf,
        path: &str,
        len: u64,
        modified: SystemTime,
    ) -> Result<MediaFile, PathError> {
        let bytes = if len <= self.budget / 4 {
            let from_file = files::is_media(path);
            let held = read_whole(full.clone(), from_file).await;
            Some(held.map_err(|_| PathError::NotFound)?)
        } else {
            None
        };
        // A file rewritten between the stat and the read: describe what was read.
        let len = bytes.as_ref().map_or(len, |b| b.len() as u64);
        let text = match (&bytes, files::is_playlist(path)) {
            (Some(b), true) => Some(std::str::from_utf8(b).map_err(|_| PathError::NotFound)?),
            (None, true) => return Err(PathError::NotFound),
            _ => None,
        };
        let playlist = text.map(Template::parse);
        let segments = text.and_then(MediaPlaylist::parse);
        let nanos = modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Ok(MediaFile {
            content_type: files::content_type(path),
            etag: header(format!("\"{len:x}-{nanos:x}\"")),
            last_modified: header(httpdate::fmt_http_date(modified)),
            path: full,
            len,
            content_length: HeaderValue::from(len),
            bytes,
            playlist,
            segments,
            modified,
        })
    }

    /// Remembers `file`, dropping the least recently used files beyond the budget.
    fn keep(&self, key: String, file: Arc<MediaFile>, now: Instant) {
        let size = file.held_size();
        let mut held = self.lock();
        held.clock += 1;
        let used = held.clock;
        if let Some(old) = held.files.insert(
            key,
            Slot {
                file,
                checked: now,
                used,
            },
        ) {
            held.bytes -= old.file.held_size();
        }
        held.bytes += size;
        while held.bytes > self.budget {
            let Some(oldest) = held
                .files
                .iter()
                .filter(|(_, s)| s.file.bytes.is_some())
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            held.remove(&oldest);
        }
    }

    /// Bytes held in memory now.
    pub fn held_bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // The map stays consistent across a panic elsewhere: every change is one statement.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The whole of the file at `full`; a media file's bytes are sent from the file itself (see
/// [`zero_copy`]), a playlist's are only read.
async fn read_whole(full: PathBuf, media: bool) -> std::io::Result<Bytes> {
    let read = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&full)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(if media {
            zero_copy::file_backed(bytes, file)
        } else {
            Bytes::from(bytes)
        })
    });
    read.await.map_err(std::io::Error::other)?
}

fn header(v: String) -> HeaderValue {
    HeaderValue::from_str(&v).expect("an ETag or HTTP date is a valid header value")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{Library, Lookup, PathError, RECHECK};

    #[tokio::test]
    async fn recent_files_are_held_within_the_budget_and_big_ones_left_on_disk() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("show");
        std::fs::create_dir(&dir).unwrap();
        for i in 0..6 {
            std::fs::write(dir.join(format!("s{i}.ts")), vec![i as u8; 200]).unwrap();
        }
        let lib = Library::new(root.path().to_path_buf(), 1000);
        for i in 0..6 {
            let f = lib.get("show", &format!("s{i}.ts")).await.unwrap();
            assert_eq!(f.bytes.as_deref(), Some(&[i as u8; 200][..]));
        }
        // Six files of 200 bytes in a budget of 1000: the least recently used one went.
        assert_eq!(lib.held_bytes(), 1000);
        assert!(!lib.lock().files.contains_key("show\0s0.ts"));
        assert!(lib.lock().files.contains_key("show\0s5.ts"));
        // Above a quarter of the budget: described, streamed from disk, not held.
        std::fs::write(dir.join("big.ts"), vec![7u8; 600]).unwrap();
        let big = lib.get("show", "big.ts").await.unwrap();
        assert!(big.bytes.is_none());
        assert_eq!(big.len, 600);
        assert_eq!(lib.held_bytes(), 1000);
        assert!(lib.get("show", "../show/s0.ts").await.is_err());
        assert!(lib.get("show", "missing.ts").await.is_err());
    }

    #[tokio::test]
    async fn a_due_check_is_made_by_one_request_and_a_file_found_gone_is_let_go() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("show");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.ts"), [1u8; 200]).unwrap();
        let lib = Library::new(root.path().to_path_buf(), 1000);
        lib.get("show", "a.ts").await.unwrap();
        let key = "show\0a.ts";
        let due = Instant::now() + RECHECK;
        // The first request after the check falls due makes it; those asking meanwhile are
        // answered the file held.
        assert!(matches!(lib.lookup(key, due), Lookup::Check(Some(_))));
        assert!(matches!(lib.lookup(key, due), Lookup::Fresh(_)));
        assert!(matches!(
            lib.lookup(key, due + RECHECK),
            Lookup::Check(Some(_))
        ));

        // A check that finds the file gone lets go of it.
        {
            let mut held = lib.lock();
            let slot = held.files.get_mut(key).unwrap();
            slot.checked = slot.checked.checked_sub(3 * RECHECK).unwrap();
        }
        std::fs::remove_file(dir.join("a.ts")).unwrap();
        assert_eq!(
            lib.get("show", "a.ts").await.unwrap_err(),
            PathError::NotFound
        );
        assert_eq!(lib.held_bytes(), 0);
        assert!(matches!(lib.lookup(key, due), Lookup::Check(None)));
    }
}
