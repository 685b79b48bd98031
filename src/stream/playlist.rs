//! HLS playlist rewriting: every URI, on its own line or in a `URI="…"` attribute
//! (EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, …), gets `token=`; with an
//! edge, segments and init sections point at it instead, signed.

use super::edge::Edge;
use super::files;

/// A playlist cut at its URIs, so that rendering it for a viewer is only concatenation.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// The text around the URIs: one piece more than there are URIs.
    pieces: Vec<String>,
    uris: Vec<Uri>,
    text_len: usize,
    rebase: Option<(String, String)>,
}

/// A relative URI of the playlist, as written (without its fragment).
#[derive(Debug, Clone)]
struct Uri {
    text: String,
    /// `?token=` or `&token=`, as the URI has a query already or not.
    joiner: &'static str,
    /// A segment or init section (not a playlist, not a key): what an edge may serve.
    media: bool,
}

/// Where media URIs point instead of Marquee when an edge serves the bytes.
#[derive(Debug, Clone, Copy)]
pub struct EdgeTarget<'a> {
    /// Signs the links.
    pub edge: &'a Edge,
    /// The playlist's folder under the media root, ending with `/`.
    pub folder: &'a str,
    /// Unix time (s) the links stop working.
    pub expires: i64,
}

impl Template {
    /// Parses `playlist`; nothing in it is refused, text that is not HLS passes through.
    /// Absolute URIs (another host, or a path from the root) are left as they are, without the
    /// token: it must not travel to a third party.
    pub fn parse(playlist: &str) -> Self {
        Self::parse_rebased(playlist, None)
    }

    /// Like [`Template::parse`] for a playlist of an origin: absolute URIs under `origin` (a
    /// URL prefix) are pointed at `ours` (a path prefix) instead, and get the token.
    pub fn parse_rebased(playlist: &str, rebase: Option<(&str, &str)>) -> Self {
        let mut t = Template {
            pieces: vec![String::new()],
            uris: Vec::new(),
            text_len: 0,
            rebase: rebase.map(|(o, p)| (o.to_string(), p.to_string())),
        };
        for line in playlist.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                t.text(line);
            } else if trimmed.starts_with('#') {
                t.tag(trimmed);
            } else {
                t.uri(trimmed, true);
            }
            t.text("\n");
        }
        t
    }

    /// The playlist with `token` in every URI, except that media URIs point at the edge, signed,
    /// when `edge` is given (and the URI is one the edge can be asked for).
    pub fn render(&self, token: &str, edge: Option<EdgeTarget<'_>>) -> String {
        let per_uri = edge.map_or(token.len() + 8, |_| 96);
        let mut out = String::with_capacity(self.text_len + self.uris.len() * per_uri);
        out.push_str(&self.pieces[0]);
        for (uri, piece) in self.uris.iter().zip(&self.pieces[1..]) {
            let edged = edge.filter(|_| uri.media).is_some_and(|e| {
                e.edge
                    .append_link(&mut out, e.folder, &uri.text, e.expires)
                    .is_some()
            });
            if !edged {
                out.push_str(&uri.text);
                out.push_str(uri.joiner);
                out.push_str(token);
            }
            out.push_str(piece);
        }
        out
    }

    /// The paths of the playlists it points at (variants, renditions, I-frame playlists).
    pub fn playlists(&self) -> impl Iterator<Item = &str> {
        self.uris
            .iter()
            .map(|u| u.text.split('?').next().unwrap_or(&u.text))
            .filter(|p| files::is_playlist(p))
    }

    fn text(&mut self, s: &str) {
        self.text_len += s.len();
        self.pieces.last_mut().expect("never empty").push_str(s);
    }

    fn tag(&mut self, tag: &str) {
        // Keys stay with Marquee: whoever holds a segment link must not also get the key.
        let media = !tag.starts_with("#EXT-X-KEY") && !tag.starts_with("#EXT-X-SESSION-KEY");
        let mut rest = tag;
        while let Some(at) = rest.find("URI=\"") {
            let start = at + "URI=\"".len();
            self.text(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find('"').unwrap_or(rest.len());
            self.uri(&rest[..end], media);
            rest = &rest[end..];
        }
        self.text(rest);
    }

    fn uri(&mut self, uri: &str, media: bool) {
        let rebased = self.rebase.as_ref().and_then(|(origin, ours)| {
            uri.strip_prefix(origin.as_str())
                .map(|rest| format!("{ours}{rest}"))
        });
        if let Some(uri) = rebased {
            return self.relative(&uri, false);
        }
        // data: URIs (inline keys or init sections) carry no query; absolute ones stay as they are.
        if uri.starts_with("data:") || uri.starts_with('/') || uri.contains("://") {
            self.text(uri);
            return;
        }
        self.relative(uri, media);
    }

    fn relative(&mut self, uri: &str, media: bool) {
        let (base, fragment) = match uri.find('#') {
            Some(i) => (&uri[..i], &uri[i..]),
            None => (uri, ""),
        };
        let path = base.split('?').next().unwrap_or(base);
        self.text_len += base.len() + "?token=".len();
        self.uris.push(Uri {
            text: base.to_string(),
            joiner: if base.contains('?') {
                "&token="
            } else {
                "?token="
            },
            media: media && files::is_media(path),
        });
        self.pieces.push(String::new());
        self.text(fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::Template;

    fn rewrite(playlist: &str, token: &str) -> String {
        Template::parse(playlist).render(token, None)
    }

    #[test]
    fn every_uri_gets_the_token() {
        let src = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?v=1\",IV=0x1\n#EXTINF:4.0,\nseg0.m4s\n\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"iframes.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n#EXT-X-KEY:METHOD=AES-128,URI=\"data:text/plain;base64,AAAA\"\n#EXT-X-ENDLIST\n";
        let out = rewrite(src, "T");
        assert!(out.contains("#EXT-X-MAP:URI=\"init.mp4?token=T\""), "{out}");
        assert!(out.contains("URI=\"key.bin?v=1&token=T\",IV=0x1"), "{out}");
        assert!(out.contains("\nseg0.m4s?token=T\n"), "{out}");
        assert!(out.contains("URI=\"iframes.m3u8?token=T\""), "{out}");
        assert!(out.contains("\nlow/index.m3u8?token=T\n"), "{out}");
        assert!(
            out.contains("URI=\"data:text/plain;base64,AAAA\"\n"),
            "{out}"
        );
        assert!(out.contains("#EXT-X-VERSION:7\n") && out.contains("#EXTINF:4.0,\n"));
        assert!(out.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(out.matches("token=T").count(), 5);
    }

    #[test]
    fn absolute_uris_keep_the_token_to_themselves_unless_they_are_the_origins() {
        let src =
            "#EXTM3U\nhttps://cdn.example/a/s1.ts\n/root/s2.ts\nhttps://other.example/s3.ts\n";
        let plain = rewrite(src, "T");
        assert_eq!(plain.matches("token=").count(), 0, "{plain}");
        let t = Template::parse_rebased(src, Some(("https://cdn.example/a/", "/stream/e/")));
        let out = t.render("T", None);
        assert!(out.contains("\n/stream/e/s1.ts?token=T\n"), "{out}");
        assert!(
            out.contains("\n/root/s2.ts\nhttps://other.example/s3.ts\n"),
            "{out}"
        );
    }
}
