//! The stream endpoint's refusals: no token, a tampered one, another event's, a revoked one, escapes.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn stream_refuses_missing_tampered_foreign_and_revoked_tokens() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let (starts, ends) = (
        now - time::Duration::minutes(1),
        now + time::Duration::hours(1),
    );
    let a = app
        .create_event(starts, ends, app.pass_gate(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app
        .create_event(starts, ends, app.pass_gate(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = app.login(&viewer).await;
    let join: Value = app.join(&a, &session).await.json().await.unwrap();
    let token = join["stream_token"].as_str().unwrap().to_string();

    assert_eq!(
        app.get(&format!("/stream/{a}/index.m3u8?token={token}"), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/stream/{a}/index.m3u8"), Some(&token))
            .await
            .status(),
        200,
        "Bearer works too"
    );
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8"), None).await,
        401,
        "unauthenticated",
    )
    .await;
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_problem(
        app.get(&format!("/stream/{a}/seg000.ts?token={tampered}"), None)
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        app.get(&format!("/stream/{b}/index.m3u8?token={token}"), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    // A session token is not a stream token.
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8?token={session}"), None)
            .await,
        401,
        "unauthenticated",
    )
    .await;

    // Paths stay inside the event's folder.
    for path in [
        "..%2F..%2FCargo.toml",
        "%2e%2e/%2e%2e/Cargo.toml",
        "..%5C..%5CCargo.toml",
    ] {
        let r = app
            .get(&format!("/stream/{a}/{path}?token={token}"), None)
            .await;
        assert!(
            r.status() == 403 || r.status() == 404,
            "{path}: {}",
            r.status()
        );
    }
    assert_problem(
        app.get(&format!("/stream/{a}/%FF.ts?token={token}"), None)
            .await,
        400,
        "invalid_request",
    )
    .await;
    // HEAD is answered like GET, without the body.
    let head = app
        .send(
            reqwest::Method::HEAD,
            &format!("/stream/{a}/seg000.ts?token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "video/mp2t");
    assert!(head.bytes().await.unwrap().is_empty());
    assert_problem(
        app.get(&format!("/stream/{a}/nope.ts?token={token}"), None)
            .await,
        404,
        "not_found",
    )
    .await;

    // Heartbeats need the same token.
    assert_problem(
        app.post(&format!("/api/v1/events/{a}/heartbeat"), None, json!({}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/api/v1/events/{b}/heartbeat?token={token}"),
            None,
            json!({}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    // Logging out revokes the stream token of that session.
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&session), json!({}))
            .await
            .status(),
        204
    );
    assert_problem(
        app.get(&format!("/stream/{a}/index.m3u8?token={token}"), None)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_is_refused_before_doors_open() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let e = app
        .create_event(
            now + time::Duration::hours(1),
            now + time::Duration::hours(2),
            app.pass_gate(),
            json!({}),
        )
        .await;
    let session = app.login(&viewer).await;
    let r = app.join(e["id"].as_str().unwrap(), &session).await;
    assert_problem(r, 403, "event_not_open").await;
}

/// A screening of `stream` gated by the pass, started at `starts` and ending in an hour, and a
/// viewer holding the pass who joined it: (event id, stream token, organizer's session).
async fn screening(
    app: &TestApp,
    starts: OffsetDateTime,
    stream: Value,
) -> (String, String, String) {
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let session = app.login(&viewer).await;
    let owner = app.login(&wallet(0)).await;
    let id = app
        .create_event_with(
            starts,
            OffsetDateTime::now_utc() + time::Duration::hours(1),
            app.pass_gate(),
            json!({}),
            json!({ "stream": stream }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.stream_token(&id, &session).await;
    (id, token, owner)
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_end_the_stream_closes_unless_the_event_allows_replay() {
    let app = spawn_app().await;
    let now = OffsetDateTime::now_utc();
    let (id, token, owner) = screening(
        &app,
        now - time::Duration::minutes(10),
        json!({ "source": "demo", "replay": false }),
    )
    .await;
    let get = |file: &str| {
        let path = format!("/stream/{id}/{file}?token={token}");
        let app = &app;
        async move { app.get(&path, None).await }
    };
    let edit = |body: Value| {
        let path = format!("/api/v1/events/{id}");
        let (app, owner) = (&app, &owner);
        async move {
            let r = app
                .send(reqwest::Method::PATCH, &path, Some(owner), Some(body))
                .await;
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    assert_eq!(get("seg000.ts").await.status(), 200);

    // The screening ended a minute ago: a token taken while it ran opens nothing.
    let ended = now - time::Duration::minutes(1);
    edit(json!({ "ends_at": rfc3339(ended) })).await;
    assert_problem(get("index.m3u8").await, 403, "event_not_open").await;
    assert_problem(get("seg000.ts").await, 403, "event_not_open").await;

    // With replay the whole VOD stays open after the end.
    edit(json!({ "stream": { "replay": true } })).await;
    let r = get("index.m3u8").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(text.matches("#EXTINF").count(), 8, "{text}");
    assert_eq!(get("seg007.ts").await.status(), 200);
}

/// Playlists and segments read no database: cut off from it, the app goes on serving them to a
/// viewer who joined before, past the time its copy of the event is read again, while what does
/// need the database answers 503.
#[tokio::test(flavor = "multi_thread")]
async fn a_screening_plays_on_while_the_database_is_gone() {
    let app = spawn_app().await;
    let started = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let (id, token, owner) = screening(&app, started, json!({ "source": "demo" })).await;
    let play = || async {
        let r = app
            .get(&format!("/stream/{id}/index.m3u8?token={token}"), None)
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("seg003.ts"));
        let r = app
            .get(&format!("/stream/{id}/seg003.ts?token={token}"), None)
            .await;
        assert_eq!(r.status(), 200);
        assert!(!r.bytes().await.unwrap().is_empty());
    };
    let stats = format!("/api/v1/events/{id}/stats");
    play().await;
    assert_eq!(app.get(&stats, Some(&owner)).await.status(), 200);

    app.db.cut(&app.pool).await;
    assert_problem(app.get("/readyz", None).await, 503, "database_unavailable").await;
    assert_problem(
        app.get(&stats, Some(&owner)).await,
        503,
        "database_unavailable",
    )
    .await;
    // A viewer plays on, for longer than the node answers its copy of the event before it
    // reads it again.
    let until = std::time::Instant::now()
        + std::time::Duration::from_millis(3 * marquee::store::events::CACHE_TTL_MS as u64);
    let mut plays = 0;
    while std::time::Instant::now() < until {
        play().await;
        plays += 1;
    }
    assert!(plays > 10, "{plays}");
    assert_problem(
        app.get(&stats, Some(&owner)).await,
        503,
        "database_unavailable",
    )
    .await;

    // PostgreSQL back: the app connects again.
    if app.db.restore().await {
        eventually(std::time::Duration::from_secs(10), || async {
            (app.get(&stats, Some(&owner)).await.status() == 200).then_some(())
        })
        .await;
        play().await;
    }
}

/// A folder source under a media root of the test's own, with files of each kind, a symlink
/// pointing out of the folder, and a file too big for the memory budget.
pub(crate) struct Media {
    pub root: tempfile::TempDir,
    pub segment: Vec<u8>,
    pub big: Vec<u8>,
}

impl Media {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let show = root.path().join("show");
        std::fs::create_dir(&show).unwrap();
        let segment: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let big: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(
            show.join("index.m3u8"),
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\"\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\npart.m4s\n#EXTINF:4,\nseg0.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(show.join("seg0.ts"), &segment).unwrap();
        std::fs::write(show.join("init.mp4"), b"init").unwrap();
        std::fs::write(show.join("key.bin"), [7u8; 16]).unwrap();
        std::fs::write(show.join("part.m4s"), b"part").unwrap();
        std::fs::write(show.join("big.ts"), &big).unwrap();
        std::fs::write(root.path().join("secret.ts"), b"not for viewers").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.ts"), show.join("escape.ts")).unwrap();
        std::os::unix::fs::symlink("/etc", show.join("etc")).unwrap();
        Media { root, segment, big }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn media_is_sent_whole_or_by_range_with_its_type_and_never_from_outside_the_folder() {
    let media = Media::new();
    let root = media.root.path().to_path_buf();
    let app = spawn_app_with(|s| {
        s.media_root = Some(root);
        // 1 MiB: files above a quarter of it are streamed from disk.
        s.media_cache_mb = Some(1);
    })
    .await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let id = app
        .live_event_with(app.pass_gate(), json!({ "stream": { "source": "show" } }))
        .await;
    let session = app.login(&viewer).await;
    let token = app.stream_token(&id, &session).await;
    let http = reqwest::Client::new();
    let get = |path: &str, range: Option<&str>| {
        let mut r = http.get(format!("{}/stream/{id}/{path}?token={token}", app.url));
        if let Some(v) = range {
            r = r.header("range", v);
        }
        r.send()
    };

    let playlist = get("index.m3u8", None).await.unwrap();
    assert_eq!(playlist.status(), 200);
    assert_eq!(
        playlist.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(playlist.headers()["cache-control"], "no-store");
    let text = playlist.text().await.unwrap();
    assert!(
        text.contains(&format!("URI=\"init.mp4?token={token}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!("\nseg0.ts?token={token}\n")),
        "{text}"
    );

    for (file, kind) in [
        ("seg0.ts", "video/mp2t"),
        ("part.m4s", "video/iso.segment"),
        ("init.mp4", "video/mp4"),
    ] {
        let r = get(file, None).await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["content-type"], kind, "{file}");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("private, max-age="),
            "{file}"
        );
    }

    // Whole, then by range, from memory and from disk alike.
    for (file, bytes) in [("seg0.ts", &media.segment), ("big.ts", &media.big)] {
        let n = bytes.len();
        let whole = get(file, None).await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["accept-ranges"], "bytes");
        let etag = whole.headers()["etag"].clone();
        assert_eq!(&whole.bytes().await.unwrap()[..], &bytes[..], "{file}");

        let part = get(file, Some("bytes=100-1099")).await.unwrap();
        assert_eq!(part.status(), 206, "{file}");
        assert_eq!(
            part.headers()["content-range"],
            format!("bytes 100-1099/{n}").as_str()
        );
        assert_eq!(&part.bytes().await.unwrap()[..], &bytes[100..1100]);

        let tail = get(file, Some("bytes=-10")).await.unwrap();
        assert_eq!(tail.status(), 206);
        assert_eq!(&tail.bytes().await.unwrap()[..], &bytes[n - 10..]);

        let open_ended = get(file, Some(&format!("bytes={}-", n - 3))).await.unwrap();
        assert_eq!(open_ended.status(), 206);
        assert_eq!(&open_ended.bytes().await.unwrap()[..], &bytes[n - 3..]);

        let beyond = get(file, Some(&format!("bytes={n}-"))).await.unwrap();
        assert_eq!(
            beyond.headers()["content-range"],
            format!("bytes */{n}").as_str()
        );
        assert_problem(beyond, 416, "range_not_satisfiable").await;

        // Several ranges, or a header that does not parse: the whole file.
        for header in ["bytes=0-1,5-9", "pages=1-2"] {
            let r = get(file, Some(header)).await.unwrap();
            assert_eq!(r.status(), 200, "{header}");
            assert_eq!(r.bytes().await.unwrap().len(), n);
        }

        let cached = http
            .get(format!("{}/stream/{id}/{file}?token={token}", app.url))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
    }

    // Nothing outside the event's folder, however the path is spelled.
    for path in [
        "escape.ts",
        "etc/passwd",
        "..%2Fsecret.ts",
        "%2e%2e/secret.ts",
        "%2E%2E%2Fsecret.ts",
        "..%5Csecret.ts",
        "show/..%2F..%2Fsecret.ts",
        "%2Fetc%2Fpasswd",
    ] {
        let r = get(path, None).await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status == 403 || status == 404, "{path}: {status}");
        assert!(
            !body.contains("not for viewers") && !body.contains("root:"),
            "{path}"
        );
    }

    // A file rewritten on disk is sent anew (held copies are re-checked within a second).
    let show = media.root.path().join("show");
    std::fs::write(show.join("seg0.ts"), b"re-encoded").unwrap();
    eventually(std::time::Duration::from_secs(5), || async {
        let body = get("seg0.ts", None).await.unwrap().bytes().await.unwrap();
        (&body[..] == b"re-encoded").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_premiere_puts_every_viewer_at_the_same_live_edge_and_becomes_the_vod_once_played() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let session = app.login(&viewer).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let premiere = |starts: OffsetDateTime, doors: OffsetDateTime| {
        app.create_event_with(
            starts,
            starts + time::Duration::hours(2),
            app.pass_gate(),
            json!({}),
            json!({ "doors_open_at": rfc3339(doors), "stream": { "source": "demo", "premiere": true } }),
        )
    };
    let playlist = |id: String, token: String| {
        let app = &app;
        async move {
            let r = app
                .get(&format!("/stream/{id}/index.m3u8?token={token}"), None)
                .await;
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };

    // Nine seconds in: the demo's 4 s segments that have played through, from sequence 0,
    // each stamped with when it was shown.
    let started = now - time::Duration::seconds(9);
    let live = premiere(started, started).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.stream_token(&live, &session).await;
    let before = OffsetDateTime::now_utc();
    let text = playlist(live.clone(), token.clone()).await;
    let after = OffsetDateTime::now_utc();
    let played = |t: OffsetDateTime| ((t - started).whole_milliseconds() / 4000) as usize;
    let segments = text.matches("#EXTINF").count();
    assert!(
        (played(before)..=played(after)).contains(&segments),
        "{segments} segments: {text}"
    );
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    assert!(
        text.contains(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:4.000000,\nseg000.ts?token={token}\n",
            rfc3339(started)
        )),
        "{text}"
    );
    assert!(
        !text.contains("ENDLIST") && !text.contains("PLAYLIST-TYPE"),
        "{text}"
    );
    assert!(!text.contains("seg007.ts"), "{text}");
    // What has played is served; what lies past the live edge is not, whoever asks for it.
    let segment = |id: &str, token: &str, name: &str| {
        let path = format!("/stream/{id}/{name}?token={token}");
        let app = &app;
        async move { app.get(&path, None).await }
    };
    assert_eq!(segment(&live, &token, "seg000.ts").await.status(), 200);
    assert_problem(segment(&live, &token, "seg006.ts").await, 404, "not_found").await;

    // Doors open, film not started: a live playlist with nothing in it yet.
    let soon = premiere(
        now + time::Duration::hours(1),
        now - time::Duration::minutes(1),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.stream_token(&soon, &session).await;
    let text = playlist(soon.clone(), token.clone()).await;
    assert_problem(segment(&soon, &token, "seg000.ts").await, 404, "not_found").await;
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    assert!(
        !text.contains("#EXTINF") && !text.contains("ENDLIST"),
        "{text}"
    );

    // The 30 s film has played through: the whole VOD, ended.
    let long_ago = now - time::Duration::minutes(10);
    let played = premiere(long_ago, long_ago).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.stream_token(&played, &session).await;
    let text = playlist(played.clone(), token.clone()).await;
    assert_eq!(text.matches("#EXTINF").count(), 8, "{text}");
    assert_eq!(segment(&played, &token, "seg007.ts").await.status(), 200);
    assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
}

/// An HTTP origin serving the demo film under `/films/demo/` (its playlist as `master.m3u8`,
/// one segment by absolute URL, one on a third party's host), `broken.ts` failing with 500;
/// it counts the requests for each path.
#[tokio::test(flavor = "multi_thread")]
async fn a_premiere_from_an_origin_refuses_segments_past_its_live_edge() {
    let app = spawn_app().await;
    let (base, _) = origin().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let session = app.login(&viewer).await;
    // Nine seconds into the demo's 4 s segments: seg000 and seg001 have played.
    let started = OffsetDateTime::now_utc() - time::Duration::seconds(9);
    let id = app
        .create_event_with(
            started,
            started + time::Duration::hours(2),
            app.pass_gate(),
            json!({}),
            json!({ "stream": { "source": format!("{base}master.m3u8"), "premiere": true } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.stream_token(&id, &session).await;
    let get = |name: &str| {
        let url = format!("{}/stream/{id}/{name}?token={token}", app.url);
        app.http.get(url).send()
    };
    assert_eq!(get("seg000.ts").await.unwrap().status(), 200);
    let body = assert_problem(get("seg006.ts").await.unwrap(), 404, "not_found").await;
    assert!(
        body["detail"].as_str().unwrap().contains("live edge"),
        "{body}"
    );
    // A name the film does not have is the origin's to answer.
    assert_problem(get("nothing.ts").await.unwrap(), 404, "not_found").await;
}

async fn origin() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::IntoResponse;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/films/demo/", listener.local_addr().unwrap());
    let (log, abs) = (seen.clone(), base.clone());
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let (log, abs) = (log.clone(), abs.clone());
        async move {
            log.lock().unwrap().push(uri.to_string());
            let Some(name) = uri.path().strip_prefix("/films/demo/") else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let demo = root().join("media/demo");
            match name {
                "master.m3u8" => {
                    let text = std::fs::read_to_string(demo.join("index.m3u8")).unwrap();
                    let text = text
                        .replace("seg001.ts", &format!("{abs}seg001.ts"))
                        .replace("seg002.ts", "https://elsewhere.example/seg002.ts");
                    text.into_response()
                }
                "broken.ts" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                _ => match std::fs::read(demo.join(name)) {
                    Ok(bytes) => match headers.get(header::RANGE) {
                        Some(_) => (
                            StatusCode::PARTIAL_CONTENT,
                            [(header::CONTENT_RANGE, format!("bytes 0-9/{}", bytes.len()))],
                            bytes[..10].to_vec(),
                        )
                            .into_response(),
                        None => bytes.into_response(),
                    },
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                },
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_source_is_proxied_rewritten_and_shared_and_its_failures_are_502() {
    let app = spawn_app().await;
    let (base, seen) = origin().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let id = app
        .live_event_with(
            app.pass_gate(),
            json!({ "stream": { "source": format!("{base}master.m3u8") } }),
        )
        .await;
    let session = app.login(&viewer).await;
    let token = app.stream_token(&id, &session).await;
    let get = |path: &str| {
        let url = format!("{}/stream/{id}/{path}?token={token}", app.url);
        app.http.get(url).send()
    };

    let r = get("index.m3u8").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!("\nseg000.ts?token={token}\n")),
        "{text}"
    );
    // The origin's own absolute URL comes through Marquee; a third party's gets no token.
    assert!(
        text.contains(&format!("\n/stream/{id}/seg001.ts?token={token}\n")),
        "{text}"
    );
    assert!(
        text.contains("\nhttps://elsewhere.example/seg002.ts\n"),
        "{text}"
    );

    // Every viewer's playlist within a second is one request to the origin.
    for _ in 0..10 {
        assert_eq!(get("index.m3u8").await.unwrap().status(), 200);
    }
    let fetched = |name: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains(name))
            .count()
    };
    // Two at most: the eleven requests may straddle the one-second boundary.
    assert!(fetched("master.m3u8") <= 2, "{:?}", seen.lock().unwrap());

    // Segments stream through, byte ranges too, with the token kept from the origin.
    let r = get("seg000.ts").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    let body = r.bytes().await.unwrap();
    assert_eq!(
        &body[..],
        &std::fs::read(root().join("media/demo/seg000.ts")).unwrap()[..]
    );
    let r = app
        .http
        .get(format!("{}/stream/{id}/seg000.ts?token={token}", app.url))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    assert!(
        seen.lock().unwrap().iter().all(|p| !p.contains("token=")),
        "the stream token never reaches the origin"
    );

    assert_problem(get("missing.ts").await.unwrap(), 404, "not_found").await;
    assert_problem(get("broken.ts").await.unwrap(), 502, "origin_unavailable").await;
    assert_problem(get("..%2Fother%2Fx.ts").await.unwrap(), 403, "forbidden").await;

    // An origin that does not answer at all.
    let down = app
        .live_event_with(
            app.pass_gate(),
            json!({ "stream": { "source": format!("http://127.0.0.1:{}/x.m3u8", free_port()) } }),
        )
        .await;
    let token = app.stream_token(&down, &session).await;
    assert_problem(
        app.get(&format!("/stream/{down}/index.m3u8?token={token}"), None)
            .await,
        502,
        "origin_unavailable",
    )
    .await;
}
