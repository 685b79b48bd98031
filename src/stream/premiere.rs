//! Premieres: a VOD media playlist shown as a live screening that started at `starts_at`.
//! Every viewer gets the same sliding window computed from the wall clock, so everyone is at
//! the same live edge; a segment appears once the screening has played past its end, as it
//! would from a live encoder. Once the whole film has played, the playlist is the whole VOD.

use std::collections::HashMap;

use super::playlist::Template;
use crate::time_util::rfc3339_ms;

/// Segments in a live window: HLS asks for at least three target durations, players start
/// three segments from the edge, and a viewer who stalls briefly should not fall out.
const WINDOW: usize = 6;

/// Tags that the live playlist states afresh (or, for a live screening, leaves out).
const RESTATED: [&str; 5] = [
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-ENDLIST",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXT-X-PROGRAM-DATE-TIME",
];

#[derive(Debug, Clone)]
struct Segment {
    /// Its own lines: EXTINF, other per-segment tags, the URI.
    lines: String,
    /// Where it starts in the film, ms.
    start_ms: i64,
    duration_ms: i64,
    discontinuity: bool,
    /// The EXT-X-KEY and EXT-X-MAP lines in force for it.
    key: Option<String>,
    map: Option<String>,
}

/// A media playlist's segments with their times, ready to be cut into live windows.
#[derive(Debug, Clone)]
pub struct MediaPlaylist {
    header: String,
    segments: Vec<Segment>,
    total_ms: i64,
    /// Where each segment ends in the film, ms, by its URI's path.
    ends: HashMap<String, i64>,
}

impl MediaPlaylist {
    /// The segments of a media playlist; `None` for a master playlist or one without segments.
    pub fn parse(text: &str) -> Option<Self> {
        let mut header = String::new();
        let mut segments = Vec::new();
        let mut ends = HashMap::new();
        let (mut key, mut map) = (None, None);
        let mut pending = String::new();
        let (mut duration_ms, mut discontinuity, mut at) = (None, false, 0i64);
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line.starts_with("#EXT-X-STREAM-INF") {
                return None;
            }
            if RESTATED.iter().any(|t| line.starts_with(t)) {
                continue;
            }
            if line.starts_with("#EXT-X-KEY") {
                key = Some(line.to_string());
            } else if line.starts_with("#EXT-X-MAP") {
                map = Some(line.to_string());
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                let secs: f64 = v.split(',').next()?.trim().parse().ok()?;
                duration_ms = Some((secs * 1000.0).round() as i64);
                push_line(&mut pending, line);
            } else if line == "#EXT-X-DISCONTINUITY" {
                discontinuity = true;
                push_line(&mut pending, line);
            } else if line.starts_with('#') {
                if duration_ms.is_none() && pending.is_empty() && segments.is_empty() {
                    push_line(&mut header, line);
                } else {
                    push_line(&mut pending, line);
                }
            } else {
                let d = duration_ms.take()?;
                push_line(&mut pending, line);
                segments.push(Segment {
                    lines: std::mem::take(&mut pending),
                    start_ms: at,
                    duration_ms: d,
                    discontinuity: std::mem::take(&mut discontinuity),
                    key: key.clone(),
                    map: map.clone(),
                });
                at += d;
                let path = line.split(['?', '#']).next().unwrap_or(line);
                ends.entry(path.to_string()).or_insert(at);
            }
        }
        (!segments.is_empty()).then_some(MediaPlaylist {
            header,
            segments,
            total_ms: at,
            ends,
        })
    }

    /// The film's length, ms.
    pub fn total_ms(&self) -> i64 {
        self.total_ms
    }

    /// Whether the segment at `uri` (relative to the playlist) has not finished playing
    /// `elapsed_ms` into the screening: past the live edge, so not to be served yet. URIs that
    /// are not segments of this playlist are never early.
    pub fn is_early(&self, uri: &str, elapsed_ms: i64) -> bool {
        self.ends.get(uri).is_some_and(|&end| end > elapsed_ms)
    }

    /// The live playlist `elapsed_ms` into a screening that started at `starts_ms` (Unix ms),
    /// or `None` once the whole film has played.
    pub fn window(&self, elapsed_ms: i64, starts_ms: i64) -> Option<Template> {
        if elapsed_ms >= self.total_ms {
            return None;
        }
        let published = self
            .segments
            .partition_point(|s| s.start_ms + s.duration_ms <= elapsed_ms);
        let first = published.saturating_sub(WINDOW);
        let mut out = String::with_capacity(self.header.len() + 128 * (published - first + 2));
        out.push_str(&self.header);
        out.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n"));
        let discontinuities = self.segments[..first]
            .iter()
            .filter(|s| s.discontinuity)
            .count();
        if discontinuities > 0 {
            out.push_str(&format!(
                "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}\n"
            ));
        }
        let (mut key, mut map) = (None, None);
        for s in &self.segments[first..published] {
            if s.key != key {
                key.clone_from(&s.key);
                push_line(
                    &mut out,
                    s.key.as_deref().unwrap_or("#EXT-X-KEY:METHOD=NONE"),
                );
            }
            if s.map != map {
                map.clone_from(&s.map);
                if let Some(m) = &s.map {
                    push_line(&mut out, m);
                }
            }
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
            push_line(&mut out, &rfc3339_ms(starts_ms + s.start_ms));
            out.push_str(&s.lines);
        }
        Some(Template::parse(&out))
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

/// `path` (relative to the source) as the variant playlist `variant` names it: the part after
/// the variant's folder, or `None` when `path` lies outside that folder.
pub fn within_variant<'a>(variant: &str, path: &'a str) -> Option<&'a str> {
    match variant.rsplit_once('/') {
        Some((dir, _)) => path.strip_prefix(dir)?.strip_prefix('/'),
        None => Some(path),
    }
}

#[cfg(test)]
mod tests {
    use super::MediaPlaylist;

    const FILM: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"k1\"\n#EXTINF:4.0,\ns0.m4s\n#EXTINF:4.0,\ns1.m4s\n#EXTINF:4.0,\ns2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-KEY:METHOD=AES-128,URI=\"k2\"\n#EXTINF:4.0,\ns3.m4s\n#EXTINF:4.0,\ns4.m4s\n#EXTINF:4.0,\ns5.m4s\n#EXTINF:4.0,\ns6.m4s\n#EXTINF:4.0,\ns7.m4s\n#EXTINF:4.0,\ns8.m4s\n#EXTINF:2.0,\ns9.m4s\n#EXTINF:4.0,\ns10.m4s\n#EXTINF:4.0,\ns11.m4s\n#EXT-X-ENDLIST\n";
    /// 2026-01-01T20:00:00Z.
    const START: i64 = 1_767_297_600_000;

    fn at(elapsed_ms: i64) -> Option<String> {
        let film = MediaPlaylist::parse(FILM).unwrap();
        film.window(elapsed_ms, START).map(|t| t.render("T", None))
    }

    #[test]
    fn the_window_follows_the_clock_and_carries_keys_maps_and_discontinuities() {
        let film = MediaPlaylist::parse(FILM).unwrap();
        assert_eq!(film.total_ms(), 46_000);

        // Before the first segment has played through: a live playlist with no segment yet.
        let early = at(3_999).unwrap();
        assert!(early.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{early}");
        assert!(
            !early.contains("#EXTINF") && !early.contains("ENDLIST"),
            "{early}"
        );
        assert!(!early.contains("PLAYLIST-TYPE"), "{early}");

        let two = at(9_000).unwrap();
        assert_eq!(two.matches("#EXTINF").count(), 2, "{two}");
        assert!(
            two.contains("#EXT-X-MAP:URI=\"init.mp4?token=T\"\n"),
            "{two}"
        );
        assert!(
            two.contains(
                "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T20:00:04Z\n#EXTINF:4.0,\ns1.m4s?token=T\n"
            ),
            "{two}"
        );

        // 30 s in: seven segments have played, the window holds the last six.
        let later = at(30_000).unwrap();
        assert!(later.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{later}");
        assert_eq!(later.matches("#EXTINF").count(), 6, "{later}");
        assert!(
            !later.contains("s0.m4s") && later.contains("s6.m4s?token=T"),
            "{later}"
        );
        assert!(later.contains("URI=\"k1?token=T\"") && later.contains("URI=\"k2?token=T\""));
        assert!(later.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n"));

        assert!(!later.contains("DISCONTINUITY-SEQUENCE"), "{later}");

        // Past the discontinuity: its count moves into the header; the key in force is stated
        // at the top, the earlier one is gone.
        let past = at(45_999).unwrap();
        assert!(past.contains("#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-KEY:METHOD=AES-128,URI=\"k2?token=T\"\n"), "{past}");
        assert!(
            !past.contains("k1") && !past.contains("#EXT-X-DISCONTINUITY\n"),
            "{past}"
        );
        assert!(past.contains("s10.m4s") && !past.contains("s11.m4s") && !past.contains("ENDLIST"));

        // Segments past the live edge are early; the others, and what is no segment, are not.
        assert!(film.is_early("s7.m4s", 30_000) && !film.is_early("s6.m4s", 30_000));
        assert!(film.is_early("s0.m4s", -1) && !film.is_early("init.mp4", -1));

        // The whole film has played: no window, the caller sends the VOD.
        assert!(at(46_000).is_none());
        assert!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n").is_none()
        );
    }
}
