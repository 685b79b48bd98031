//! HLS playlist rewriting: every URI, on its own line or in a `URI="…"` attribute
//! (EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, …), gets `token=`.

/// Rewrites `playlist` so that each URI carries `token` as a query parameter.
pub fn rewrite(playlist: &str, token: &str) -> String {
    let mut out = String::with_capacity(playlist.len() + 64 * token.len());
    for line in playlist.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push_str(line);
        } else if trimmed.starts_with('#') {
            rewrite_tag(trimmed, token, &mut out);
        } else {
            push_uri(trimmed, token, &mut out);
        }
        out.push('\n');
    }
    out
}

fn rewrite_tag(tag: &str, token: &str, out: &mut String) {
    let mut rest = tag;
    while let Some(at) = rest.find("URI=\"") {
        let start = at + "URI=\"".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find('"').unwrap_or(rest.len());
        push_uri(&rest[..end], token, out);
        rest = &rest[end..];
    }
    out.push_str(rest);
}

fn push_uri(uri: &str, token: &str, out: &mut String) {
    // data: URIs (inline keys or init sections) carry no query.
    if uri.starts_with("data:") {
        out.push_str(uri);
        return;
    }
    let (base, fragment) = match uri.find('#') {
        Some(i) => (&uri[..i], &uri[i..]),
        None => (uri, ""),
    };
    out.push_str(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    out.push_str("token=");
    out.push_str(token);
    out.push_str(fragment);
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn every_uri_gets_the_token() {
        let src = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?v=1\",IV=0x1\n#EXTINF:4.0,\nseg0.m4s\n\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"iframes.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n#EXT-X-ENDLIST\n";
        let out = rewrite(src, "T");
        assert!(out.contains("#EXT-X-MAP:URI=\"init.mp4?token=T\""), "{out}");
        assert!(out.contains("URI=\"key.bin?v=1&token=T\",IV=0x1"), "{out}");
        assert!(out.contains("\nseg0.m4s?token=T\n"), "{out}");
        assert!(out.contains("URI=\"iframes.m3u8?token=T\""), "{out}");
        assert!(out.contains("\nlow/index.m3u8?token=T\n"), "{out}");
        assert!(out.contains("#EXT-X-VERSION:7\n") && out.contains("#EXTINF:4.0,\n"));
        assert!(out.ends_with("#EXT-X-ENDLIST\n"));
    }
}
