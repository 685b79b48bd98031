//! Edge delivery: Marquee's playlists point segments at a real nginx configured by Marquee,
//! which serves the links Marquee signed and nothing else.

use marquee::stream::edge::{Edge, Nginx, NginxSite, sign};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;
use crate::stream::Media;

const SECRET: &str = "edge-test-secret-0123456789";

#[tokio::test(flavor = "multi_thread")]
async fn segments_play_through_the_edge_nginx_and_only_links_marquee_signed_open() {
    let media = Media::new();
    let root = media.root.path().to_path_buf();
    let edge_addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let edge_url = format!("http://{edge_addr}/media/");
    let app = spawn_app_with(|s| {
        s.media_root = Some(root.clone());
        s.edge_url = Some(edge_url.clone());
        s.edge_secret = Some(SECRET.into());
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let edge = Edge::new(
        &url::Url::parse(&edge_url).unwrap(),
        SecretString::from(SECRET),
    )
    .unwrap();
    let site = NginxSite::new(
        edge_addr,
        root.clone(),
        work.path().to_path_buf(),
        app.url.clone(),
    );
    let _nginx = Nginx::start(&edge, &site).expect("nginx starts (make deps installs it)");

    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let id = app
        .live_event_with(app.pass_gate(), json!({ "stream": { "source": "show" } }))
        .await;
    let session = app.login(&viewer).await;
    let joined: Value = app.join(&id, &session).await.json().await.unwrap();
    let token = joined["stream_token"].as_str().unwrap();
    let expires = OffsetDateTime::parse(
        joined["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();

    // The playlist still comes from Marquee, gated; its segments and init section point at the
    // edge, signed until the stream token expires, and carry no token; the key stays with Marquee.
    let r = app
        .get(&format!("/stream/{id}/index.m3u8?token={token}"), None)
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let link = |file: &str| {
        text.lines()
            .flat_map(|l| l.split('"'))
            .find(|l| l.starts_with(&format!("{edge_url}show/{file}?")))
            .unwrap_or_else(|| panic!("no edge link to {file}: {text}"))
            .to_string()
    };
    assert!(
        text.contains(&format!("URI=\"key.bin?token={token}\"")),
        "{text}"
    );
    assert_eq!(text.matches("token=").count(), 1, "{text}");
    let seg = link("seg0.ts");
    assert!(seg.ends_with(&format!("&expires={expires}")), "{seg}");

    let http = reqwest::Client::new();
    for (file, bytes, kind) in [
        ("seg0.ts", &media.segment[..], "video/mp2t"),
        ("part.m4s", b"part", "video/iso.segment"),
        ("init.mp4", b"init", "video/mp4"),
    ] {
        let r = http
            .get(link(file))
            .header("origin", &app.url)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["content-type"], kind, "{file}");
        assert_eq!(r.headers()["access-control-allow-origin"], app.url.as_str());
        assert_eq!(&r.bytes().await.unwrap()[..], bytes, "{file}");
    }
    let part = http
        .get(&seg)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(&part.bytes().await.unwrap()[..], &media.segment[10..20]);

    // What Marquee did not sign stays shut: a changed signature, another file under the same
    // signature, no signature, a link past its expiry.
    let status = |url: String| {
        let http = &http;
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    let md5 = seg.split("md5=").nth(1).unwrap().split('&').next().unwrap();
    let flipped = if md5.starts_with('A') { "B" } else { "A" };
    assert_eq!(
        status(seg.replace(
            &format!("md5={md5}"),
            &format!("md5={flipped}{}", &md5[1..])
        ))
        .await,
        403
    );
    assert_eq!(status(seg.replace("seg0.ts", "big.ts")).await, 403);
    assert_eq!(status(format!("{edge_url}show/seg0.ts")).await, 403);
    assert_eq!(status(format!("{edge_url}show/index.m3u8")).await, 403);
    let secret = SecretString::from(SECRET);
    let past = OffsetDateTime::now_utc().unix_timestamp() - 1;
    let stale = sign("/media/show/seg0.ts", past, &secret);
    assert_eq!(
        status(format!("{edge_url}show/seg0.ts?md5={stale}&expires={past}")).await,
        410
    );
    // The signing is the edge's own: a link signed here for the big file opens it.
    let later = past + 600;
    let big = sign("/media/show/big.ts", later, &secret);
    let r = http
        .get(format!("{edge_url}show/big.ts?md5={big}&expires={later}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), media.big.len());

    // No stream token, no playlist, so no links.
    let r = app.get(&format!("/stream/{id}/index.m3u8"), None).await;
    assert_problem(r, 401, "unauthenticated").await;
}
